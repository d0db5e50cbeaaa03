// Command parley-try is the README's "try it": against a running parleyd it
// registers two users, makes them friends, and has one send the other a
// message, printing every frame in both directions exactly as it travels
// (after the 4-byte length), in the seed Qt client's own JSON style.
//
//	go run ./cmd/parley-try [-addr 127.0.0.1:12345]
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/parley-im/parley/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:12345", "parleyd address")
	flag.Parse()
	if err := run(*addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "parley-try:", err)
		os.Exit(1)
	}
}

// peer is one raw protocol connection that prints what it sends and reads.
type peer struct {
	name string
	conn net.Conn
	r    *wire.Reader
	out  io.Writer
}

func dial(name, addr string, out io.Writer) (*peer, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &peer{name: name, conn: c, r: wire.NewReader(c, wire.DefaultMaxFrame), out: out}, nil
}

func (p *peer) send(body string) error {
	fmt.Fprintf(p.out, "%s → %s", p.name, body)
	_, err := p.conn.Write(wire.AppendFrame(nil, []byte(body)))
	return err
}

func (p *peer) read() (string, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := p.r.ReadFrame()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(p.out, "%s ← %s\n", p.name, b)
	return string(b), nil
}

// call sends one request and prints the reply frames it expects.
func (p *peer) call(body string, replies int) error {
	if err := p.send(body); err != nil {
		return err
	}
	for range replies {
		if _, err := p.read(); err != nil {
			return err
		}
	}
	return nil
}

func run(addr string, out io.Writer) error {
	// Fresh phone numbers each run, so the example works more than once.
	a := fmt.Sprintf("1390000%04d", rand.IntN(10000))
	b := fmt.Sprintf("1380000%04d", rand.IntN(10000))
	alice, err := dial("alice", addr, out)
	if err != nil {
		return err
	}
	defer alice.conn.Close()
	bob, err := dial("bob  ", addr, out)
	if err != nil {
		return err
	}
	defer bob.conn.Close()

	// Bodies exactly as the Qt client writes them: sorted keys, 4-space
	// indent, trailing newline.
	steps := []struct {
		p       *peer
		body    string
		replies int
	}{
		{alice, "{\n    \"type\": \"register\",\n    \"user_name\": \"alice\",\n    \"user_password\": \"wonderland\",\n    \"user_phone\": \"" + a + "\"\n}\n", 1},
		{bob, "{\n    \"type\": \"register\",\n    \"user_name\": \"bob\",\n    \"user_password\": \"builder\",\n    \"user_phone\": \"" + b + "\"\n}\n", 1},
		{alice, "{\n    \"type\": \"login\",\n    \"user_id\": \"" + a + "\",\n    \"user_password\": \"wonderland\"\n}\n", 1},
		{bob, "{\n    \"type\": \"login\",\n    \"user_id\": \"" + b + "\",\n    \"user_password\": \"builder\"\n}\n", 1},
		{alice, "{\n    \"friend_id\": \"" + b + "\",\n    \"type\": \"add_friend\",\n    \"user_id\": \"" + a + "\"\n}\n", 1},
		// bob is online: the server pushes him the request's row of his friends list first.
		{bob, "{\n    \"friend_id\": \"" + a + "\",\n    \"type\": \"accept_friend\",\n    \"user_id\": \"" + b + "\"\n}\n", 2},
	}
	for _, s := range steps {
		if err := s.p.call(s.body, s.replies); err != nil {
			return err
		}
	}
	// alice gets the greeting bob's acceptance sent, and her new chat list.
	for range 2 {
		if _, err := alice.read(); err != nil {
			return err
		}
	}
	now := time.Now().Format(wire.TimeLayout)
	msg := "{\n    \"chat_type\": \"friend\",\n    \"file_path\": \" \",\n    \"message_body\": \"hello, bob\",\n    \"message_timestamp\": \"" + now +
		"\",\n    \"message_type\": \"text\",\n    \"receiver_id\": \"" + b + "\",\n    \"send_id\": \"" + a + "\",\n    \"type\": \"send_message\"\n}\n"
	if err := alice.call(msg, 1); err != nil {
		return err
	}
	_, err = bob.read() // the receive_message push
	return err
}
