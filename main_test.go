package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
	"github.com/autoretouch/autoretouch_exporter/collector"
)

var update = flag.Bool("update", false, "rewrite the golden files and the README's metrics table")

// exporterBinary is built once by TestMain, so that the end-to-end tests run
// the program users run.
var exporterBinary string

func TestMain(m *testing.M) {
	flag.Parse()

	dir, err := os.MkdirTemp("", "autoretouch_exporter-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating a temporary directory:", err)
		os.Exit(1)
	}
	exporterBinary = filepath.Join(dir, "autoretouch_exporter")
	args := []string{"build", "-o", exporterBinary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the exporter:", err)
		os.Exit(1)
	}

	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// exporterProcess is the exporter binary running on a loopback port.
type exporterProcess struct {
	url    string
	stderr *testsupport.SyncBuffer
}

// startExporter runs the exporter binary with args and env, and waits until
// it serves its landing page. The test's cleanup stops it.
func startExporter(t *testing.T, env []string, args ...string) *exporterProcess {
	t.Helper()
	address := testsupport.LoopbackAddress(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, exporterBinary, append([]string{"--web.listen-address=" + address}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &testsupport.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting the exporter: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	process := &exporterProcess{url: "http://" + address, stderr: stderr}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(process.url + "/")
		if err == nil {
			_ = resp.Body.Close()
			return process
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the exporter did not serve %s within 15s; its log:\n%s", process.url, stderr)
	return nil
}

// scrape requests url as Prometheus does with its default 10 s timeout.
func scrape(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("building a request for %s: %v", url, err)
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: status %d, body:\n%s", url, resp.StatusCode, body)
	}
	return string(body)
}

// goldenMetrics are the metrics whose lines a golden file holds: everything
// of the exporter's own that does not depend on timing or on the build.
var goldenMetrics = []string{
	"autoretouch_credit_balance",
	"autoretouch_org_members",
	"autoretouch_organizations",
	"autoretouch_org_scrape_success",
	"autoretouch_org_collector_success",
	"autoretouch_workflows",
	"autoretouch_workflow_execution_price",
	"autoretouch_up",
	"autoretouch_api_retry_after_seconds",
}

// filterExposition keeps the HELP, TYPE and sample lines of goldenMetrics.
func filterExposition(exposition string) string {
	var out strings.Builder
	scanner := bufio.NewScanner(strings.NewReader(exposition))
	for scanner.Scan() {
		line := scanner.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		name, _, _ = strings.Cut(name, " ")
		name, _, _ = strings.Cut(name, "{")
		for _, wanted := range goldenMetrics {
			if name == wanted {
				out.WriteString(line + "\n")
				break
			}
		}
	}
	return out.String()
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("updating %s: %v", path, err)
		}
		return
	}

	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (go test -run %s -update writes it): %v", t.Name(), err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (go test -run %s -update rewrites it)\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// promtoolPath finds promtool: $PROMTOOL, then bin/promtool as the Makefile
// installs it, then $PATH.
func promtoolPath(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("PROMTOOL"); path != "" {
		return path
	}
	if _, err := os.Stat("bin/promtool"); err == nil {
		return "bin/promtool"
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		return path
	}
	t.Fatal("promtool not found: run `make promtool`, or set PROMTOOL to its path")
	return ""
}

func checkMetricsWithPromtool(t *testing.T, exposition string) {
	t.Helper()
	cmd := exec.Command(promtoolPath(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	output, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(output)) > 0 {
		t.Errorf("promtool check metrics reported problems (err %v):\n%s", err, output)
	}
}

func TestExporterEndToEnd(t *testing.T) {
	server := autoretouchtest.NewServer()
	defer server.Close()
	server.AddOrganization(autoretouchtest.Organization{
		ID: "9f5c2d7b-8b21-4a33-9e5f-4e1b7a01c9d4", Name: "Example Studio", Balance: 6820,
		Members: []autoretouchtest.Member{
			{ID: "auth0|ada", GivenName: "Ada", Email: "ada@example.com", Roles: []string{"admin"}},
			{ID: "auth0|grace", GivenName: "Grace", Email: "grace@example.com", Roles: []string{"admin", "operator"}},
		},
	})
	server.AddOrganization(autoretouchtest.Organization{
		ID: "3b1f8e0a-5c6d-4e7f-8a9b-0c1d2e3f4a5b", Name: "Fashion \"Shop\" 📷", Balance: -120,
	})
	server.AddOrganization(autoretouchtest.Organization{
		ID: "c7d8e9f0-1a2b-4c3d-8e4f-5a6b7c8d9e0f", Name: "Broken Balance", Balance: 1,
		Members: []autoretouchtest.Member{{ID: "auth0|ken", Roles: []string{"billing"}}},
	})
	server.SetFault(autoretouchtest.EndpointBalance, "c7d8e9f0-1a2b-4c3d-8e4f-5a6b7c8d9e0f", autoretouchtest.Fault{Body: "null"})
	server.SetWorkflows("9f5c2d7b-8b21-4a33-9e5f-4e1b7a01c9d4", []autoretouchtest.Workflow{
		{ID: "0a1b2c3d-0000-4000-8000-000000000001", Name: "Packshot white background", ExecutionPrice: 10},
		{ID: "0a1b2c3d-0000-4000-8000-000000000002", Name: "On-model retouch", ExecutionPrice: 400},
	})

	exporter := startExporter(t, []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken},
		"--autoretouch.api-url="+server.URL, "--autoretouch.page-size=2")
	exposition := scrape(t, exporter.url+"/metrics")

	compareGolden(t, "testdata/golden/three-organizations.prom", filterExposition(exposition))
	checkMetricsWithPromtool(t, exposition)

	if got := server.Requests(autoretouchtest.EndpointOrganizations); got != 2 {
		t.Errorf("listing requests = %d, want 2 pages", got)
	}
	for _, name := range []string{"autoretouch_exporter_build_info{", "autoretouch_scrape_duration_seconds ", "autoretouch_api_request_duration_seconds_bucket{", "go_goroutines ", "process_resident_memory_bytes "} {
		if !strings.Contains(exposition, "\n"+name) {
			t.Errorf("exposition has no %s series", strings.TrimRight(name, "{ "))
		}
	}

	// The request counters are gathered after the scrape, so the first
	// scrape already counts its own requests.
	for _, want := range []string{
		`autoretouch_api_requests_total{code="200",endpoint="balance"} 3`,
		`autoretouch_api_requests_total{code="200",endpoint="organizations"} 2`,
		`autoretouch_api_requests_total{code="200",endpoint="workflows"} 3`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("first scrape lacks %s", want)
		}
	}
}

func TestExporterListingFailure(t *testing.T) {
	server := autoretouchtest.NewServer()
	defer server.Close()
	server.AddOrganization(autoretouchtest.Organization{ID: "id-1", Name: "One", Balance: 1})
	server.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{Status: 500, Body: "<html>oops</html>"})

	exporter := startExporter(t, []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken}, "--autoretouch.api-url="+server.URL)
	exposition := scrape(t, exporter.url+"/metrics")

	compareGolden(t, "testdata/golden/listing-failure.prom", filterExposition(exposition))
	checkMetricsWithPromtool(t, exposition)
}

func TestExporterRejectsMissingToken(t *testing.T) {
	cmd := exec.Command(exporterBinary, "--web.listen-address="+testsupport.LoopbackAddress(t))
	cmd.Env = withoutEnv(os.Environ(), envAccessToken)
	output, err := cmd.CombinedOutput()

	if err == nil {
		t.Fatalf("exporter without a token exited 0; output:\n%s", output)
	}
	for _, want := range []string{"--autoretouch.token-file", envAccessToken} {
		if !bytes.Contains(output, []byte(want)) {
			t.Errorf("error does not name %s:\n%s", want, output)
		}
	}
}

func TestExporterRejectsInvalidFlags(t *testing.T) {
	// want lists what the output must contain: the flag and the value, and
	// for the checks of this package the advice.
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"negative timeout", []string{"--autoretouch.timeout=-1s"}, []string{"--autoretouch.timeout -1s", "positive duration"}},
		{"timeout without unit", []string{"--autoretouch.timeout=abc"}, []string{`--autoretouch.timeout "abc"`, "such as 30s"}},
		{"cache ttl unknown unit", []string{"--autoretouch.cache-ttl=1x"}, []string{`--autoretouch.cache-ttl "1x"`, "such as 30s"}},
		{"negative concurrency", []string{"--autoretouch.concurrency=-3"}, []string{`--autoretouch.concurrency "-3"`, "from 1 to 512"}},
		{"zero concurrency", []string{"--autoretouch.concurrency=0"}, []string{`--autoretouch.concurrency "0"`, "from 1 to 512"}},
		{"fractional concurrency", []string{"--autoretouch.concurrency=0.5"}, []string{`--autoretouch.concurrency "0.5"`, "from 1 to 512"}},
		{"infinite concurrency", []string{"--autoretouch.concurrency=Inf"}, []string{`--autoretouch.concurrency "Inf"`, "from 1 to 512"}},
		{"concurrency too big", []string{"--autoretouch.concurrency=513"}, []string{`--autoretouch.concurrency "513"`, "from 1 to 512"}},
		{"page size too big", []string{"--autoretouch.page-size=100000"}, []string{`--autoretouch.page-size "100000"`, "from 1 to 1000"}},
		{"zero page size", []string{"--autoretouch.page-size=0"}, []string{`--autoretouch.page-size "0"`, "from 1 to 1000"}},
		{"fractional page size", []string{"--autoretouch.page-size=2.9"}, []string{`--autoretouch.page-size "2.9"`, "from 1 to 1000"}},
		{"exponent page size", []string{"--autoretouch.page-size=1e1"}, []string{`--autoretouch.page-size "1e1"`, "from 1 to 1000"}},
		{"page size not a number", []string{"--autoretouch.page-size=abc"}, []string{`--autoretouch.page-size "abc"`, "from 1 to 1000"}},
		{"relative path", []string{"--web.telemetry-path=metrics"}, []string{`--web.telemetry-path "metrics"`, "such as /metrics"}},
		{"path with open brace", []string{"--web.telemetry-path=/{"}, []string{`--web.telemetry-path "/{"`, "such as /metrics"}},
		{"path with space", []string{"--web.telemetry-path=/a b"}, []string{`--web.telemetry-path "/a b"`, "such as /metrics"}},
		{"path with end wildcard", []string{"--web.telemetry-path=/metrics{$}"}, []string{`--web.telemetry-path "/metrics{$}"`, "such as /metrics"}},
		{"path with wildcard", []string{"--web.telemetry-path=/{x}"}, []string{`--web.telemetry-path "/{x}"`, "such as /metrics"}},
		{"path with markup", []string{`--web.telemetry-path=/m"><script>alert(1)</script>`}, []string{`--web.telemetry-path "/m\"><script>alert(1)</script>"`, "such as /metrics"}},
		{"path with trailing slash", []string{"--web.telemetry-path=/metrics/"}, []string{`--web.telemetry-path "/metrics/"`, "such as /metrics"}},
		{"path with dot segment", []string{"--web.telemetry-path=/a/../metrics"}, []string{`--web.telemetry-path "/a/../metrics"`, "such as /metrics"}},
		{"empty api url", []string{"--autoretouch.api-url="}, []string{`--autoretouch.api-url ""`, "leave out the flag"}},
		{"empty auth url", []string{"--autoretouch.auth-url="}, []string{`--autoretouch.auth-url ""`, "leave out the flag"}},
		{"empty client id", []string{"--autoretouch.client-id="}, []string{`--autoretouch.client-id ""`, "leave out the flag"}},
		{"empty listen address", []string{"--web.listen-address="}, []string{`--web.listen-address ""`, "host:port"}},
		{"user info in url", []string{"--autoretouch.api-url=https://user:hunter2@api.example.invalid"}, []string{"invalid API URL", "remove the user info"}},
		{"unknown log format", []string{"--log.format=xml"}, []string{`--log.format "xml"`, "logfmt, json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--web.listen-address=" + testsupport.LoopbackAddress(t)}
			// Every run gets loopback URLs, so that nothing is sent to
			// AutoRetouch even when a case is wrongly accepted.
			for _, flag := range []string{"--autoretouch.api-url=", "--autoretouch.auth-url="} {
				if !slices.ContainsFunc(c.args, func(arg string) bool { return strings.HasPrefix(arg, flag) }) {
					args = append(args, flag+"http://"+testsupport.LoopbackAddress(t))
				}
			}
			args = append(args, c.args...)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exporterBinary, args...)
			cmd.Env = append(withoutEnv(os.Environ(), envAccessToken), envAccessToken+"=token")
			output, err := cmd.CombinedOutput()

			if ctx.Err() != nil {
				t.Fatalf("exporter with %q still ran after 20s, so it accepted them; output:\n%s", c.args, output)
			}
			if err == nil {
				t.Fatalf("exporter with %q exited 0; output:\n%s", c.args, output)
			}
			for _, want := range c.want {
				if !bytes.Contains(output, []byte(want)) {
					t.Errorf("output does not contain %q:\n%s", want, output)
				}
			}
			if bytes.Contains(output, []byte("hunter2")) {
				t.Errorf("error output contains the password from the URL:\n%s", output)
			}
		})
	}
}

func withoutEnv(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, entry := range env {
		if !strings.HasPrefix(entry, name+"=") {
			out = append(out, entry)
		}
	}
	return out
}

func TestScrapeTimeout(t *testing.T) {
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 30 * time.Second},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"0.3", 300 * time.Millisecond},
		{"120", 30 * time.Second},
		{"-1", 30 * time.Second},
		{"abc", 30 * time.Second},
		{"NaN", 30 * time.Second},
	}
	for _, c := range cases {
		if got := scrapeTimeout(c.header, 500*time.Millisecond, 30*time.Second); got != c.want {
			t.Errorf("scrapeTimeout(%q) = %s, want %s", c.header, got, c.want)
		}
	}
}

func TestReadmeMetricsTable(t *testing.T) {
	const start, end = "<!-- metrics-table:start -->\n", "<!-- metrics-table:end -->"
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatalf("reading README.md: %v", err)
	}

	before, rest, ok1 := strings.Cut(string(readme), start)
	current, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the markers %q and %q around the metrics table", strings.TrimSpace(start), end)
	}

	want := collector.MetricsTable()
	if *update {
		if err := os.WriteFile("README.md", []byte(before+start+want+end+after), 0o644); err != nil {
			t.Fatalf("updating README.md: %v", err)
		}
		return
	}
	if current != want {
		t.Errorf("the README's metrics table is stale: run `go test -run TestReadmeMetricsTable -update .`\ngot:\n%s\nwant:\n%s", current, want)
	}
}

func TestExporterRetryAfterStopsTraffic(t *testing.T) {
	server := autoretouchtest.NewServer()
	defer server.Close()
	server.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "One", Balance: 10})
	server.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{
		Status: 429, Header: http.Header{"Retry-After": {"30"}}, Times: 1,
	})

	exporter := startExporter(t, []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken}, "--autoretouch.api-url="+server.URL)
	first := scrape(t, exporter.url+"/metrics")
	if !strings.Contains(first, "\nautoretouch_up 0\n") {
		t.Fatalf("scrape answered with 429 is not down:\n%s", filterExposition(first))
	}

	requests := server.TotalRequests()
	for range 3 {
		exposition := scrape(t, exporter.url+"/metrics")
		if !strings.Contains(exposition, "\nautoretouch_up 0\n") {
			t.Errorf("scrape during the Retry-After wait is not down:\n%s", filterExposition(exposition))
		}
		if !strings.Contains(exposition, "\nautoretouch_api_retry_after_seconds 2") {
			t.Errorf("scrape during the wait does not show about 30 s left:\n%s", filterExposition(exposition))
		}
	}
	if got := server.TotalRequests(); got != requests {
		t.Errorf("the API got %d more requests during the Retry-After wait, want none", got-requests)
	}
}

func TestExporterShiftingPagesExposeEachOnce(t *testing.T) {
	server := autoretouchtest.NewServer()
	defer server.Close()
	for i := range 5 {
		server.AddOrganization(autoretouchtest.Organization{ID: fmt.Sprintf("org-%d", i), Name: fmt.Sprintf("Org %d", i), Balance: int64(i)})
	}
	// An organization created while the second page is requested shifts
	// every later offset by one, so the second page repeats the last
	// organization of the first.
	var inserted sync.Once
	server.SetListingHook(func(offset int) {
		if offset > 0 {
			inserted.Do(func() {
				server.InsertOrganization(0, autoretouchtest.Organization{ID: "org-new", Name: "New", Balance: 99})
			})
		}
	})

	exporter := startExporter(t, []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken},
		"--autoretouch.api-url="+server.URL, "--autoretouch.page-size=2", "--autoretouch.concurrency=1")
	exposition := scrape(t, exporter.url+"/metrics")

	for i := range 5 {
		series := fmt.Sprintf(`autoretouch_credit_balance{org="Org %d",org_id="org-%d"}`, i, i)
		if got := strings.Count(exposition, series); got != 1 {
			t.Errorf("%s appears %d times, want once", series, got)
		}
	}
	checkMetricsWithPromtool(t, exposition)
}
