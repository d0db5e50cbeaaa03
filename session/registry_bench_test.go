package session

import (
	"fmt"
	"testing"
)

// BenchmarkRegistryConnectLogin is the registry's share of a connection's
// life: opened, logged in, one push, closed.
func BenchmarkRegistryConnectLogin(b *testing.B) {
	r := NewRegistry()
	users := make([]string, 1024)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		for pb.Next() {
			i++
			s := New(i, "p", &countConn{})
			u := users[i%uint64(len(users))]
			r.Bind(s, u)
			r.Deliver(u, []byte("m"))
			r.Remove(s)
		}
	})
}

// BenchmarkRegistryDeliver is a push to an online user, the hot read path.
func BenchmarkRegistryDeliver(b *testing.B) {
	r := NewRegistry()
	users := make([]string, 1024)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
		s := New(uint64(i), "p", &countConn{})
		r.Bind(s, users[i])
	}
	body := []byte("m")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			r.Deliver(users[i%len(users)], body)
		}
	})
}
