package main

import (
	"slices"
	"time"
)

func sortDur(d []time.Duration) { slices.Sort(d) }
