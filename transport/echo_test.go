package transport

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/parley-im/parley/wire"
)

// The echo server answers each frame with the same body, pipelined frames
// included, and Stop frees its port.
func TestEchoServer(t *testing.T) {
	e, err := NewEchoServer("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	c, err := net.DialTimeout("tcp", e.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	bodies := [][]byte{[]byte(`{"type":"ping"}`), {}, []byte("second")}
	for _, b := range bodies {
		out = wire.AppendFrame(out, b)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := wire.NewReader(c, wire.DefaultMaxFrame)
	for _, want := range bodies {
		got, err := r.ReadFrame()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("echo = %q, %v; want %q", got, err, want)
		}
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	l, err := net.Listen("tcp", e.Addr())
	if err != nil {
		t.Fatalf("port still bound after Stop: %v", err)
	}
	l.Close()
}
