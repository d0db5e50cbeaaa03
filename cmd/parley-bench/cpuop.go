package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// The CPU each party spent per operation (µs of user + system time per
// login, per delivered message, per ping): unlike rates and latencies on a
// shared two-core machine, it hardly depends on what else runs, so it is the
// figure that compares servers and changes. The server is -pid (or the
// parleyd the bench started), the database -db-pid with its children (a
// PostgreSQL postmaster's backends), or, for the PostgreSQL schema the bench
// created, the backends of the server's own connections, found in
// pg_stat_activity by their application_name; the bench is this process.

// opCPU is CPU per operation in µs; db < 0 when the database's process is
// unknown (SQLite lives inside the server and is counted there).
type opCPU struct {
	ops               int64
	server, db, bench float64
	load              float64 // 1-minute load average at the end
}

// perOp divides the CPU spent between a and b by ops.
func perOp(a, b cpuSample, ops int64) opCPU {
	o := opCPU{ops: ops, db: -1, load: b.load}
	if ops <= 0 {
		return o
	}
	us := func(ticks int64) float64 { return float64(ticks) / clockTicks * 1e6 / float64(ops) }
	o.server, o.bench = us(b.server-a.server), us(b.bench-a.bench)
	if a.dbTicks != nil && b.dbTicks != nil {
		o.db = us(dbDelta(a.dbTicks, b.dbTicks))
	}
	return o
}

// dbDelta is the database CPU between two per-pid readings: processes that
// started in between count from zero; those that ended in between are lost
// (their last ticks are unknowable), which the pool's long-lived
// connections make rare.
func dbDelta(a, b map[int]int64) int64 {
	var d int64
	for pid, t := range b {
		d += t - a[pid]
	}
	return d
}

// String is the line every scenario prints, e.g.
// "cpu per login: server=120.3µs db=-µs bench=40.1µs (2000 logins, load 24.1)".
func (o opCPU) String() string { return o.format("op") }

func (o opCPU) format(what string) string {
	db := "-"
	if o.db >= 0 {
		db = fmt.Sprintf("%.1f", o.db)
	}
	return fmt.Sprintf("cpu per %s: server=%.1fµs db=%sµs server+db=%.1fµs bench=%.1fµs (%d %ss, load %.1f)",
		what, o.server, db, o.server+max(o.db, 0), o.bench, o.ops, what, o.load)
}

// summary is the compact form for SUMMARY lines.
func (o opCPU) summary(what string) string {
	db := "-"
	if o.db >= 0 {
		db = fmt.Sprintf("%.1f", o.db)
	}
	return fmt.Sprintf("cpu/%s server=%.1fµs db=%sµs bench=%.1fµs load=%.1f", what, o.server, db, o.bench, o.load)
}

// sampleCPU is sampleCPU(s.pid) plus the database's processes.
func (s *server) sampleCPU() cpuSample {
	c := sampleCPU(s.pid)
	if pids := s.dbPids(); pids != nil {
		c.dbTicks = make(map[int]int64, len(pids))
		for _, p := range pids {
			c.dbTicks[p] = procTicks(strconv.Itoa(p))
		}
	}
	return c
}

// dbPids lists the database's processes now, or nil when unknown.
func (s *server) dbPids() []int {
	switch {
	case s.dbPid > 0:
		return append([]int{s.dbPid}, descendants(s.dbPid, readPPids())...)
	case s.pgApp != "" && s.pgAdmin != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rows, err := s.pgAdmin.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", s.pgApp)
		if err != nil {
			return nil
		}
		defer rows.Close()
		pids := []int{}
		for rows.Next() {
			var p int
			if rows.Scan(&p) == nil {
				pids = append(pids, p)
			}
		}
		return pids
	}
	return nil
}

// readPPids maps every process on the machine to its parent.
func readPPids() map[int]int {
	out := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if f := statFields(filepath.Base(d)); len(f) >= 2 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				out[pid] = pp
			}
		}
	}
	return out
}

// descendants lists root's children, their children and so on, given each
// process's parent.
func descendants(root int, parent map[int]int) []int {
	kids := map[int][]int{}
	for pid, pp := range parent {
		kids[pp] = append(kids[pp], pid)
	}
	var out []int
	for q := kids[root]; len(q) > 0; {
		p := q[0]
		q = q[1:]
		out = append(out, p)
		q = append(q, kids[p]...)
	}
	return out
}

// loadAvg is the 1-minute load average (0 if unreadable), printed beside
// every CPU figure: on a shared machine it says how much to trust them.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return v
}

// watchPostgres names the started server's PostgreSQL connections (DSN
// application_name) and opens the connection that finds their backends.
func (s *server) watchPostgres(base, app string) {
	s.pgApp = app
	s.pgAdmin = openPG(base)
	s.cleanup = append(s.cleanup, func() { s.pgAdmin.Close() })
}

func openPG(dsn string) *sql.DB { return sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn))) }

// okCount is how many operations succeeded so far.
func (r *recorder) okCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.lat))
}
