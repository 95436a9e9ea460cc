package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// benchTableEnv turns on TestBenchTable, which takes several minutes.
const benchTableEnv = "BENCH_TABLE"

// Acceptance targets that TestBenchTable reports on. They are printed, not
// asserted, because the machine may be shared.
const (
	maxBoundRatio        = 1.2
	boundRatioMinOrgs    = 1000
	boundRatioMinLatency = 20 * time.Millisecond

	prometheusTimeout = 10 * time.Second
	targetOrgs        = 10_000
	targetLatency     = 20 * time.Millisecond

	// exporterDeadline is what the exporter leaves of Prometheus' default
	// scrape timeout with its default --scrape.timeout-offset of 500 ms.
	exporterDeadline = prometheusTimeout - 500*time.Millisecond
)

// sequentialMode is how a row gets the sequential client's wall time.
type sequentialMode int

const (
	sequentialMeasured sequentialMode = iota
	// sequentialEstimated multiplies the request count by the time per
	// request measured with 1,000 organizations at the same latency.
	sequentialEstimated
	sequentialSkipped
)

// rowConfig is one configuration that TestBenchTable measures.
type rowConfig struct {
	orgs        int
	latency     time.Duration
	concurrency int
	pageSize    int
	workflows   bool
	sequential  sequentialMode
	policy      repeatPolicy
}

// repeatPolicy decides how many scrapes measure a row: at least one, then
// until minScrapes and minTotal are both reached, but never past maxScrapes
// or once maxTotal has been spent.
type repeatPolicy struct {
	minScrapes int
	minTotal   time.Duration
	maxTotal   time.Duration
	maxScrapes int
}

var (
	// mainPolicy keeps make bench under ten minutes on two cores, with the
	// schedules: the slowest row, 10,000 organizations at 50 ms, gets one
	// scrape after the warm-up scrape.
	mainPolicy = repeatPolicy{minScrapes: 3, minTotal: time.Second, maxTotal: 15 * time.Second, maxScrapes: 200}
	// sweepPolicy measures the rows that vary the defaults, and 10,000
	// organizations with every workflow fetched, once each.
	sweepPolicy = repeatPolicy{minScrapes: 1, maxScrapes: 1}
)

// benchSchedules measure the workflow cache in use. Each interval is about
// the longest scrape of its configuration: 3.4 s for the first scrape of
// 1,000 organizations at 50 ms, and the deadline of 9.5 s for 10,000 at
// 20 ms. A scrape that overruns the interval delays the next one, which
// the late column shows. 16 scrapes cover the first scrape and two refresh
// intervals after it.
var benchSchedules = []scheduleConfig{
	{orgs: 1000, latency: 50 * time.Millisecond, interval: 3500 * time.Millisecond, scrapes: 16},
	{orgs: 10_000, latency: 20 * time.Millisecond, interval: 10 * time.Second, scrapes: 16},
}

func (p repeatPolicy) more(scrapes int, spent time.Duration) bool {
	switch {
	case scrapes == 0:
		return true
	case scrapes >= p.maxScrapes || spent >= p.maxTotal:
		return false
	default:
		return scrapes < p.minScrapes || spent < p.minTotal
	}
}

// rowResult is what measureRow found for one configuration. Wall times are
// medians, and the counts are per scrape after the warm-up scrape.
type rowResult struct {
	rowConfig
	pages   int
	bound   time.Duration
	scrapes int
	wall    time.Duration

	requests    float64
	allocs      float64
	bytes       float64
	connections float64
	maxInFlight int
	// firstConnections were opened by the warm-up scrape.
	firstConnections int

	// heapBefore is the heap after a GC before the measured scrapes,
	// peakHeap the largest heap seen during them, and peakRuntime the
	// largest amount of memory the Go runtime had mapped.
	heapBefore  uint64
	peakHeap    uint64
	peakRuntime uint64
	gcCycles    float64
	exposition  int

	sequentialScrapes int
	sequentialWall    time.Duration
}

// ratio returns the wall time divided by the bound, or 0 without latency,
// where the bound is 0.
func (r rowResult) ratio() float64 {
	if r.bound == 0 {
		return 0
	}
	return float64(r.wall) / float64(r.bound)
}

// sequentialPerRequest returns the measured sequential time per request.
func (r rowResult) sequentialPerRequest() time.Duration {
	return r.sequentialWall / time.Duration(scrapeRequests(r.orgs, autoretouch.DefaultPageSize, false))
}

// measureRow measures the exporter, and the sequential client when
// cfg.sequential is sequentialMeasured, on a fake API that already contains
// cfg.orgs organizations.
func measureRow(t *testing.T, fake *fakeAPI, cfg rowConfig) rowResult {
	t.Helper()
	fake.setLatency(t, cfg.latency)
	exp := newExporter(t, fake.URL, exporterOptions{concurrency: cfg.concurrency, pageSize: cfg.pageSize, workflows: cfg.workflows})
	wantRequests := scrapeRequests(cfg.orgs, cfg.pageSize, cfg.workflows)

	result := rowResult{rowConfig: cfg, pages: pageCount(cfg.orgs, cfg.pageSize)}
	result.bound = scrapeBound(cfg.latency, exp.client.Concurrency(), wantRequests)

	fake.reset(t)
	exp.mustScrape(t, cfg.orgs)
	result.firstConnections = fake.stats(t).connections

	fake.reset(t)
	runtime.GC()
	sampler := startMemorySampler(time.Millisecond)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var walls []time.Duration
	var spent time.Duration
	for cfg.policy.more(len(walls), spent) {
		start := time.Now()
		exp.mustScrape(t, cfg.orgs)
		wall := time.Since(start)
		walls = append(walls, wall)
		spent += wall
	}
	runtime.ReadMemStats(&after)
	result.peakHeap, result.peakRuntime = sampler.stop()
	stats := fake.stats(t)

	scrapes := float64(len(walls))
	result.scrapes = len(walls)
	result.wall = median(walls)
	result.requests = float64(stats.requests) / scrapes
	result.connections = float64(stats.connections) / scrapes
	result.maxInFlight = stats.maxInFlight
	result.allocs = float64(after.Mallocs-before.Mallocs) / scrapes
	result.bytes = float64(after.TotalAlloc-before.TotalAlloc) / scrapes
	result.gcCycles = float64(after.NumGC-before.NumGC) / scrapes
	result.heapBefore = before.HeapAlloc
	result.exposition = exp.recorder.body.Len()

	if result.maxInFlight > exp.client.Concurrency() {
		t.Errorf("N=%d latency=%s: the fake API handled %d requests at once, above the client's concurrency of %d", cfg.orgs, cfg.latency, result.maxInFlight, exp.client.Concurrency())
	}
	if result.requests != float64(wantRequests) {
		t.Errorf("N=%d latency=%s workflows=%t: %.1f requests per scrape, expected %d", cfg.orgs, cfg.latency, cfg.workflows, result.requests, wantRequests)
	}

	if cfg.sequential == sequentialMeasured {
		result.sequentialScrapes, result.sequentialWall = measureSequential(t, fake, cfg)
	}
	return result
}

// measureSequential returns how many sequential scrapes ran and their median
// wall time.
func measureSequential(t *testing.T, fake *fakeAPI, cfg rowConfig) (int, time.Duration) {
	t.Helper()
	seq := newSequentialClient(fake.URL)
	defer seq.httpClient.CloseIdleConnections()

	fake.reset(t)
	var walls []time.Duration
	var spent time.Duration
	for cfg.policy.more(len(walls), spent) {
		start := time.Now()
		seq.mustScrape(t, cfg.orgs)
		wall := time.Since(start)
		walls = append(walls, wall)
		spent += wall
	}

	stats := fake.stats(t)
	if want := len(walls) * scrapeRequests(cfg.orgs, seq.pageSize, false); stats.requests != want {
		t.Errorf("N=%d latency=%s: the sequential client sent %d requests in %d scrapes, expected %d", cfg.orgs, cfg.latency, stats.requests, len(walls), want)
	}
	if stats.maxInFlight != 1 {
		t.Errorf("N=%d latency=%s: the sequential client had %d requests in flight, expected 1", cfg.orgs, cfg.latency, stats.maxInFlight)
	}
	return len(walls), median(walls)
}

func median(durations []time.Duration) time.Duration {
	sorted := slices.Clone(durations)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// deadlineResult is what one scrape exposed when it had to end by
// exporterDeadline.
type deadlineResult struct {
	rowConfig
	bound      time.Duration
	wall       time.Duration
	exposition exposition
	// balanceResponses counts the balance requests that got a 200 response.
	balanceResponses int
}

// measureDeadline runs one scrape, without a warm-up scrape, that ends at
// exporterDeadline as a scrape by Prometheus with its default timeout would.
func measureDeadline(t *testing.T, fake *fakeAPI, cfg rowConfig) deadlineResult {
	t.Helper()
	fake.setLatency(t, cfg.latency)
	exp := newExporter(t, fake.URL, exporterOptions{concurrency: cfg.concurrency, pageSize: cfg.pageSize, workflows: cfg.workflows})
	result := deadlineResult{
		rowConfig: cfg,
		bound:     scrapeBound(cfg.latency, exp.client.Concurrency(), scrapeRequests(cfg.orgs, cfg.pageSize, cfg.workflows)),
	}

	ctx, cancel := context.WithTimeout(context.Background(), exporterDeadline)
	defer cancel()
	start := time.Now()
	exposition, err := exp.scrape(ctx)
	result.wall = time.Since(start)
	if err != nil {
		t.Errorf("N=%d latency=%s: scrape with a deadline failed: %v", cfg.orgs, cfg.latency, err)
	}
	result.exposition = exposition
	result.balanceResponses = exp.balanceResponses(t)
	return result
}

// estimateSequential fills in the rows whose sequential time is estimated,
// from the measured row with 1,000 organizations at the same latency.
func estimateSequential(rows []rowResult) {
	for i := range rows {
		if rows[i].sequential != sequentialEstimated {
			continue
		}
		for _, measured := range rows {
			if measured.sequential == sequentialMeasured && measured.orgs == 1000 && measured.latency == rows[i].latency {
				rows[i].sequentialWall = measured.sequentialPerRequest() * time.Duration(scrapeRequests(rows[i].orgs, autoretouch.DefaultPageSize, false))
			}
		}
	}
}

// memorySampler records the peak of the heap and of the memory the Go
// runtime has mapped, read with runtime/metrics at a fixed interval. A peak
// shorter than the interval can be missed.
type memorySampler struct {
	stopped chan struct{}
	done    chan struct{}
	heap    uint64
	total   uint64
}

func startMemorySampler(interval time.Duration) *memorySampler {
	s := &memorySampler{stopped: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{
		// Bytes in heap objects, live or not yet swept: MemStats.HeapAlloc.
		{Name: "/memory/classes/heap/objects:bytes"},
		// Every byte the runtime has mapped: MemStats.Sys.
		{Name: "/memory/classes/total:bytes"},
	}

	go func() {
		defer close(s.done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			metrics.Read(samples)
			s.heap = max(s.heap, samples[0].Value.Uint64())
			s.total = max(s.total, samples[1].Value.Uint64())

			select {
			case <-ticker.C:
			case <-s.stopped:
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak heap and runtime memory.
func (s *memorySampler) stop() (heap, total uint64) {
	close(s.stopped)
	<-s.done
	return s.heap, s.total
}

// TestBenchTable measures every configuration and prints the tables of
// docs/benchmarks.md. It runs only when BENCH_TABLE is set, because it takes
// several minutes.
func TestBenchTable(t *testing.T) {
	if os.Getenv(benchTableEnv) == "" {
		t.Skipf("set %s=1 to measure every configuration and print the table; it takes several minutes", benchTableEnv)
	}

	began := time.Now()
	loadBefore := loadAverage()
	var rows, workflowRows, sweepRows []rowResult
	var deadlineRows []deadlineResult
	var schedules []scheduleResult
	for _, orgs := range benchOrgCounts {
		fake := startFakeAPI(t, orgs)
		for _, latency := range benchLatencies {
			cfg := defaultRow(orgs, latency)
			if orgs > 1000 && latency > 0 {
				cfg.sequential = sequentialEstimated
			}
			rows = append(rows, measureLogged(t, fake, cfg))
		}

		if orgs == targetOrgs {
			// The default configuration of the balance collector alone
			// whose bound is above the deadline.
			deadlineRows = append(deadlineRows, measureDeadline(t, fake, defaultRow(orgs, 50*time.Millisecond)))
		}

		if orgs >= 1000 {
			// With a refresh interval of 0, every scrape fetches every
			// organization's workflows, as the first scrape after a start
			// does with the default interval.
			fake.setWorkflows(t, seedWorkflows)
			for _, latency := range benchLatencies[1:] {
				if orgs > 1000 && latency > targetLatency {
					continue
				}
				cfg := defaultRow(orgs, latency)
				cfg.workflows, cfg.sequential = true, sequentialSkipped
				if orgs == targetOrgs {
					// One scrape after the warm-up, because each takes
					// about 14 s to keep make bench under ten minutes.
					cfg.policy = sweepPolicy
				}
				workflowRows = append(workflowRows, measureLogged(t, fake, cfg))
			}

			for _, schedule := range benchSchedules {
				if schedule.orgs == orgs {
					schedules = append(schedules, measureScheduleLogged(t, fake, schedule))
				}
			}
		}

		if orgs == targetOrgs {
			for _, sweep := range []struct{ concurrency, pageSize int }{{16, 50}, {64, 50}, {32, 200}} {
				cfg := defaultRow(orgs, targetLatency)
				cfg.concurrency, cfg.pageSize = sweep.concurrency, sweep.pageSize
				cfg.sequential, cfg.policy = sequentialSkipped, sweepPolicy
				sweepRows = append(sweepRows, measureLogged(t, fake, cfg))
			}
		}
		fake.stop()
	}
	estimateSequential(rows)

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	printMachine(out, loadBefore)
	fmt.Fprintln(out, "Scrapes with the default page size and concurrency and the workflow collector off. Wall times are medians; counts are per scrape, after a warm-up scrape.")
	fmt.Fprintln(out)
	printMainTable(out, rows)
	printMemoryTable(out, rows)
	fmt.Fprintln(out)
	fmt.Fprintf(out, "The workflow collector on with a refresh interval of 0, so that every scrape costs what the first scrape after a start costs, and %d workflows per organization.\n", seedWorkflows)
	fmt.Fprintln(out)
	printMainTable(out, workflowRows)
	for _, schedule := range schedules {
		printScheduleTable(out, schedule)
	}
	printScheduleSummary(out, schedules)
	printSweepTable(out, sweepRows)
	printDeadlineTable(out, deadlineRows)
	printTargets(out, slices.Concat(rows, workflowRows), schedules)
	fmt.Fprintf(out, "\nTestBenchTable measured for %s.\n", formatDuration(time.Since(began)))
}

// defaultRow is a row with the default page size and concurrency, the
// workflow collector off and the sequential client measured.
func defaultRow(orgs int, latency time.Duration) rowConfig {
	return rowConfig{
		orgs:        orgs,
		latency:     latency,
		concurrency: autoretouch.DefaultConcurrency,
		pageSize:    autoretouch.DefaultPageSize,
		sequential:  sequentialMeasured,
		policy:      mainPolicy,
	}
}

func measureScheduleLogged(t *testing.T, fake *fakeAPI, cfg scheduleConfig) scheduleResult {
	t.Helper()
	result := measureSchedule(t, fake, cfg)
	summary := result.summarize()
	t.Logf("measured a schedule of N=%d latency=%s interval=%s refresh=%s: first scrape %s, later scrapes %.0f requests and %s on average, %d cut",
		cfg.orgs, cfg.latency, cfg.interval, cfg.refresh(), formatDuration(result.scrapes[0].wall), summary.requests, formatDuration(summary.meanWall), summary.cut)
	return result
}

func measureLogged(t *testing.T, fake *fakeAPI, cfg rowConfig) rowResult {
	t.Helper()
	row := measureRow(t, fake, cfg)
	t.Logf("measured N=%d latency=%s concurrency=%d page size=%d workflows=%t: %s in %d scrapes, sequential %s",
		cfg.orgs, cfg.latency, cfg.concurrency, cfg.pageSize, cfg.workflows, formatDuration(row.wall), row.scrapes, formatDuration(row.sequentialWall))
	return row
}

func printMachine(w io.Writer, loadBefore string) {
	fmt.Fprintf(w, "\nMachine: %s, %d CPUs, GOMAXPROCS %d, %s %s/%s, %s\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Load average (1, 5, 15 min) before the run: %s, after: %s\n\n", loadBefore, loadAverage())
}

// loadAverage returns the first three fields of /proc/loadavg, because
// other processes on a shared machine delay the scrapes.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(data))
	if err != nil || len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(data)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

func printMainTable(w io.Writer, rows []rowResult) {
	table := markdownTable{
		header: []string{"N", "latency", "concurrency", "requests", "wall time", "bound", "ratio", "sequential wall time", "speed-up", "allocs/scrape", "bytes/scrape", "new conns/scrape", "max in flight", "scrapes"},
	}
	for _, r := range rows {
		sequential, speedUp := "–", "–"
		switch r.sequential {
		case sequentialMeasured:
			sequential = formatDuration(r.sequentialWall)
			speedUp = formatSpeedUp(float64(r.sequentialWall) / float64(r.wall))
		case sequentialEstimated:
			sequential = "≈ " + formatDuration(r.sequentialWall) + " (est.)"
			speedUp = "≈ " + formatSpeedUp(float64(r.sequentialWall)/float64(r.wall))
		}
		table.rows = append(table.rows, []string{
			formatInt(r.orgs),
			formatDuration(r.latency),
			fmt.Sprint(r.concurrency),
			formatRequests(r.requests),
			formatDuration(r.wall),
			formatDuration(r.bound),
			formatRatio(r.ratio()),
			sequential,
			speedUp,
			formatCount(r.allocs),
			formatBytes(float64(r.bytes)),
			fmt.Sprintf("%.1f", r.connections),
			fmt.Sprint(r.maxInFlight),
			scrapeCounts(r),
		})
	}
	table.write(w)
}

// scrapeCounts returns the number of exporter scrapes, and of sequential
// scrapes when they were measured.
func scrapeCounts(r rowResult) string {
	if r.sequential != sequentialMeasured {
		return fmt.Sprint(r.scrapes)
	}
	return fmt.Sprintf("%d / %d", r.scrapes, r.sequentialScrapes)
}

func printMemoryTable(w io.Writer, rows []rowResult) {
	table := markdownTable{
		header: []string{"N", "latency", "allocated/scrape", "heap before", "peak heap", "peak Go runtime memory", "GC cycles/scrape", "exposition", "conns of the first scrape"},
	}
	for _, r := range rows {
		table.rows = append(table.rows, []string{
			formatInt(r.orgs),
			formatDuration(r.latency),
			formatBytes(r.bytes),
			formatBytes(float64(r.heapBefore)),
			formatBytes(float64(r.peakHeap)),
			formatBytes(float64(r.peakRuntime)),
			fmt.Sprintf("%.1f", r.gcCycles),
			formatBytes(float64(r.exposition)),
			fmt.Sprint(r.firstConnections),
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Memory of the exporter's process during the measured scrapes (the fake API runs in another process).")
	fmt.Fprintln(w)
	table.write(w)
}

func printSweepTable(w io.Writer, rows []rowResult) {
	table := markdownTable{
		header: []string{"N", "latency", "concurrency", "page size", "requests", "wall time", "bound", "ratio", "max in flight"},
	}
	for _, r := range rows {
		table.rows = append(table.rows, []string{
			formatInt(r.orgs),
			formatDuration(r.latency),
			fmt.Sprint(r.concurrency),
			fmt.Sprint(r.pageSize),
			formatRequests(r.requests),
			formatDuration(r.wall),
			formatDuration(r.bound),
			formatRatio(r.ratio()),
			fmt.Sprint(r.maxInFlight),
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Other concurrency limits and page sizes at the target size and latency, one scrape each after a warm-up scrape.")
	fmt.Fprintln(w)
	table.write(w)
}

func printDeadlineTable(w io.Writer, rows []deadlineResult) {
	table := markdownTable{
		header: []string{"N", "latency", "workflows", "bound", "wall time", "autoretouch_up", "balances received", "balances exposed", "workflow counts exposed"},
	}
	for _, r := range rows {
		up := "0"
		if r.exposition.up {
			up = "1"
		}
		table.rows = append(table.rows, []string{
			formatInt(r.orgs),
			formatDuration(r.latency),
			fmt.Sprint(r.workflows),
			formatDuration(r.bound),
			formatDuration(r.wall),
			up,
			formatInt(r.balanceResponses),
			formatInt(r.exposition.balances),
			formatInt(r.exposition.workflows),
		})
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "One scrape of a fresh exporter with a deadline of %s, Prometheus' default scrape timeout minus the exporter's default offset.\n", formatDuration(exporterDeadline))
	fmt.Fprintln(w)
	table.write(w)
}

// printTargets prints whether the acceptance targets were met.
func printTargets(w io.Writer, rows []rowResult, schedules []scheduleResult) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	for _, r := range rows {
		if r.orgs < boundRatioMinOrgs || r.latency < boundRatioMinLatency {
			continue
		}
		collectors := "balances"
		if r.workflows {
			collectors = "balances and every workflow (the first scrape after a start)"
		}
		fmt.Fprintf(w, "- N=%d, latency %s, %s: ratio %s, target at most %.1f×: %s\n",
			r.orgs, r.latency, collectors, formatRatio(r.ratio()), maxBoundRatio, verdict(r.ratio() <= maxBoundRatio))
		if r.orgs == targetOrgs && r.latency == targetLatency {
			fmt.Fprintf(w, "- N=%d, latency %s, %s: wall time %s (bound %s), target under %s: %s. Peak heap %s, %s allocated per scrape.\n",
				r.orgs, r.latency, collectors, formatDuration(r.wall), formatDuration(r.bound), formatDuration(prometheusTimeout), verdict(r.wall < prometheusTimeout), formatBytes(float64(r.peakHeap)), formatBytes(r.bytes))
		}
	}

	for _, r := range schedules {
		s := r.summarize()
		if r.orgs >= boundRatioMinOrgs && r.latency >= boundRatioMinLatency {
			fmt.Fprintf(w, "- N=%d, latency %s, workflows refreshed: highest ratio of a complete scrape after the first %s, target at most %.1f×: %s\n",
				r.orgs, r.latency, formatRatio(s.maxRatio), maxBoundRatio, verdict(s.maxRatio <= maxBoundRatio))
		}
		if r.orgs == targetOrgs && r.latency == targetLatency {
			met := s.cut == 0 && s.maxWall < prometheusTimeout
			fmt.Fprintf(w, "- N=%d, latency %s, workflows refreshed: %d of %d scrapes after the first cut by the deadline, longest %s, target every scrape under %s: %s\n",
				r.orgs, r.latency, s.cut, len(r.later()), formatDuration(s.maxWall), formatDuration(prometheusTimeout), verdict(met))

			first, settled := r.afterFirstComplete()
			cut, longest := 0, time.Duration(0)
			for _, scrape := range settled {
				if !scrape.complete(r.orgs) {
					cut++
				}
				longest = max(longest, scrape.wall)
			}
			fmt.Fprintf(w, "- N=%d, latency %s, workflows refreshed: scrape %d was the first complete one; %d of the %d scrapes after it cut, longest %s, target every scrape under %s: %s\n",
				r.orgs, r.latency, first, cut, len(settled), formatDuration(longest), formatDuration(prometheusTimeout), verdict(first > 0 && cut == 0 && longest < prometheusTimeout))
		}
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// markdownTable writes a Markdown table whose columns are padded to line up
// in a terminal too.
type markdownTable struct {
	header []string
	rows   [][]string
}

func (t markdownTable) write(w io.Writer) {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}

	writeRow := func(cells []string) {
		fmt.Fprint(w, "|")
		for i, cell := range cells {
			fmt.Fprintf(w, " %s%s |", strings.Repeat(" ", widths[i]-len([]rune(cell))), cell)
		}
		fmt.Fprintln(w)
	}
	writeRow(t.header)
	fmt.Fprint(w, "|")
	for _, width := range widths {
		fmt.Fprintf(w, " %s: |", strings.Repeat("-", width-1))
	}
	fmt.Fprintln(w)
	for _, row := range t.rows {
		writeRow(row)
	}
}

func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func formatBytes(n float64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%.0f B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	}
}

// formatInt writes n with commas between groups of three digits.
func formatInt(n int) string {
	digits := fmt.Sprint(n)
	var out strings.Builder
	for i, digit := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out.WriteByte(',')
		}
		out.WriteRune(digit)
	}
	return out.String()
}

// formatRequests writes a whole number of requests per scrape as an integer.
func formatRequests(n float64) string {
	if n == float64(int(n)) {
		return formatInt(int(n))
	}
	return fmt.Sprintf("%.1f", n)
}

func formatCount(n float64) string {
	switch {
	case n < 10_000:
		return fmt.Sprintf("%.0f", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1fk", n/1e3)
	default:
		return fmt.Sprintf("%.2fM", n/1e6)
	}
}

func formatRatio(ratio float64) string {
	if ratio == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", ratio)
}

func formatSpeedUp(speedUp float64) string {
	if speedUp >= 100 {
		return fmt.Sprintf("%.0f×", speedUp)
	}
	return fmt.Sprintf("%.1f×", speedUp)
}
