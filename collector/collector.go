// Package collector turns what the AutoRetouch client fetches into
// Prometheus metrics. It depends on Prometheus and not on HTTP.
package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// API is the source a scrape reads from. *autoretouch.Client implements it.
type API interface {
	// WalkOrganizations calls visit once for each organization, never
	// concurrently, and returns an error when the listing is incomplete.
	WalkOrganizations(ctx context.Context, visit func(autoretouch.Organization)) (int, error)
	// Balance returns an organization's balance in credits.
	Balance(ctx context.Context, orgID string) (int64, error)
	// Workflows lists an organization's workflows with their prices.
	Workflows(ctx context.Context, orgID string) ([]autoretouch.Workflow, error)
	// Concurrency returns the maximum number of requests in flight.
	Concurrency() int
	// PausedUntil returns when the wait the API asked for ends.
	PausedUntil() time.Time
}

// Options configure a Collector.
type Options struct {
	Logger log.Logger
	// Timeout bounds a scrape whose context has no deadline.
	Timeout time.Duration
	// CacheTTL, when above 0, lets a scrape serve the last successful
	// scrape if it is younger than this.
	CacheTTL time.Duration
	// Workflows turns on the workflow collector: one more request per
	// organization and page of its workflows.
	Workflows bool
	// WorkflowsRefresh is how long an organization's workflows are reused
	// before they are fetched again; 0 fetches them on every scrape.
	WorkflowsRefresh time.Duration
}

// Collector is a prometheus.Collector that fetches every organization's
// balance and members on each scrape. Its descriptors are built once; each
// scrape builds fresh constant metrics, so an organization that was deleted
// disappears at the next scrape.
type Collector struct {
	api       API
	logger    log.Logger
	timeout   time.Duration
	cacheTTL  time.Duration
	workflows bool

	creditBalance    *prometheus.Desc
	orgMembers       *prometheus.Desc
	organizations    *prometheus.Desc
	orgScrapeSuccess *prometheus.Desc
	up               *prometheus.Desc
	scrapeDuration   *prometheus.Desc
	retryAfter       *prometheus.Desc
	cacheAge         *prometheus.Desc
	collectorSuccess *prometheus.Desc
	workflowCount    *prometheus.Desc
	workflowPrice    *prometheus.Desc

	// passes makes overlapping scrapes share one set of API calls.
	passes singleflight.Group

	cacheMu sync.Mutex
	cached  *snapshot

	workflowCache *workflowCache
}

// New returns a Collector that reads from api.
func New(api API, opts Options) *Collector {
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}

	balanceSpec := creditBalanceSpec
	if opts.CacheTTL > 0 {
		balanceSpec.help += fmt.Sprintf(" May come from the cache of the last successful scrape, at most %s old.", opts.CacheTTL)
	}
	priceSpec := workflowPriceSpec
	if opts.WorkflowsRefresh > 0 {
		priceSpec.help += fmt.Sprintf(" At most %s old.", opts.WorkflowsRefresh)
	}

	return &Collector{
		api:           api,
		logger:        opts.Logger,
		timeout:       opts.Timeout,
		cacheTTL:      opts.CacheTTL,
		workflows:     opts.Workflows,
		workflowCache: newWorkflowCache(opts.WorkflowsRefresh),

		creditBalance:    balanceSpec.desc(),
		orgMembers:       orgMembersSpec.desc(),
		organizations:    organizationsSpec.desc(),
		orgScrapeSuccess: orgScrapeSuccessSpec.desc(),
		up:               upSpec.desc(),
		scrapeDuration:   scrapeDurationSpec.desc(),
		retryAfter:       retryAfterSpec.desc(),
		cacheAge:         cacheAgeSpec.desc(),
		collectorSuccess: orgCollectorSuccessSpec.desc(),
		workflowCount:    workflowsSpec.desc(),
		workflowPrice:    priceSpec.desc(),
	}
}

// Describe sends every descriptor the collector may use.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.creditBalance
	ch <- c.orgMembers
	ch <- c.organizations
	ch <- c.orgScrapeSuccess
	ch <- c.up
	ch <- c.scrapeDuration
	ch <- c.retryAfter
	ch <- c.collectorSuccess
	if c.cacheTTL > 0 {
		ch <- c.cacheAge
	}
	if c.workflows {
		ch <- c.workflowCount
		ch <- c.workflowPrice
	}
}

// Collect scrapes with the collector's own timeout. An HTTP handler should
// use WithContext instead, so that the scrape ends with the request.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.collect(ctx, ch)
}

// WithContext returns a prometheus.Collector whose scrapes end when ctx does.
func (c *Collector) WithContext(ctx context.Context) prometheus.Collector {
	return &boundCollector{parent: c, ctx: ctx}
}

type boundCollector struct {
	parent *Collector
	ctx    context.Context
}

func (b *boundCollector) Describe(ch chan<- *prometheus.Desc) { b.parent.Describe(ch) }
func (b *boundCollector) Collect(ch chan<- prometheus.Metric) { b.parent.collect(b.ctx, ch) }

// collect sends the metrics of one scrape.
func (c *Collector) collect(ctx context.Context, ch chan<- prometheus.Metric) {
	snap, age := c.snapshot(ctx)

	ch <- prometheus.MustNewConstMetric(c.scrapeDuration, prometheus.GaugeValue, snap.duration.Seconds())
	ch <- prometheus.MustNewConstMetric(c.retryAfter, prometheus.GaugeValue, max(time.Until(c.api.PausedUntil()).Seconds(), 0))
	if c.cacheTTL > 0 {
		ch <- prometheus.MustNewConstMetric(c.cacheAge, prometheus.GaugeValue, age.Seconds())
	}

	if snap.listErr != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.organizations, prometheus.GaugeValue, float64(len(snap.orgs)))

	for _, org := range snap.orgs {
		c.collectOrganization(ch, org)
	}
}

func (c *Collector) collectOrganization(ch chan<- prometheus.Metric, org *orgResult) {
	success := org.balanceErr == nil
	c.sendSuccess(ch, org, endpointBalance, org.balanceErr == nil)
	if org.balanceErr == nil {
		ch <- prometheus.MustNewConstMetric(c.creditBalance, prometheus.GaugeValue, float64(org.balance), org.id, org.name)
	}

	for role, count := range org.roles {
		ch <- prometheus.MustNewConstMetric(c.orgMembers, prometheus.GaugeValue, float64(count), org.id, org.name, role)
	}

	if c.workflows {
		success = success && org.workflowsErr == nil
		c.sendSuccess(ch, org, endpointWorkflows, org.workflowsErr == nil)
		if org.workflowsErr == nil {
			c.collectWorkflows(ch, org)
		}
	}

	ch <- prometheus.MustNewConstMetric(c.orgScrapeSuccess, prometheus.GaugeValue, boolValue(success), org.id, org.name)
}

// collectWorkflows sends an organization's workflow count and the price of
// each workflow whose price is known.
func (c *Collector) collectWorkflows(ch chan<- prometheus.Metric, org *orgResult) {
	ch <- prometheus.MustNewConstMetric(c.workflowCount, prometheus.GaugeValue, float64(len(org.workflows)), org.id, org.name)
	for _, workflow := range org.workflows {
		if workflow.HasPrice {
			ch <- prometheus.MustNewConstMetric(c.workflowPrice, prometheus.GaugeValue, float64(workflow.ExecutionPrice), org.id, org.name, workflow.ID, workflow.Name)
		}
	}
}

func (c *Collector) sendSuccess(ch chan<- prometheus.Metric, org *orgResult, part string, ok bool) {
	ch <- prometheus.MustNewConstMetric(c.collectorSuccess, prometheus.GaugeValue, boolValue(ok), org.id, org.name, part)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
