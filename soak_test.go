package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// soakFaults are the faults the soak test injects at random: every kind the
// exporter must survive without a wrong number, a leak or a panic.
var soakFaults = []autoretouchtest.Fault{
	{Status: 500, Body: `{"status":500,"error":"Internal Server Error"}`},
	{Status: 502, Body: "<html><body>Bad Gateway</body></html>"},
	{Status: 503},
	{Status: 504},
	{Status: 401},
	{Body: "null"},
	{Body: `"6820"`},
	{Body: "12.5"},
	{Body: "<html>maintenance</html>"},
	{Body: `{"entries":null}`},
	{Delay: 50 * time.Millisecond},
	{Stall: true},
	{StallMidBody: true},
}

// envInt reads a positive integer from the environment, for the longer runs
// the README documents.
func envInt(t *testing.T, name string, fallback int) int {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 {
		t.Fatalf("invalid %s=%q: use a positive integer", name, value)
	}
	return n
}

// exporterHealth is what the exporter reports of itself.
type exporterHealth struct {
	goroutines float64
	openFDs    float64
	heapBytes  float64
}

func readHealth(t *testing.T, client *http.Client, url string) exporterHealth {
	t.Helper()
	families := gather(t, client, url)
	value := func(name string) float64 {
		family, ok := families[name]
		if !ok || len(family.GetMetric()) == 0 {
			t.Fatalf("the exporter exposes no %s", name)
		}
		return family.GetMetric()[0].GetGauge().GetValue()
	}
	return exporterHealth{
		goroutines: value("go_goroutines"),
		openFDs:    value("process_open_fds"),
		heapBytes:  value("go_memstats_heap_inuse_bytes"),
	}
}

// quietHealth reads the exporter's health with every connection to the fake
// API closed first and a listing that fails at its first request, so that
// the scrape that reads it leaves the same one idle connection each time and
// readings are comparable.
func quietHealth(t *testing.T, server *autoretouchtest.Server, client *http.Client, url string) exporterHealth {
	t.Helper()
	server.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{Status: http.StatusForbidden})
	defer server.ClearFaults()

	server.CloseClientConnections()
	client.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	return readHealth(t, client, url)
}

func gather(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition of %s: %v", url, err)
	}
	return families
}

// TestSoak runs thousands of scrapes, several at a time, against a fake API
// that injects random faults, then checks that the exporter never exported
// a wrong balance, and that its goroutines, file descriptors and heap are
// back near where they started. SOAK_SCRAPES and SOAK_SECONDS make it
// longer; see the README.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test")
	}
	t.Parallel()
	scrapes := envInt(t, "SOAK_SCRAPES", 2000)
	duration := time.Duration(envInt(t, "SOAK_SECONDS", 90)) * time.Second
	const scrapers = 8
	seed := rand.Uint64()
	t.Logf("seed %d, up to %d scrapes in %s", seed, scrapes, duration)

	server := autoretouchtest.NewServer()
	defer server.Close()
	balances := make(map[string]float64)
	for i := range 30 {
		id := fmt.Sprintf("soak-%02d", i)
		balance := int64(1000*i - 5000)
		server.AddOrganization(autoretouchtest.Organization{
			ID: id, Name: "Soak " + id, Balance: balance,
			Members: []autoretouchtest.Member{{ID: "m-" + id, Roles: []string{"admin"}}},
		})
		server.SetWorkflows(id, []autoretouchtest.Workflow{{ID: "wf-" + id, Name: "Packshot", ExecutionPrice: int64(i + 1)}})
		balances[id] = float64(balance)
	}

	exporter := startExporter(t, []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken},
		"--autoretouch.api-url="+server.URL, "--autoretouch.page-size=7", "--autoretouch.timeout=5s")
	metricsURL := exporter.url + "/metrics"
	client := &http.Client{Timeout: 10 * time.Second}

	warmup := readHealth(t, client, metricsURL)
	baseline := quietHealth(t, server, client, metricsURL)
	t.Logf("baseline: %+v (after one scrape: %+v)", baseline, warmup)

	server.SetRandomFaults(seed, 0.015, soakFaults...)
	var (
		done     atomic.Int64
		failures atomic.Int64
		midHeap  atomic.Uint64
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	for range scrapers {
		wg.Go(func() {
			for time.Now().Before(deadline) && done.Add(1) <= int64(scrapes) {
				if err := soakScrape(client, metricsURL, balances); err != nil {
					failures.Add(1)
					t.Errorf("scrape %d: %v", done.Load(), err)
					if failures.Load() > 5 {
						return
					}
				}
				if done.Load() == int64(scrapes)/4 {
					midHeap.Store(uint64(readHealth(t, client, metricsURL).heapBytes))
				}
			}
		})
	}
	wg.Wait()
	completed := min(done.Load(), int64(scrapes))
	t.Logf("%d scrapes, %d API requests", completed, server.TotalRequests())

	server.ClearFaults()
	var end exporterHealth
	for range 25 {
		end = quietHealth(t, server, client, metricsURL)
		if end.goroutines <= baseline.goroutines+2 && end.openFDs <= baseline.openFDs+2 {
			break
		}
	}
	t.Logf("end: %+v", end)

	if end.goroutines > baseline.goroutines+2 {
		t.Errorf("goroutines = %.0f after the soak, baseline %.0f", end.goroutines, baseline.goroutines)
	}
	if end.openFDs > baseline.openFDs+2 {
		t.Errorf("open file descriptors = %.0f after the soak, baseline %.0f", end.openFDs, baseline.openFDs)
	}
	// The heap may grow to a plateau, but must not keep growing with the
	// number of scrapes: compare the end with a quarter of the way in.
	if mid := float64(midHeap.Load()); mid > 0 && end.heapBytes > 2*mid+16<<20 {
		t.Errorf("heap in use grew from %.0f bytes a quarter of the way in to %.0f at the end", mid, end.heapBytes)
	}
	for _, fatal := range []string{"panic", "DATA RACE"} {
		if strings.Contains(exporter.stderr.String(), fatal) {
			t.Errorf("the exporter's output contains %q:\n%s", fatal, exporter.stderr)
		}
	}
}

// soakScrape scrapes once with Prometheus' timeout header and checks that
// the response came in time, parses, and exports no balance other than the
// seeded one.
func soakScrape(client *http.Client, url string, balances map[string]float64) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "1")

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	// The scrape's deadline is 0.5 s; a generous bound still catches a
	// scrape that waited for a stalled request.
	if elapsed > 3*time.Second {
		return fmt.Errorf("took %s with a 1 s scrape timeout", elapsed)
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("invalid exposition: %w", err)
	}
	for _, metric := range families["autoretouch_credit_balance"].GetMetric() {
		orgID := ""
		for _, label := range metric.GetLabel() {
			if label.GetName() == "org_id" {
				orgID = label.GetValue()
			}
		}
		if got, want := metric.GetGauge().GetValue(), balances[orgID]; got != want {
			return fmt.Errorf("balance of %s exported as %v, but the API holds %v", orgID, got, want)
		}
	}
	return nil
}
