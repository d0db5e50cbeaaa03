package main

import (
	"fmt"
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

// med is the median of xs (0 for none).
func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread formats ratios as "median[min-max]".
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f[%.2f-%.2f]", med(xs), slices.Min(xs), slices.Max(xs))
}
