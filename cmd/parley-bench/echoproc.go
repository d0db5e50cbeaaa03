package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/transport"
)

// echoScenario is the hidden scenario that runs the bare gev echo server in
// a process of its own: ping measures its CPU per frame from /proc exactly
// as it measures parleyd's, so the floor and the full chain are compared on
// the same footing (in the bench's own process the echo server's CPU would
// be mixed with the load generator's).
const echoScenario = "echo-server"

// runEchoProcess serves until its stdin closes (the bench exited or
// stopped it), after printing the bound address on stdout.
func runEchoProcess(args []string) int {
	fs := flag.NewFlagSet(echoScenario, flag.ContinueOnError)
	loops := fs.Int("loops", 2, "sub reactors")
	if fs.Parse(args) != nil {
		return 2
	}
	echo, err := transport.NewEchoServer("127.0.0.1:0", *loops)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	echo.Start()
	fmt.Println(echo.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = echo.Stop(ctx)
	return 0
}

// echoProcess is a running echo-server child.
type echoProcess struct {
	addr  string
	pid   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startEchoProcess runs this binary's echo-server scenario with loops sub
// reactors and waits for its address.
func startEchoProcess(loops int) (*echoProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, echoScenario, "-loops", strconv.Itoa(loops))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		in.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("echo-server: %w", err)
	}
	return &echoProcess{addr: strings.TrimSpace(line), pid: cmd.Process.Pid, cmd: cmd, stdin: in}, nil
}

// stop closes its stdin and waits for it to exit.
func (e *echoProcess) stop() {
	e.stdin.Close()
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
}
