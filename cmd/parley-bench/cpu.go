package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuSample is where the machine's CPU time had gone at one instant: the
// server, this bench, PostgreSQL's processes, and the whole machine split by
// kind (user, system, softirq: loopback TCP is processed in softirq), all in
// clock ticks. Two samples give the split over a run, which says whether a
// scenario was limited by the server, by the load generator, by the database
// or by the two cores they share.
type cpuSample struct {
	at                         time.Time
	server, bench, postgres    int64
	user, system, softirq, all int64
	dbTicks                    map[int]int64 // the database's processes, by pid (nil: unknown); see cpuop.go
	load                       float64       // 1-minute load average
}

// clockTicks is USER_HZ, 100 on every Linux this bench runs on.
const clockTicks = 100

func sampleCPU(serverPid int) cpuSample {
	s := cpuSample{at: time.Now(), bench: procTicks("self"), load: loadAvg()}
	if serverPid > 0 {
		s.server = procTicks(strconv.Itoa(serverPid))
	}
	if dirs, err := filepath.Glob("/proc/[0-9]*"); err == nil {
		for _, d := range dirs {
			if b, err := os.ReadFile(d + "/comm"); err == nil && strings.TrimSpace(string(b)) == "postgres" {
				s.postgres += procTicks(filepath.Base(d))
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu  user nice system idle iowait irq softirq steal ...
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for i := 1; i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			s.all += v
			switch i {
			case 1, 2:
				s.user += v
			case 3:
				s.system += v
			case 7:
				s.softirq += v
			}
		}
	}
	return s
}

// procTicks is utime+stime of /proc/<pid>/stat (0 if unreadable).
func procTicks(pid string) int64 {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// statFields are the fields of /proc/<pid>/stat after the command name
// (state, ppid, ...); nil if unreadable. The name may hold spaces and
// parentheses, so fields resume after its last ')'.
func statFields(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	return strings.Fields(rest)
}

// cpuSplit formats the CPU used between a and b in cores (1.00 = one core
// busy for the whole interval) and the machine's busy share.
func cpuSplit(a, b cpuSample) string {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return ""
	}
	cores := func(t int64) float64 { return float64(t) / clockTicks / secs }
	busy := 0.0
	if all := b.all - a.all; all > 0 {
		busy = 100 * float64((b.user-a.user)+(b.system-a.system)+(b.softirq-a.softirq)) / float64(all)
	}
	return fmt.Sprintf("cpu cores: server=%.2f bench=%.2f postgres=%.2f | machine busy=%.0f%% (user=%.2f system=%.2f softirq=%.2f cores)",
		cores(b.server-a.server), cores(b.bench-a.bench), cores(b.postgres-a.postgres), busy,
		cores(b.user-a.user), cores(b.system-a.system), cores(b.softirq-a.softirq))
}
