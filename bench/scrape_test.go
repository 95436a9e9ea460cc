package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

var (
	benchOrgCounts = []int{10, 100, 1000, 10_000}
	benchLatencies = []time.Duration{0, 20 * time.Millisecond, 50 * time.Millisecond}
)

// BenchmarkScrape times one scrape of the exporter with the default page size
// and concurrency and the workflow collector off. Besides ns/op, B/op and
// allocs/op it reports per scrape the API requests, the new TCP connections
// and the ratio to scrapeBound, and the maximum number of requests the fake
// API handled at once.
func BenchmarkScrape(b *testing.B) {
	benchmarkScrapes(b, benchOrgCounts, benchLatencies, exporterOptions{})
}

// BenchmarkScrapeWithWorkflows is BenchmarkScrape with the workflow collector
// on and three workflows per organization. Its refresh interval is 0, so
// every scrape fetches every organization's workflows, as the first scrape
// after a start does with the command line's default interval.
func BenchmarkScrapeWithWorkflows(b *testing.B) {
	benchmarkScrapes(b, []int{1000, 10_000}, []time.Duration{0, 20 * time.Millisecond}, exporterOptions{workflows: true})
}

func benchmarkScrapes(b *testing.B, orgCounts []int, latencies []time.Duration, opts exporterOptions) {
	for _, orgs := range orgCounts {
		b.Run(fmt.Sprintf("orgs=%d", orgs), func(b *testing.B) {
			fake := startFakeAPI(b, orgs)
			if opts.workflows {
				fake.setWorkflows(b, seedWorkflows)
			}
			for _, latency := range latencies {
				b.Run("latency="+latency.String(), func(b *testing.B) {
					benchmarkScrape(b, fake, orgs, latency, opts)
				})
			}
		})
	}
}

func benchmarkScrape(b *testing.B, fake *fakeAPI, orgs int, latency time.Duration, opts exporterOptions) {
	fake.setLatency(b, latency)
	exp := newExporter(b, fake.URL, opts)
	concurrency := exp.client.Concurrency()

	// The first scrape opens the connections and later ones reuse them, as
	// in an exporter that Prometheus scrapes again and again.
	exp.mustScrape(b, orgs)
	fake.reset(b)
	b.ReportAllocs()

	for b.Loop() {
		exp.mustScrape(b, orgs)
	}

	stats := fake.stats(b)
	perScrape := func(n int) float64 { return float64(n) / float64(b.N) }
	b.ReportMetric(perScrape(stats.requests), "requests/op")
	b.ReportMetric(perScrape(stats.connections), "new-conns/op")
	b.ReportMetric(float64(stats.maxInFlight), "max-in-flight")
	if latency > 0 {
		bound := scrapeBound(latency, concurrency, scrapeRequests(orgs, autoretouch.DefaultPageSize, opts.workflows))
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(bound), "bound-ratio")
	}
	if stats.maxInFlight > concurrency {
		b.Errorf("the fake API handled %d requests at once, above the client's concurrency of %d", stats.maxInFlight, concurrency)
	}
}

// BenchmarkSequential times the sequential client, for the speed-up. It
// skips 10,000 organizations with latency, because they take minutes per
// scrape. TestBenchTable estimates them instead.
func BenchmarkSequential(b *testing.B) {
	for _, orgs := range benchOrgCounts {
		b.Run(fmt.Sprintf("orgs=%d", orgs), func(b *testing.B) {
			fake := startFakeAPI(b, orgs)
			for _, latency := range benchLatencies {
				b.Run("latency="+latency.String(), func(b *testing.B) {
					if orgs > 1000 && latency > 0 {
						requests := scrapeRequests(orgs, autoretouch.DefaultPageSize, false)
						b.Skipf("skipped: %d sequential requests at %s take more than %s per scrape", requests, latency, time.Duration(requests)*latency)
					}
					fake.setLatency(b, latency)
					seq := newSequentialClient(fake.URL)
					defer seq.httpClient.CloseIdleConnections()

					for b.Loop() {
						seq.mustScrape(b, orgs)
					}
				})
			}
		})
	}
}

// TestConcurrencyLimitRespected checks that a whole scrape never has more
// requests in flight at the fake API than the client's concurrency allows.
// It asserts no times.
func TestConcurrencyLimitRespected(t *testing.T) {
	const (
		orgs    = 1000
		latency = 5 * time.Millisecond
	)
	cases := []struct {
		name string
		opts exporterOptions
	}{
		{name: "default", opts: exporterOptions{}},
		{name: "concurrency 4", opts: exporterOptions{concurrency: 4}},
		{name: "workflows", opts: exporterOptions{workflows: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server := autoretouchtest.NewServer()
			t.Cleanup(server.Close)
			server.AddOrganizations(orgs, seedBalance)
			if c.opts.workflows {
				for _, org := range server.Organizations() {
					server.SetWorkflows(org.ID, generatedWorkflows(org.ID, seedWorkflows))
				}
			}
			server.SetLatency(latency)

			exp := newExporter(t, server.URL, c.opts)
			concurrency := exp.client.Concurrency()
			result, err := exp.scrape(context.Background())
			if err != nil {
				t.Fatalf("scrape failed: %v", err)
			}
			if err := result.check(orgs, c.opts.workflows); err != nil {
				t.Fatalf("incomplete scrape: %v", err)
			}

			if got := server.MaxInFlight(); got > concurrency {
				t.Errorf("the fake API handled %d requests at once, above the client's concurrency of %d", got, concurrency)
			}
			if got := server.MaxInFlight(); got < 2 {
				t.Errorf("the fake API handled at most %d request at once, so the scrape was sequential", got)
			}
			wantRequests := scrapeRequests(orgs, autoretouch.DefaultPageSize, c.opts.workflows)
			if got := server.TotalRequests(); got != wantRequests {
				t.Errorf("the scrape sent %d requests, expected %d", got, wantRequests)
			}
		})
	}
}

// TestFakeAPIChildCounts checks the child-process fake and both clients on
// a listing of three pages.
func TestFakeAPIChildCounts(t *testing.T) {
	const orgs = 120
	pages := pageCount(orgs, autoretouch.DefaultPageSize)
	fake := startFakeAPI(t, orgs)
	fake.setWorkflows(t, seedWorkflows)

	exp := newExporter(t, fake.URL, exporterOptions{workflows: true})
	exp.mustScrape(t, orgs)
	stats := fake.stats(t)
	if stats.pages != pages {
		t.Errorf("exporter: %d listing requests, expected %d", stats.pages, pages)
	}
	if stats.balances != orgs {
		t.Errorf("exporter: %d balance requests, expected %d", stats.balances, orgs)
	}
	if stats.workflows != orgs {
		t.Errorf("exporter: %d workflow requests, expected %d", stats.workflows, orgs)
	}
	if want := scrapeRequests(orgs, autoretouch.DefaultPageSize, true); stats.requests != want {
		t.Errorf("exporter: %d requests in all, expected %d", stats.requests, want)
	}
	if stats.connections < 1 {
		t.Errorf("exporter: %d connections counted, expected at least one", stats.connections)
	}
	if stats.maxInFlight > exp.client.Concurrency() {
		t.Errorf("exporter: %d requests in flight, above the concurrency of %d", stats.maxInFlight, exp.client.Concurrency())
	}

	fake.reset(t)
	seq := newSequentialClient(fake.URL)
	defer seq.httpClient.CloseIdleConnections()
	seq.mustScrape(t, orgs)
	stats = fake.stats(t)
	if want := scrapeRequests(orgs, autoretouch.DefaultPageSize, false); stats.requests != want {
		t.Errorf("sequential client: %d requests, expected %d", stats.requests, want)
	}
	if stats.maxInFlight != 1 {
		t.Errorf("sequential client: %d requests in flight, expected 1", stats.maxInFlight)
	}
	if stats.connections != 1 {
		t.Errorf("sequential client: %d connections, expected 1", stats.connections)
	}
}
