// Command parley-bench is Parley's load generator. It speaks the seed
// protocol exactly as the Qt client writes it (sorted keys, four-space
// indent, trailing newline; seed-protocol.md §1.3) plus Parley's extensions
// (ping, client_msg_id), over its own thin frame client on wire/.
//
//	parley-bench storm -n 10000 [-cold] [-bg 1000]   connect+login storm (as the Qt client logs in), then one message each
//	parley-bench storm -n 2000 -cold-share 0.1        mixed storm: a tenth of the users not cached, reported apart
//	parley-bench chat  -users 1000 -rate 5000 -d 30s  1:1 messages at a target rate
//	parley-bench chat  -users 1000 -find-max          highest rate with delivery p99 <= 50ms
//	parley-bench ping  -c 64 -w 8 -d 10s               ping via the full chain vs a bare gev echo server
//	parley-bench ping  -ws -rounds 3                   the same chain over WebSocket vs over TCP
//	parley-bench conns -n 19000 [-ws]                  server RSS per logged-in connection (TCP or WebSocket)
//	parley-bench soak  -n 2000 -d 10m                  SDK clients chatting; RSS, goroutines, fds must stay flat
//	parley-bench group -groups 1 -members 1000 -rate 50 group messages to all-online groups vs 1:1, per copy
//
// By default it builds cmd/parleyd (run it from the repository root), starts
// it on loopback ports with a temporary SQLite file (-driver postgres -pg-dsn
// for a fresh PostgreSQL schema), creates and pairs the users it needs
// directly in that database (untimed), and stops it at the end. -addr targets
// a running server instead (setup then needs -dir or -pg-dsn); with
// -accounts FILE storm and chat log in as accounts that server already has
// (no setup), so any seed-protocol server can be measured. Storm, chat and
// ping print the CPU per operation of the server (-pid), its database
// (-db-pid) and the bench itself (cpuop.go). Every
// scenario prints a table and a final line starting with SUMMARY, and writes
// PNG charts to -out. Traffic only ever goes to the given address; the
// defaults are 127.0.0.1.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	scenario := os.Args[1]
	if scenario == echoScenario { // ping's floor, in a process of its own (echoproc.go)
		os.Exit(runEchoProcess(os.Args[2:]))
	}
	fs := flag.NewFlagSet(scenario, flag.ExitOnError)
	var sf serverFlags
	fs.StringVar(&sf.addr, "addr", "", "target a running server at host:port instead of starting parleyd")
	fs.StringVar(&sf.admin, "admin", "", "admin address of a running server (metrics, pprof)")
	fs.StringVar(&sf.wsAddr, "ws-addr", "", "WebSocket host:port of a running server (web.ws_listen), for -ws")
	fs.IntVar(&sf.pid, "pid", 0, "pid of a running server on this machine (RSS from /proc)")
	fs.IntVar(&sf.dbPid, "db-pid", 0, "pid of the server's database process on this machine; its children (PostgreSQL's backends) count with it")
	accounts := fs.String("accounts", "", "file of `id password partner` lines: storm and chat log in as these accounts the server already has (no setup)")
	fs.StringVar(&sf.parleyd, "parleyd", "", "parleyd binary to run (default: go build ./cmd/parleyd)")
	fs.StringVar(&sf.driver, "driver", "sqlite", "database of the started server: sqlite or postgres")
	fs.StringVar(&sf.pgDSN, "pg-dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -driver postgres (a fresh schema is used)")
	fs.StringVar(&sf.dir, "dir", "", "working directory of the started server (default: a temp dir, removed)")
	fs.Var(&sf.env, "env", "extra PARLEY_*=value for the started server (repeatable)")
	fs.StringVar(&sf.logOut, "server-log", "", "write the started server's log here")
	fs.StringVar(&sf.config, "config", "", "configuration file for the started server (default: the bench's own, see benchConfig)")
	out := fs.String("out", ".", "directory for PNG charts (\"\" for none)")
	profile := fs.String("cpuprofile", "", "save a server CPU profile (pprof) taken during the measured run")
	selfProfile := fs.String("benchprofile", "", "save the bench's own CPU profile (pprof) of the whole run: what the load generator costs")

	var so stormOpts
	var co chatOpts
	var po pingOpts
	var no connsOpts
	var ko soakOpts
	var gopt groupOpts
	switch scenario {
	case "storm":
		fs.IntVar(&so.n, "n", 2000, "clients")
		fs.BoolVar(&so.cold, "cold", false, "cold credential cache: no warm-up login pass")
		fs.Float64Var(&so.coldShare, "cold-share", 0, "mixed storm: this share of the users (0..1) is not warmed up, as after a restart; cached and cold logins are reported apart")
		fs.IntVar(&so.bg, "bg", 0, "already-connected users exchanging messages during the storm")
		fs.Float64Var(&so.bgRate, "bg-rate", 500, "their messages per second, in total")
		fs.DurationVar(&so.loginTimeout, "login-timeout", 10*time.Minute, "per login")
		fs.DurationVar(&so.pushTimeout, "push-timeout", 60*time.Second, "wait for deliveries")
		fs.DurationVar(&so.profileFor, "profile-for", 5*time.Second, "length of the -cpuprofile taken from the start of the storm")
	case "chat":
		fs.IntVar(&co.users, "users", 1000, "logged-in users (pairs of friends)")
		fs.Float64Var(&co.rate, "rate", 2000, "messages per second in total (find-max: first probe)")
		fs.DurationVar(&co.duration, "d", 20*time.Second, "duration")
		fs.BoolVar(&co.findMax, "find-max", false, "search the highest rate with delivery p99 <= -p99")
		fs.DurationVar(&co.p99Max, "p99", 50*time.Millisecond, "find-max latency bound")
		fs.DurationVar(&co.step, "step", 8*time.Second, "find-max probe duration")
		fs.BoolVar(&co.cmid, "client-msg-id", false, "send Parley's client_msg_id with every message")
		fs.IntVar(&co.rounds, "rounds", 2, "-cross-node: alternate the three layouts this many times; ratios per round, then their median")
		fs.StringVar(&co.crossNode, "cross-node", "", "NATS URL: run two cluster nodes and compare pairs on one node, pairs split over both, and pairs across them (needs -driver postgres)")
	case "ping":
		fs.IntVar(&po.conns, "c", 64, "connections")
		fs.IntVar(&po.window, "w", 8, "pings in flight per connection")
		fs.DurationVar(&po.duration, "d", 10*time.Second, "duration of each of the two runs")
		fs.IntVar(&po.loops, "loops", 2, "echo server loops (match the server's transport.loops)")
		fs.IntVar(&po.rounds, "rounds", 1, "alternate parley and echo runs this many times; the ratio is the median")
		fs.BoolVar(&po.ws, "ws", false, "compare parley over WebSocket with parley over TCP (instead of parley with the echo server)")
	case "conns":
		fs.IntVar(&no.n, "n", 2000, "connections")
		fs.DurationVar(&no.heartbeat, "heartbeat", 15*time.Second, "ping interval per connection")
		fs.DurationVar(&no.hold, "hold", 20*time.Second, "hold the connections this long before measuring")
		fs.StringVar(&no.heapProfile, "heapprofile", "", "save the server's heap profile (pprof) after the hold")
		fs.BoolVar(&no.ws, "ws", false, "connect over WebSocket (web.ws_listen) instead of TCP")
	case "soak":
		soakFlags(fs, &ko)
	case "group":
		fs.IntVar(&gopt.groups, "groups", 1, "groups")
		fs.IntVar(&gopt.members, "members", 1000, "members per group, all logged in")
		fs.Float64Var(&gopt.rate, "rate", 50, "group messages per second, in total")
		fs.Float64Var(&gopt.chatRate, "chat-rate", 1000, "1:1 messages per second of the comparison run")
		fs.DurationVar(&gopt.duration, "d", 20*time.Second, "duration of each run")
	default:
		usage()
	}
	_ = fs.Parse(os.Args[2:])
	stopProfile := func() {}
	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "parley-bench:", err)
			os.Exit(1)
		}
		stopProfile = func() { pprof.StopCPUProfile(); _ = f.Close() }
	}
	if *accounts != "" {
		l, err := readAccounts(*accounts)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parley-bench:", err)
			os.Exit(1)
		}
		roster = l
	}
	switch {
	case scenario == "chat" && co.crossNode != "":
		sf.env = append(sf.env, clusterEnv(co.crossNode)...)
	case scenario == "soak" && ko.cluster != "":
		sf.env = append(sf.env, clusterEnv(ko.cluster)...)
	}
	srv, err := startServer(sf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
	so.out, co.out, po.out, no.out, ko.out, gopt.out = *out, *out, *out, *out, *out, *out
	co.profile, po.profile, so.profile = *profile, *profile, *profile
	switch scenario {
	case "storm":
		err = runStorm(srv, so)
	case "chat":
		if co.crossNode != "" {
			err = runChatCross(srv, co)
		} else {
			err = runChat(srv, co)
		}
	case "ping":
		err = runPing(srv, po)
	case "conns":
		err = runConns(srv, no)
	case "soak":
		_, err = runSoak(srv, ko)
	case "group":
		err = runGroup(srv, gopt)
	}
	srv.stop()
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: parley-bench storm|chat|ping|conns|soak|group [flags]  (parley-bench <scenario> -h for flags)")
	os.Exit(2)
}
