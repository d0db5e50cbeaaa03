package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley-im/parley/client"
)

// serverAddr is the Parley server the examples use. TestMain points it at
// a stand-in server started in the test binary, so the examples with an
// Output comment really run.
var serverAddr = "127.0.0.1:12345"

func TestMain(m *testing.M) {
	addr, stop, err := client.StartTestServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverAddr = addr
	code := m.Run()
	stop()
	if code == 0 {
		// Every test and example closed its clients: nothing may be left.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Two users chat: alice sends, bob receives the push on Messages().
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice, err := client.Dial(ctx, serverAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Login(ctx, "1", "666"); err != nil {
		log.Fatal(err)
	}

	bob, err := client.Dial(ctx, serverAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Login(ctx, "2", "666"); err != nil {
		log.Fatal(err)
	}

	// Send returns once the server has stored the message.
	id, err := alice.Send(ctx, "2", "hello, bob")
	if err != nil {
		log.Fatal(err)
	}
	for m := range bob.Messages() {
		if m.ID == id {
			fmt.Printf("%s -> %s: %s\n", m.From, m.To, m.Body)
			break
		}
	}
	// Output: 1 -> 2: hello, bob
}

// Server refusals are *client.ServerError values; errors.Is matches them
// against a sentinel per code.
func ExampleServerError() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, serverAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Login(ctx, "1", "not the password")
	fmt.Println(errors.Is(err, client.ErrBadCredentials))
	var se *client.ServerError
	if errors.As(err, &se) {
		fmt.Println(se.Type, se.Code)
	}
	// Output:
	// true
	// login bad_credentials
}

// A client for a long-running program: heartbeats every 15s, reconnects
// between 200ms and 30s apart, and continues from the cursor a previous run
// saved, so it is not sent its history again.
func ExampleDial_options() {
	ctx := context.Background()
	var savedCursor int64 // e.g. read from disk
	c, err := client.Dial(ctx, "chat.example.com:12345",
		client.WithHeartbeat(15*time.Second, 45*time.Second),
		client.WithBackoff(200*time.Millisecond, 30*time.Second),
		client.WithAfterID(savedCursor),
		client.WithErrorHandler(func(err error) { log.Println("parley:", err) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "13800000000", "secret"); err != nil {
		log.Fatal(err)
	}
	for m := range c.Messages() {
		fmt.Println(m.From, m.Body)
		savedCursor = c.Cursor() // persist it now and then
	}
}

// Sending survives a reconnect: the request is resent with the same
// client_msg_id and stored once. A caller that retries by itself (after
// ErrUnavailable, say) keeps the id with SendWithID.
func ExampleClient_SendWithID() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, serverAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "3", "666"); err != nil {
		log.Fatal(err)
	}
	msgID := c.NewClientMsgID()
	first, err := c.SendWithID(ctx, msgID, "1", "only once")
	if err != nil {
		log.Fatal(err)
	}
	again, err := c.SendWithID(ctx, msgID, "1", "only once")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first == again)
	// Output: true
}
