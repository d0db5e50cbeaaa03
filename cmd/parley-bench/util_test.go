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

// med and spread summarise the rounds of a side-by-side comparison: the
// median of an even count is the mean of the middle two.
func TestMedianAndSpread(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		med  float64
		text string
	}{
		{nil, 0, "-"},
		{[]float64{2}, 2, "2.00[2.00-2.00]"},
		{[]float64{3, 1, 2}, 2, "2.00[1.00-3.00]"},
		{[]float64{1.5, 1.1, 1.3, 2.0}, 1.4, "1.40[1.10-2.00]"},
	} {
		if got := med(c.in); got != c.med {
			t.Errorf("med(%v) = %v, want %v", c.in, got, c.med)
		}
		if got := spread(c.in); got != c.text {
			t.Errorf("spread(%v) = %q, want %q", c.in, got, c.text)
		}
	}
}
