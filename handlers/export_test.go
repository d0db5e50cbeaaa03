package handlers

import "sync"

// OccupyHashWorkers fills every hash worker of s with a job that waits for
// the returned release, and returns once they all run: from then on a
// login that needs a hash can only queue (or be shed), never complete. It
// lets a test assert causality (a cached login completes while no hash can
// run) instead of timing.
func OccupyHashWorkers(s *Accounts) (release func()) {
	p := s.creds.hash.pool
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(p.workers)
	for range p.workers {
		if !p.submit(func() { started.Done(); <-gate }) {
			panic("handlers: a hash worker is already busy")
		}
	}
	started.Wait()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// HashRuns is the number of argon2 evaluations s has run.
func HashRuns(s *Accounts) int64 { return s.creds.hash.runs.Load() }

// HashesQueued is the number of hash jobs waiting for a worker.
func HashesQueued(s *Accounts) int { return s.creds.hash.pool.pending() }
