package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
	"github.com/autoretouch/autoretouch_exporter/collector"
)

// scrapeTimeout bounds one scrape in the benchmarks. It is far above
// Prometheus' default scrape timeout of 10 s, so that a slow configuration
// is measured to its end instead of being cut off.
const scrapeTimeout = 5 * time.Minute

// exporterOptions are the settings the benchmarks vary. The zero value
// selects the client's and the collector's defaults: page size 50,
// concurrency 32 and the workflow collector off. The command line turns the
// workflow collector on by default, with a refresh interval of 15 minutes.
type exporterOptions struct {
	pageSize    int
	concurrency int
	workflows   bool
	// workflowsRefresh is collector.Options.WorkflowsRefresh. With 0, every
	// scrape fetches every organization's workflows, as the first scrape
	// after a start does.
	workflowsRefresh time.Duration
}

// exporter is the exporter under test: the real client and collector, wired
// as main.go wires them, and scraped as its /metrics handler scrapes them.
type exporter struct {
	client    *autoretouch.Client
	collector *collector.Collector
	workflows bool
	// self holds the exporter's own request metrics, which every API
	// request updates.
	self     *prometheus.Registry
	recorder expositionRecorder
}

// newExporter builds a client for apiURL and a collector on it.
func newExporter(tb testing.TB, apiURL string, opts exporterOptions) *exporter {
	tb.Helper()
	endpoints := []string{"organizations", "balance"}
	if opts.workflows {
		endpoints = append(endpoints, "workflows")
	}
	self := prometheus.NewRegistry()
	apiMetrics := collector.NewAPIMetrics(self, endpoints...)

	client, err := autoretouch.New(autoretouch.Options{
		APIURL:         apiURL,
		Credentials:    autoretouch.StaticToken(autoretouchtest.DefaultToken),
		PageSize:       opts.pageSize,
		Concurrency:    opts.concurrency,
		ObserveRequest: apiMetrics.ObserveRequest,
	})
	if err != nil {
		tb.Fatalf("creating the client: %v", err)
	}

	return &exporter{
		client:    client,
		collector: collector.New(client, collector.Options{Timeout: scrapeTimeout, Workflows: opts.workflows, WorkflowsRefresh: opts.workflowsRefresh}),
		workflows: opts.workflows,
		self:      self,
		recorder:  expositionRecorder{header: make(http.Header)},
	}
}

// scrape serves one /metrics request the way the exporter's handler does: a
// fresh registry for the collector bound to the request's context, gathered
// together with the exporter's own registry by promhttp, in the text format
// without compression. It returns what the exposition contains.
func (e *exporter) scrape(ctx context.Context) (exposition, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()

	scrapeRegistry := prometheus.NewRegistry()
	scrapeRegistry.MustRegister(e.collector.WithContext(ctx))
	handler := promhttp.HandlerFor(prometheus.Gatherers{e.self, scrapeRegistry}, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})

	request := httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil)
	request.Header.Set("Accept", "text/plain;version=0.0.4")
	e.recorder.reset()
	handler.ServeHTTP(&e.recorder, request)

	if e.recorder.status != http.StatusOK {
		return exposition{}, fmt.Errorf("/metrics returned status %d: %.200s", e.recorder.status, e.recorder.body.Bytes())
	}
	return parseExposition(e.recorder.body.Bytes()), nil
}

// balanceResponses returns how many balance requests of the exporter got a
// 200 response since it was created, from its own
// autoretouch_api_requests_total. The exposition cannot tell, because it
// gathers these counters before the scrape's requests.
func (e *exporter) balanceResponses(tb testing.TB) int {
	tb.Helper()
	families, err := e.self.Gather()
	if err != nil {
		tb.Fatalf("gathering the exporter's request metrics: %v", err)
	}
	for _, family := range families {
		if family.GetName() != "autoretouch_api_requests_total" {
			continue
		}
		for _, metric := range family.GetMetric() {
			labels := make(map[string]string)
			for _, pair := range metric.GetLabel() {
				labels[pair.GetName()] = pair.GetValue()
			}
			if labels["endpoint"] == "balance" && labels["code"] == "200" {
				return int(metric.GetCounter().GetValue())
			}
		}
	}
	return 0
}

// mustScrape scrapes and fails the benchmark unless the scrape exposed the
// balance, and the workflows when they are on, of every one of orgs
// organizations.
func (e *exporter) mustScrape(tb testing.TB, orgs int) {
	tb.Helper()
	result, err := e.scrape(context.Background())
	if err != nil {
		tb.Fatalf("scrape failed: %v", err)
	}
	if err := result.check(orgs, e.workflows); err != nil {
		tb.Fatalf("incomplete scrape: %v", err)
	}
}

// expositionRecorder is an http.ResponseWriter that keeps the last body in a
// buffer it reuses, so that recording adds almost no allocations to a scrape
// once the buffer has grown. A real /metrics response streams to a socket
// instead.
type expositionRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *expositionRecorder) Header() http.Header { return r.header }

func (r *expositionRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *expositionRecorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

func (r *expositionRecorder) reset() {
	clear(r.header)
	r.status = 0
	r.body.Reset()
}

// exposition is the part of a scrape's text exposition that the
// completeness check reads.
type exposition struct {
	up            bool
	organizations int // value of autoretouch_organizations
	balances      int // number of autoretouch_credit_balance series
	workflows     int // number of autoretouch_workflows series
	bytes         int
}

// parseExposition reads the lines a completeness check needs, without
// allocating per line.
func parseExposition(text []byte) exposition {
	result := exposition{bytes: len(text)}
	for len(text) > 0 {
		var line []byte
		line, text, _ = bytes.Cut(text, []byte{'\n'})

		switch {
		case bytes.HasPrefix(line, []byte("autoretouch_credit_balance{")):
			result.balances++
		case bytes.HasPrefix(line, []byte("autoretouch_workflows{")):
			result.workflows++
		case bytes.HasPrefix(line, []byte("autoretouch_up ")):
			result.up = string(bytes.TrimPrefix(line, []byte("autoretouch_up "))) == "1"
		case bytes.HasPrefix(line, []byte("autoretouch_organizations ")):
			value, err := strconv.Atoi(string(bytes.TrimPrefix(line, []byte("autoretouch_organizations "))))
			if err == nil {
				result.organizations = value
			}
		}
	}
	return result
}

// check returns an error unless the exposition contains the balance of each of
// orgs organizations, and its workflow count when workflows is true.
func (x exposition) check(orgs int, workflows bool) error {
	if !x.up {
		return fmt.Errorf("autoretouch_up is not 1, so the organization listing failed (%d bytes of exposition)", x.bytes)
	}
	if x.organizations != orgs {
		return fmt.Errorf("autoretouch_organizations is %d, expected %d", x.organizations, orgs)
	}
	if x.balances != orgs {
		return fmt.Errorf("%d autoretouch_credit_balance series, expected one for each of %d organizations", x.balances, orgs)
	}
	if workflows && x.workflows != orgs {
		return fmt.Errorf("%d autoretouch_workflows series, expected one for each of %d organizations", x.workflows, orgs)
	}
	return nil
}

// sequentialClient is the simplest way to fetch every balance: one request at
// a time, every page of the organization listing, then every balance, over a
// plain net/http client.
type sequentialClient struct {
	apiURL     string
	pageSize   int
	httpClient *http.Client
}

func newSequentialClient(apiURL string) *sequentialClient {
	return &sequentialClient{
		apiURL:     apiURL,
		pageSize:   autoretouch.DefaultPageSize,
		httpClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
}

// maxSequentialPages bounds the listing loop, so that a wrong total cannot
// make it run without end.
const maxSequentialPages = 10_000

// balances returns the balance of every organization, by id.
func (s *sequentialClient) balances(ctx context.Context) (map[string]int64, error) {
	var ids []string
	for offset, page := 0, 0; page < maxSequentialPages; offset, page = offset+s.pageSize, page+1 {
		var listing struct {
			Entries []struct {
				ID string `json:"id"`
			} `json:"entries"`
			Total int `json:"total"`
		}
		body, err := s.get(ctx, fmt.Sprintf("/v1/organization?limit=%d&offset=%d", s.pageSize, offset))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &listing); err != nil {
			return nil, fmt.Errorf("decoding the page at offset %d: %w", offset, err)
		}

		for _, entry := range listing.Entries {
			ids = append(ids, entry.ID)
		}
		if len(listing.Entries) == 0 || offset+s.pageSize >= listing.Total {
			break
		}
	}

	balances := make(map[string]int64, len(ids))
	for _, id := range ids {
		body, err := s.get(ctx, "/v1/organization/balance?organization="+url.QueryEscape(id))
		if err != nil {
			return nil, err
		}
		balance, err := strconv.ParseInt(string(bytes.TrimSpace(body)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid balance of organization %s: %w", id, err)
		}
		balances[id] = balance
	}
	return balances, nil
}

func (s *sequentialClient) get(ctx context.Context, path string) ([]byte, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, s.apiURL+path, nil)
	if err != nil {
		return nil, err
	}
	request.Header.Set("Authorization", "Bearer "+autoretouchtest.DefaultToken)

	response, err := s.httpClient.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()

	body, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the body: %w", path, err)
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %.200s", path, response.StatusCode, body)
	}
	return body, nil
}

// mustScrape fetches every balance and fails the benchmark unless there is
// one for each of orgs organizations.
func (s *sequentialClient) mustScrape(tb testing.TB, orgs int) {
	tb.Helper()
	balances, err := s.balances(context.Background())
	if err != nil {
		tb.Fatalf("sequential scrape failed: %v", err)
	}
	if len(balances) != orgs {
		tb.Fatalf("sequential scrape fetched %d balances, expected %d", len(balances), orgs)
	}
}
