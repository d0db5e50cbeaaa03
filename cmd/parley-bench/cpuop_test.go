package main

import (
	"math"
	"os"
	"strings"
	"testing"
)

// CPU per operation: ticks (1/100 s) between two samples divided by the
// operations, in µs; the database's CPU counts processes that appeared in
// between from zero; with no database processes known it is "-".
func TestPerOp(t *testing.T) {
	a := cpuSample{server: 100, bench: 50, dbTicks: map[int]int64{7: 10, 8: 5}}
	b := cpuSample{server: 300, bench: 60, dbTicks: map[int]int64{7: 30, 9: 4}, load: 24.5}
	o := perOp(a, b, 1000)
	// 200 ticks = 2 s over 1000 ops = 2000 µs; db 20 + 4 ticks = 240 µs.
	if o.server != 2000 || o.bench != 100 || o.db != 240 || o.ops != 1000 {
		t.Fatalf("%+v", o)
	}
	s := o.format("login")
	for _, want := range []string{"server=2000.0µs", "db=240.0µs", "server+db=2240.0µs", "bench=100.0µs", "1000 logins", "load 24.5"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	o = perOp(cpuSample{server: 1}, cpuSample{server: 4}, 3)
	if math.Abs(o.server-10000) > 1e-9 || o.db != -1 || !strings.Contains(o.summary("msg"), "db=-µs") {
		t.Fatalf("no database: %+v %s", o, o.summary("msg"))
	}
	if o := perOp(a, b, 0); o.server != 0 || o.db != -1 {
		t.Fatalf("no operations: %+v", o)
	}
}

// The database's processes are -db-pid and everything below it: found here
// with this test process as the root of a small made-up tree, and on the
// live /proc, where this process is its parent's child.
func TestDescendants(t *testing.T) {
	tree := map[int]int{2: 1, 3: 1, 4: 2, 5: 4, 6: 99}
	got := descendants(1, tree)
	if len(got) != 4 || got[0]+got[1] != 5 || got[2] != 4 || got[3] != 5 {
		t.Fatalf("descendants(1) = %v", got)
	}
	pp := readPPids()
	if pp[os.Getpid()] != os.Getppid() {
		t.Fatalf("parent of %d read as %d, want %d", os.Getpid(), pp[os.Getpid()], os.Getppid())
	}
	found := false
	for _, p := range descendants(os.Getppid(), pp) {
		found = found || p == os.Getpid()
	}
	if !found {
		t.Fatal("this process is not among its parent's descendants")
	}
	if s := (&server{dbPid: os.Getpid()}).sampleCPU(); s.dbTicks == nil || s.load < 0 {
		t.Fatalf("sample with -db-pid: %+v", s)
	}
}
