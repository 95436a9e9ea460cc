package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

const (
	// defaultWorkflowsRefresh is the default of the command line's
	// --collector.workflows.refresh-interval.
	defaultWorkflowsRefresh = 15 * time.Minute
	// productionScrapeInterval is the scrape interval that a schedule
	// scales down: the interval of the README's example.
	productionScrapeInterval = 2 * time.Minute
)

// scheduleConfig is a run of scrapes of one fresh exporter, started at a
// fixed interval as Prometheus starts them. The workflow collector is on,
// and its refresh interval has the same ratio to the scrape interval as the
// defaults have in production: 15 minutes to 2 minutes, 7.5 to 1. Every
// scrape ends at exporterDeadline, as under Prometheus' default timeout.
//
// Only the two intervals are scaled, never the latency or the scrape itself.
// A scrape therefore takes a larger part of the interval than in production,
// which delays each refresh by up to one scrape: expectedRefreshCycle
// gives the size of that effect.
type scheduleConfig struct {
	orgs     int
	latency  time.Duration
	interval time.Duration
	scrapes  int
}

// refresh returns the scaled refresh interval of the workflow cache.
func (c scheduleConfig) refresh() time.Duration {
	return c.interval * time.Duration(defaultWorkflowsRefresh/time.Second) / time.Duration(productionScrapeInterval/time.Second)
}

// scheduledScrape is what one scrape of a schedule did and exposed.
type scheduledScrape struct {
	// late is how long after its scheduled time the scrape started, which
	// is 0 unless the scrape before it overran the interval.
	late       time.Duration
	wall       time.Duration
	requests   fakeStats
	exposition exposition
	// balanceResponses counts the balance requests of this scrape that got
	// a 200 response, by the exporter's own request metrics.
	balanceResponses int
	allocs           uint64
	bytes            uint64
}

// complete reports whether the scrape exposed every balance and every
// workflow count, so that its deadline did not cut it.
func (s scheduledScrape) complete(orgs int) bool {
	return s.exposition.check(orgs, true) == nil
}

// scheduleResult is a measured schedule. The first scrape is the first after
// the exporter's start, with an empty workflow cache.
type scheduleResult struct {
	scheduleConfig
	concurrency int
	scrapes     []scheduledScrape
	// peakHeap and peakRuntime are the peaks during the scrapes after the
	// first, as measureRow reads them.
	peakHeap    uint64
	peakRuntime uint64
}

// measureSchedule runs cfg against a fake API whose organizations have
// their workflows set.
func measureSchedule(t *testing.T, fake *fakeAPI, cfg scheduleConfig) scheduleResult {
	t.Helper()
	fake.setLatency(t, cfg.latency)
	exp := newExporter(t, fake.URL, exporterOptions{workflows: true, workflowsRefresh: cfg.refresh()})
	result := scheduleResult{scheduleConfig: cfg, concurrency: exp.client.Concurrency()}

	var sampler *memorySampler
	var before, after runtime.MemStats
	balanceResponses := 0
	begin := time.Now()
	for i := range cfg.scrapes {
		if i == 1 {
			sampler = startMemorySampler(time.Millisecond)
		}
		scheduled := begin.Add(time.Duration(i) * cfg.interval)
		time.Sleep(time.Until(scheduled))

		fake.reset(t)
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithTimeout(context.Background(), exporterDeadline)
		start := time.Now()
		exposition, err := exp.scrape(ctx)
		wall := time.Since(start)
		cancel()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("N=%d latency=%s: scrape %d of the schedule failed: %v", cfg.orgs, cfg.latency, i+1, err)
		}

		scrape := scheduledScrape{
			late:             max(start.Sub(scheduled), 0),
			wall:             wall,
			requests:         fake.stats(t),
			exposition:       exposition,
			balanceResponses: exp.balanceResponses(t) - balanceResponses,
			allocs:           after.Mallocs - before.Mallocs,
			bytes:            after.TotalAlloc - before.TotalAlloc,
		}
		balanceResponses += scrape.balanceResponses
		result.scrapes = append(result.scrapes, scrape)

		if scrape.requests.maxInFlight > result.concurrency {
			t.Errorf("N=%d latency=%s: scrape %d had %d requests in flight, above the client's concurrency of %d", cfg.orgs, cfg.latency, i+1, scrape.requests.maxInFlight, result.concurrency)
		}
		if scrape.exposition.balances > scrape.balanceResponses {
			t.Errorf("N=%d latency=%s: scrape %d exposed %d balances but received only %d", cfg.orgs, cfg.latency, i+1, scrape.exposition.balances, scrape.balanceResponses)
		}
	}
	if sampler != nil {
		result.peakHeap, result.peakRuntime = sampler.stop()
	}
	return result
}

// later returns the scrapes after the first.
func (r scheduleResult) later() []scheduledScrape {
	return r.scrapes[1:]
}

// afterFirstComplete returns the number of the first complete scrape,
// counted from 1, and the scrapes after it, when the workflow cache has held
// every organization once. It returns 0 and nothing when no scrape was
// complete.
func (r scheduleResult) afterFirstComplete() (int, []scheduledScrape) {
	for i, scrape := range r.scrapes {
		if scrape.complete(r.orgs) {
			return i + 1, r.scrapes[i+1:]
		}
	}
	return 0, nil
}

// bound returns the bound of a scrape with the requests that s sent.
func (r scheduleResult) bound(s scheduledScrape) time.Duration {
	return scrapeBound(r.latency, r.concurrency, s.requests.requests)
}

// laterSummary is the mean or extreme of the scrapes after the first.
type laterSummary struct {
	requests, workflowRequests float64
	medianWall, meanWall       time.Duration
	maxWall                    time.Duration
	// meanRatio and maxRatio are over the complete scrapes only, because a
	// scrape cut by its deadline ends before its bound would allow.
	meanRatio, maxRatio float64
	cut                 int
	allocs, bytes       float64
	connections         float64
	maxInFlight         int
	// meanCompleteWall is the mean wall time of the complete scrapes, the
	// scrape duration that expectedRefreshCycle needs.
	meanCompleteWall time.Duration
}

func (r scheduleResult) summarize() laterSummary {
	var s laterSummary
	var walls []time.Duration
	var total, completeTotal time.Duration
	complete := 0
	for _, scrape := range r.later() {
		s.requests += float64(scrape.requests.requests)
		s.workflowRequests += float64(scrape.requests.workflows)
		s.allocs += float64(scrape.allocs)
		s.bytes += float64(scrape.bytes)
		s.connections += float64(scrape.requests.connections)
		s.maxInFlight = max(s.maxInFlight, scrape.requests.maxInFlight)
		walls = append(walls, scrape.wall)
		total += scrape.wall
		s.maxWall = max(s.maxWall, scrape.wall)

		if !scrape.complete(r.orgs) {
			s.cut++
			continue
		}
		complete++
		completeTotal += scrape.wall
		ratio := float64(scrape.wall) / float64(r.bound(scrape))
		s.meanRatio += ratio
		s.maxRatio = max(s.maxRatio, ratio)
	}

	n := float64(len(r.later()))
	s.requests /= n
	s.workflowRequests /= n
	s.allocs /= n
	s.bytes /= n
	s.connections /= n
	s.medianWall = median(walls)
	s.meanWall = total / time.Duration(len(walls))
	if complete > 0 {
		s.meanRatio /= float64(complete)
		s.meanCompleteWall = completeTotal / time.Duration(complete)
	}
	return s
}

// expectedRefreshCycle returns how many scrapes pass on average between two
// fetches of one organization's workflows, once the fetches have spread
// evenly over the scrapes, long after a start. It follows the collector's
// workflow cache. A fetch finishes the duration fetch after its scrape
// started. Its entry expires X later, X uniform on [refresh × 3/4, refresh].
// The first scrape that starts after that fetches the workflows again, so
// the cycle is ceil((fetch + X) / interval) scrapes. The model ignores
// fetches that a deadline cut, which the next scrape repeats.
func expectedRefreshCycle(refresh, interval, fetch time.Duration) float64 {
	if refresh <= 0 {
		return 1
	}
	low := float64(fetch+refresh*3/4) / float64(interval)
	high := float64(fetch+refresh) / float64(interval)

	// ceil(y) is m for y in (m-1, m]. Each m weighs the share of
	// [low, high] that this range covers.
	mean := 0.0
	for m := math.Ceil(low); m-1 < high; m++ {
		covered := math.Min(high, m) - math.Max(low, m-1)
		if covered > 0 {
			mean += m * covered / (high - low)
		}
	}
	return mean
}

func TestExpectedRefreshCycle(t *testing.T) {
	cases := []struct {
		name                     string
		refresh, interval, fetch time.Duration
		want                     float64
	}{
		// (15m × 3/4) / 2m = 5.625, so the cycle is 6 scrapes with
		// probability 0.375/1.875, 7 with 1/1.875 and 8 with 0.5/1.875.
		{name: "default, instant scrape", refresh: 15 * time.Minute, interval: 2 * time.Minute, want: 106.0 / 15},
		{name: "scrape as long as the interval", refresh: 15 * time.Minute, interval: 2 * time.Minute, fetch: 2 * time.Minute, want: 121.0 / 15},
		{name: "scaled like the default", refresh: 75 * time.Second, interval: 10 * time.Second, want: 106.0 / 15},
		{name: "refresh within one interval", refresh: time.Minute, interval: 2 * time.Minute, want: 1},
		{name: "refresh off", refresh: 0, interval: 2 * time.Minute, want: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := expectedRefreshCycle(c.refresh, c.interval, c.fetch); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("expectedRefreshCycle(%s, %s, %s) = %.6f, expected %.6f", c.refresh, c.interval, c.fetch, got, c.want)
			}
		})
	}
}

// printScheduleTable prints every scrape of a schedule. The minute column
// is when the scrape would start in production, at a 2-minute interval.
func printScheduleTable(w io.Writer, r scheduleResult) {
	table := markdownTable{
		header: []string{"scrape", "minute", "late", "workflow requests", "requests", "wall time", "bound", "ratio", "new conns", "up", "balances received", "balances exposed", "workflow counts exposed"},
	}
	for i, s := range r.scrapes {
		up := "0"
		if s.exposition.up {
			up = "1"
		}
		table.rows = append(table.rows, []string{
			fmt.Sprint(i + 1),
			fmt.Sprint(i * int(productionScrapeInterval/time.Minute)),
			formatDuration(s.late),
			formatInt(s.requests.workflows),
			formatInt(s.requests.requests),
			formatDuration(s.wall),
			formatDuration(r.bound(s)),
			formatRatio(float64(s.wall) / float64(r.bound(s))),
			fmt.Sprint(s.requests.connections),
			up,
			formatInt(s.balanceResponses),
			formatInt(s.exposition.balances),
			formatInt(s.exposition.workflows),
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "N=%s at %s: a scrape every %s and a workflow refresh interval of %s, as 2 minutes to 15 minutes; each scrape ends at %s.\n",
		formatInt(r.orgs), formatDuration(r.latency), formatDuration(r.interval), formatDuration(r.refresh()), formatDuration(exporterDeadline))
	fmt.Fprintln(w)
	table.write(w)
}

// printScheduleSummary prints the scrapes after the first of each schedule,
// and the long-run expectation that expectedRefreshCycle computes.
func printScheduleSummary(w io.Writer, results []scheduleResult) {
	table := markdownTable{
		header: []string{"N", "latency", "interval", "refresh", "scrapes", "requests", "workflow requests", "median wall", "mean wall", "max wall", "mean ratio", "max ratio", "cut", "allocs/scrape", "bytes/scrape", "peak heap", "peak Go runtime memory", "new conns/scrape", "max in flight"},
	}
	for _, r := range results {
		s := r.summarize()
		table.rows = append(table.rows, []string{
			formatInt(r.orgs),
			formatDuration(r.latency),
			formatDuration(r.interval),
			formatDuration(r.refresh()),
			fmt.Sprint(len(r.later())),
			formatInt(int(math.Round(s.requests))),
			formatInt(int(math.Round(s.workflowRequests))),
			formatDuration(s.medianWall),
			formatDuration(s.meanWall),
			formatDuration(s.maxWall),
			formatRatio(s.meanRatio),
			formatRatio(s.maxRatio),
			fmt.Sprint(s.cut),
			formatCount(s.allocs),
			formatBytes(s.bytes),
			formatBytes(float64(r.peakHeap)),
			formatBytes(float64(r.peakRuntime)),
			fmt.Sprintf("%.1f", s.connections),
			fmt.Sprint(s.maxInFlight),
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Scrapes after the first of each schedule: means per scrape, ratios over the complete scrapes, and the number of scrapes the deadline cut.")
	fmt.Fprintln(w)
	table.write(w)

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Long-run expectation, computed with expectedRefreshCycle from the mean wall time of the complete scrapes:")
	for _, r := range results {
		s := r.summarize()
		balanceRequests := scrapeRequests(r.orgs, autoretouch.DefaultPageSize, false)
		for _, run := range []struct {
			name              string
			refresh, interval time.Duration
		}{
			{"in production (15 min, 2 min)", defaultWorkflowsRefresh, productionScrapeInterval},
			{"in this schedule", r.refresh(), r.interval},
		} {
			cycle := expectedRefreshCycle(run.refresh, run.interval, s.meanCompleteWall)
			workflows := float64(r.orgs) / cycle
			requests := balanceRequests + int(math.Round(workflows))
			fmt.Fprintf(w, "- N=%s at %s, %s: a fetch every %.2f scrapes, %s workflow requests per scrape (%.1f%% more than the %s requests without workflows), bound %s\n",
				formatInt(r.orgs), formatDuration(r.latency), run.name, cycle, formatInt(int(math.Round(workflows))), 100*workflows/float64(balanceRequests), formatInt(balanceRequests), formatDuration(scrapeBound(r.latency, r.concurrency, requests)))
		}
	}
}

// simulateRefreshes returns the workflow fetches of each of scrapes scrapes
// of orgs organizations under the model of expectedRefreshCycle, in units of
// the scrape interval. Every fetch succeeds, and each scrape takes the share
// fetch of the interval. With wholeFirstLifetime, an entry that replaces no
// earlier entry lives a uniform time in (0, refresh] instead of
// [refresh × 3/4, refresh]. The seed fixes the random lifetimes.
func simulateRefreshes(orgs, scrapes int, refresh, fetch float64, wholeFirstLifetime bool, seed uint64) []int {
	random := rand.New(rand.NewPCG(seed, seed))
	expires := make([]float64, orgs)
	cached := make([]bool, orgs)
	fetches := make([]int, scrapes)
	for scrape := range scrapes {
		now := float64(scrape)
		for org := range orgs {
			if cached[org] && now < expires[org] {
				continue
			}
			lifetime := refresh*3/4 + random.Float64()*refresh/4
			if wholeFirstLifetime && !cached[org] {
				lifetime = refresh * (1 - random.Float64())
			}
			expires[org] = now + fetch + lifetime
			cached[org] = true
			fetches[scrape]++
		}
	}
	return fetches
}

// TestRefreshWavesMatchModel simulates 12 hours of 2-minute scrapes of
// 10,000 organizations, each scrape taking 8 s, and logs the max workflow
// fetches in one scrape per period after the start. It checks that the
// simulation agrees with expectedRefreshCycle in the long run, both with the
// collector's lifetimes and with the whole first lifetime that
// docs/benchmarks.md proposes.
func TestRefreshWavesMatchModel(t *testing.T) {
	const (
		orgs    = 10_000
		scrapes = 360
		fetch   = 8 * time.Second
	)
	refresh := float64(defaultWorkflowsRefresh) / float64(productionScrapeInterval)
	fetchShare := float64(fetch) / float64(productionScrapeInterval)
	want := orgs / expectedRefreshCycle(defaultWorkflowsRefresh, productionScrapeInterval, fetch)

	for _, whole := range []bool{false, true} {
		fetches := simulateRefreshes(orgs, scrapes, refresh, fetchShare, whole, 1)
		peak := func(from, to int) int { return slices.Max(fetches[from:to]) }
		longRun := 0.0
		for _, n := range fetches[120:] {
			longRun += float64(n)
		}
		longRun /= float64(scrapes - 120)

		t.Logf("whole first lifetime %t: max fetches in one scrape %d in the first hour, %d in the second, %d in hours 3 and 4, %d in hours 5 to 12; mean in hours 5 to 12 %.0f, model %.0f",
			whole, peak(1, 30), peak(30, 60), peak(60, 120), peak(120, scrapes), longRun, want)
		if math.Abs(longRun-want) > 0.03*want {
			t.Errorf("whole first lifetime %t: %.0f fetches per scrape in hours 5 to 12, expected %.0f ± 3 %% by expectedRefreshCycle", whole, longRun, want)
		}
	}
}
