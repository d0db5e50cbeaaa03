package main

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func sortDur(d []time.Duration) { slices.Sort(d) }

// parallel runs f(0), ..., f(n-1) on at most workers goroutines and returns
// the first error any call returned; after an error no new call starts.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || first.Load() != nil {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	err, _ := first.Load().(error)
	return err
}
