package handlers

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFriendCacheHit is the friendship check of send_message when the
// pair is cached: the common case.
func BenchmarkFriendCacheHit(b *testing.B) {
	c := newFriendCache(friendCacheEntries, time.Minute, time.Now)
	users := make([]string, 1024)
	for i := range users {
		users[i] = fmt.Sprint(100000 + i)
	}
	for i := range users {
		_, gen := c.lookup(users[i], users[(i+1)%len(users)])
		c.add(users[i], users[(i+1)%len(users)], gen)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			a := i % len(users)
			if ok, _ := c.lookup(users[a], users[(a+1)%len(users)]); !ok {
				b.Fatal("miss")
			}
		}
	})
}
