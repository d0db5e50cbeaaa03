package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"time"
)

// clusterEnv makes a started server a node of a cluster on natsURL, with a
// subject prefix of its own so runs sharing a NATS do not hear each other.
func clusterEnv(natsURL string) []string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return []string{"PARLEY_CLUSTER_NATS_URL=" + natsURL, "PARLEY_CLUSTER_NODE=a",
		"PARLEY_CLUSTER_SUBJECT_PREFIX=bench" + hex.EncodeToString(b[:])}
}

// soakNodes are soak -cluster's three nodes: a (the bench's server, sampled
// throughout), b, and c, which is killed and restarted.
type soakNodes struct{ a, b, c *server }

func startSoakNodes(a *server) (*soakNodes, error) {
	n := &soakNodes{a: a}
	for _, x := range []struct {
		name string
		to   **server
	}{{"b", &n.b}, {"c", &n.c}} {
		p, err := a.peer("parleyd-"+x.name, "PARLEY_CLUSTER_NODE="+x.name)
		if err != nil {
			n.stop()
			return nil, err
		}
		if err := p.run(); err != nil {
			n.stop()
			return nil, err
		}
		*x.to = p
	}
	return n, nil
}

func (n *soakNodes) addrs() []string { return []string{n.a.addr, n.b.addr, n.c.addr} }

func (n *soakNodes) stop() {
	for _, p := range []*server{n.b, n.c} {
		if p != nil {
			p.stop()
		}
	}
}

// killAndRestart kills node c with SIGKILL at `at`, measures how long until
// every client is connected to a survivor again, then restarts c on the
// same ports (its clients stay where they went; new ones may come).
func (n *soakNodes) killAndRestart(at time.Time, clients int) {
	time.Sleep(time.Until(at))
	before := n.survivorGauges()
	_ = n.c.cmd.Process.Kill()
	_ = n.c.cmd.Wait()
	killed := time.Now()
	var back time.Duration
	for deadline := killed.Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ca, _ := n.a.metric("parley_connections")
		cb, _ := n.b.metric("parley_connections")
		if int(ca+cb) >= clients {
			back = time.Since(killed)
			break
		}
	}
	if back == 0 {
		fmt.Println("soak: node c killed; its clients were not all back on the survivors within 2 minutes")
	} else {
		fmt.Printf("soak: node c killed (SIGKILL); all %d clients connected to the survivors %s later\n", clients, back.Round(time.Millisecond))
	}
	c := n.c
	c.cmd = exec.Command(c.cmd.Path, c.cmd.Args[1:]...)
	c.cmd.Dir, c.cmd.Env = c.dir, c.envAll
	c.cmd.Stdout, c.cmd.Stderr = c.logf, c.logf
	if err := c.run(); err != nil {
		fmt.Println("soak: restarting node c:", err)
		return
	}
	fmt.Printf("soak: node c restarted %s after the kill; survivors before the kill: %s\n", time.Since(killed).Round(time.Millisecond), before)
}

// survivorGauges is node b's goroutines and RSS (node a is sampled by the soak).
func (n *soakNodes) survivorGauges() string {
	g, _ := n.b.metric("go_goroutines")
	rss, _ := n.b.rssKiB()
	return fmt.Sprintf("node b goroutines %.0f rss %.1f MiB", g, float64(rss)/1024)
}
