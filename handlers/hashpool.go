package handlers

import "sync"

// hashPool runs password-hash jobs on at most `workers` goroutines, with at
// most `queue` jobs waiting for one. It never blocks the caller: a job that
// finds the queue full is refused at once, and the login is answered
// "overloaded" instead of waiting minutes behind a storm (issue 11, must-fix
// 5). Goroutines exist only while there is work, so an idle pool (and a
// stopped server) holds none.
type hashPool struct {
	workers int

	mu      sync.Mutex
	running int      // goroutines serving jobs
	ring    []func() // waiting jobs: n of them from head, FIFO
	head, n int
}

func newHashPool(workers, queue int) *hashPool {
	return &hashPool{workers: max(1, workers), ring: make([]func(), max(0, queue))}
}

// submit queues job and reports whether it was accepted.
func (p *hashPool) submit(job func()) bool {
	p.mu.Lock()
	if p.running < p.workers {
		p.running++
		p.mu.Unlock()
		go p.serve(job)
		return true
	}
	if p.n == len(p.ring) {
		p.mu.Unlock()
		return false
	}
	p.ring[(p.head+p.n)%len(p.ring)] = job
	p.n++
	p.mu.Unlock()
	return true
}

// serve runs job, then waiting jobs until none is left.
func (p *hashPool) serve(job func()) {
	for job != nil {
		job()
		job = p.next()
	}
}

// next takes the oldest waiting job, or retires the calling goroutine.
func (p *hashPool) next() func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		p.running--
		return nil
	}
	job := p.ring[p.head]
	p.ring[p.head] = nil
	p.head = (p.head + 1) % len(p.ring)
	p.n--
	return job
}

// pending is the number of jobs waiting for a goroutine.
func (p *hashPool) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
