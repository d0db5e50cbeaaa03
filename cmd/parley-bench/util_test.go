package main

import (
	"errors"
	"sync/atomic"
	"testing"
)

// parallel calls f once per index when nothing fails, and returns an error
// a call returned, starting no call after it.
func TestParallel(t *testing.T) {
	seen := make([]atomic.Int32, 1000)
	if err := parallel(len(seen), 8, func(i int) error { seen[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("f(%d) called %d times", i, n)
		}
	}
	boom := errors.New("boom")
	var calls atomic.Int32
	err := parallel(1000, 1, func(i int) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 11 {
		t.Fatalf("err %v after %d calls, want boom after 11", err, calls.Load())
	}
	if err := parallel(0, 8, func(int) error { return boom }); err != nil {
		t.Fatalf("no work: %v", err)
	}
}
