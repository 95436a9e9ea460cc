package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// fakeAPIChildEnv makes the test binary serve the fake API instead of
// running tests. The parent sends commands on the child's standard input, one
// per line, and reads one reply line for each on its standard output:
//
//	add N        add N generated organizations         -> "ok"
//	workflows K  give every organization K workflows   -> "ok"
//	latency D    set the latency per request            -> "ok"
//	reset        zero the counters                      -> "ok"
//	stats        read the counters                      -> "ok pages=.. balances=.. workflows=.. requests=.. max_in_flight=.. connections=.."
//
// A command that fails gets "error" and the reason.
//
// The first line the child prints is "ok url URL". It serves until its
// standard input closes.
const fakeAPIChildEnv = "AUTORETOUCH_BENCH_FAKE_API"

// seedBalance is the balance of every generated organization, in credits.
const seedBalance = 6820

// seedWorkflows is how many workflows TestBenchTable gives each organization
// when it measures the workflow collector: a few, as most organizations have.
const seedWorkflows = 3

// countingListener counts the TCP connections the fake API accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return conn, err
}

// serveFakeAPI runs in the child process and returns its exit status.
func serveFakeAPI(in io.Reader, out io.Writer) int {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(out, "error listening on loopback: %v\n", err)
		return 1
	}
	listener := &countingListener{Listener: inner}
	server := autoretouchtest.NewServerOnListener(listener)
	defer server.Close()
	fmt.Fprintf(out, "ok url %s\n", server.URL)

	var connectionsAtReset int64
	lines := bufio.NewScanner(in)
	for lines.Scan() {
		command, arg, _ := strings.Cut(lines.Text(), " ")

		switch command {
		case "add":
			var n int
			if _, err := fmt.Sscan(arg, &n); err != nil || n < 0 {
				fmt.Fprintf(out, "error invalid organization count %q\n", arg)
				continue
			}
			server.AddOrganizations(n, seedBalance)
		case "workflows":
			var n int
			if _, err := fmt.Sscan(arg, &n); err != nil || n < 0 {
				fmt.Fprintf(out, "error invalid workflow count %q\n", arg)
				continue
			}
			for _, org := range server.Organizations() {
				server.SetWorkflows(org.ID, generatedWorkflows(org.ID, n))
			}
		case "latency":
			latency, err := time.ParseDuration(arg)
			if err != nil {
				fmt.Fprintf(out, "error invalid latency %q\n", arg)
				continue
			}
			server.SetLatency(latency)
		case "reset":
			server.ResetCounters()
			connectionsAtReset = listener.accepted.Load()
		case "stats":
			fmt.Fprintf(out, "ok pages=%d balances=%d workflows=%d requests=%d max_in_flight=%d connections=%d\n",
				server.Requests(autoretouchtest.EndpointOrganizations),
				server.Requests(autoretouchtest.EndpointBalance),
				server.Requests(autoretouchtest.EndpointWorkflows),
				server.TotalRequests(),
				server.MaxInFlight(),
				listener.accepted.Load()-connectionsAtReset)
			continue
		default:
			fmt.Fprintf(out, "error unknown command %q\n", command)
			continue
		}
		fmt.Fprintln(out, "ok")
	}
	return 0
}

// generatedWorkflows returns n workflows for an organization, priced from 20
// to 20+10(n-1) credits per execution.
func generatedWorkflows(orgID string, n int) []autoretouchtest.Workflow {
	workflows := make([]autoretouchtest.Workflow, n)
	for i := range workflows {
		workflows[i] = autoretouchtest.Workflow{
			ID:             fmt.Sprintf("%s-workflow-%d", orgID, i),
			Name:           fmt.Sprintf("Workflow %d", i),
			ExecutionPrice: int64(20 + 10*i),
		}
	}
	return workflows
}

// fakeAPI is the parent's handle on a fake API in a child process.
type fakeAPI struct {
	URL string

	cmd  *exec.Cmd
	mu   sync.Mutex
	in   io.WriteCloser
	out  *bufio.Reader
	done chan struct{}
}

// fakeStats are the fake API's counters since the last reset.
type fakeStats struct {
	pages       int // requests for a page of the organization listing
	balances    int // balance requests
	workflows   int // requests for a page of an organization's workflows
	requests    int // requests to every endpoint
	maxInFlight int
	connections int // TCP connections accepted
}

// startFakeAPI starts a fake API with orgs generated organizations in a child
// process, which the test's cleanup stops.
func startFakeAPI(tb testing.TB, orgs int) *fakeAPI {
	tb.Helper()
	executable, err := os.Executable()
	if err != nil {
		tb.Fatalf("finding the test binary to start the fake API: %v", err)
	}

	cmd := exec.Command(executable, "-test.run=^$")
	cmd.Env = append(os.Environ(), fakeAPIChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatalf("starting the fake API: %v", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("starting the fake API: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the fake API: %v", err)
	}

	f := &fakeAPI{cmd: cmd, in: in, out: bufio.NewReader(out), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(f.done)
	}()
	tb.Cleanup(f.stop)

	reply, err := f.readReply()
	if err != nil {
		tb.Fatalf("starting the fake API: %v", err)
	}
	f.URL = strings.TrimPrefix(reply, "url ")

	f.do(tb, "add %d", orgs)
	return f
}

// stop closes the child's standard input, which ends it, and kills it if it
// has not exited after a few seconds.
func (f *fakeAPI) stop() {
	_ = f.in.Close()
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// do sends one command and fails the test unless the child accepts it.
func (f *fakeAPI) do(tb testing.TB, format string, args ...any) string {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()

	command := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(f.in, command); err != nil {
		tb.Fatalf("fake API command %q: %v", command, err)
	}
	reply, err := f.readReply()
	if err != nil {
		tb.Fatalf("fake API command %q: %v", command, err)
	}
	return reply
}

// readReply reads one reply line and returns what follows "ok".
func (f *fakeAPI) readReply() (string, error) {
	line, err := f.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the fake API's reply: %w (did the child process exit?)", err)
	}
	line = strings.TrimSpace(line)

	reply, ok := strings.CutPrefix(line, "ok")
	if !ok {
		return "", errors.New(line)
	}
	return strings.TrimSpace(reply), nil
}

func (f *fakeAPI) setWorkflows(tb testing.TB, perOrganization int) {
	tb.Helper()
	f.do(tb, "workflows %d", perOrganization)
}

func (f *fakeAPI) setLatency(tb testing.TB, latency time.Duration) {
	tb.Helper()
	f.do(tb, "latency %s", latency)
}

func (f *fakeAPI) reset(tb testing.TB) {
	tb.Helper()
	f.do(tb, "reset")
}

func (f *fakeAPI) stats(tb testing.TB) fakeStats {
	tb.Helper()
	reply := f.do(tb, "stats")

	var s fakeStats
	_, err := fmt.Sscanf(reply, "pages=%d balances=%d workflows=%d requests=%d max_in_flight=%d connections=%d",
		&s.pages, &s.balances, &s.workflows, &s.requests, &s.maxInFlight, &s.connections)
	if err != nil {
		tb.Fatalf("invalid stats reply %q from the fake API: %v", reply, err)
	}
	return s
}
