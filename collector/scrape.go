package collector

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// Endpoint names of the requests a scrape makes per organization, as the
// client names them in errors and request metrics.
const (
	endpointBalance   = "balance"
	endpointWorkflows = "workflows"
)

// passGrace is how long before a scrape's deadline the pass over the API
// stops, at most a quarter of the time left, so that the scrape can still
// expose what the pass fetched.
const passGrace = 200 * time.Millisecond

// maxRoles bounds the distinct roles exposed for one organization. The API
// documents two, and an API that sent thousands would otherwise create as
// many series.
const maxRoles = 20

// defaultRoles are exposed for every organization, as 0 when no member holds
// them, so that a query for "no admin left" has a series to match.
var defaultRoles = []string{"admin", "operator"}

// snapshot is the data one pass over the API fetched.
type snapshot struct {
	// listErr is set when the organization listing failed; orgs is then empty.
	listErr  error
	orgs     []*orgResult
	duration time.Duration
	finished time.Time
}

// orgResult is one organization's part of a snapshot. It keeps role counts
// rather than members, so that its size does not grow with the team.
type orgResult struct {
	id    string
	name  string
	roles map[string]int
	// droppedRoles counts the roles beyond maxRoles that are not exposed.
	droppedRoles int
	balance      int64
	balanceErr   error

	// workflows and workflowsErr are written only when the workflow
	// collector is on. workflowsFetched is true for a fetch in this
	// scrape and false for an entry of the workflow cache.
	workflows        []autoretouch.Workflow
	workflowsErr     error
	workflowsFetched bool
}

// fetchJob is one request a scrape makes for an organization.
type fetchJob struct {
	org      *orgResult
	endpoint string
}

func newOrgResult(org autoretouch.Organization) *orgResult {
	result := &orgResult{id: org.ID, name: org.Name, roles: make(map[string]int, len(defaultRoles))}
	for _, role := range defaultRoles {
		result.roles[role] = 0
	}

	for _, member := range org.Members {
		held := make(map[string]bool, len(member.Roles))
		for _, role := range member.Roles {
			if role == "" || held[role] {
				continue
			}
			held[role] = true
			if _, known := result.roles[role]; !known && len(result.roles) >= maxRoles {
				result.droppedRoles++
				continue
			}
			result.roles[role]++
		}
	}
	return result
}

// snapshot returns the data for one scrape, and its age when it came from
// the cache. Scrapes that overlap share one pass over the API.
func (c *Collector) snapshot(ctx context.Context) (*snapshot, time.Duration) {
	if snap := c.cachedSnapshot(); snap != nil {
		return snap, time.Since(snap.finished)
	}

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.timeout)
	}
	// The pass stops a little before the scrape's deadline, so that it can
	// hand over what it fetched while the scrape may still respond.
	passDeadline := deadline.Add(-min(passGrace, time.Until(deadline)/4))

	results := c.passes.DoChan("scrape", func() (any, error) {
		// The pass outlives a caller that goes away, so that the callers
		// sharing it still get a result, but never its deadline.
		passCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), passDeadline)
		defer cancel()

		snap := c.fetch(passCtx)
		c.storeSnapshot(snap)
		return snap, nil
	})

	select {
	case result := <-results:
		return result.Val.(*snapshot), 0
	case <-ctx.Done():
		// NOTE: a scrape that joins a pass started by another scrape gets
		// that pass's deadline, even when its own is later.
		err := ctx.Err()
		_ = level.Warn(c.logger).Log("msg", "scrape ended before the shared pass over the API finished", "err", err)
		return &snapshot{listErr: err, finished: time.Now()}, 0
	}
}

func (c *Collector) cachedSnapshot() *snapshot {
	if c.cacheTTL <= 0 {
		return nil
	}

	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.cached == nil || time.Since(c.cached.finished) >= c.cacheTTL {
		return nil
	}
	return c.cached
}

// storeSnapshot keeps a snapshot whose listing succeeded for the cache.
func (c *Collector) storeSnapshot(snap *snapshot) {
	if c.cacheTTL <= 0 || snap.listErr != nil {
		return
	}

	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	c.cached = snap
}

// fetch lists the organizations and fetches each one's balance, and its
// workflows when that collector is on, as soon as its page arrives, with as
// many workers as the client allows requests in flight.
func (c *Collector) fetch(ctx context.Context) *snapshot {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		orgs      []*orgResult
		jobs      = newJobQueue()
		failures  = newFailureLog(c.logger)
		workers   sync.WaitGroup
		workflows = c.workflowCache.snapshot(time.Now())
	)
	for range c.api.Concurrency() {
		workers.Go(func() {
			for job, ok := jobs.pop(); ok; job, ok = jobs.pop() {
				c.runJob(ctx, job, failures)
			}
		})
	}

	_, listErr := c.api.WalkOrganizations(ctx, func(org autoretouch.Organization) {
		result := newOrgResult(org)
		if result.droppedRoles > 0 {
			_ = level.Warn(c.logger).Log("msg", "organization has more distinct roles than are exposed", "org_id", org.ID, "max_roles", maxRoles, "dropped", result.droppedRoles)
		}
		orgs = append(orgs, result)
		jobs.push(fetchJob{org: result, endpoint: endpointBalance})
		if !c.workflows {
			return
		}
		if cached, ok := workflows[org.ID]; ok {
			result.workflows = cached
			return
		}
		jobs.push(fetchJob{org: result, endpoint: endpointWorkflows})
	})
	if listErr != nil {
		cancel()
	}
	jobs.close()
	workers.Wait()

	snap := &snapshot{duration: time.Since(start), finished: time.Now()}
	if listErr != nil {
		snap.listErr = listErr
		_ = level.Error(c.logger).Log(withStatus(listErr, "msg", "listing organizations failed", "endpoint", "organizations")...)
		return snap
	}
	snap.orgs = orgs
	if c.workflows {
		c.workflowCache.update(orgs, snap.finished)
	}
	failures.summarize()
	return snap
}

// runJob makes one request of a scrape and stores its result in the
// organization's part of the snapshot.
func (c *Collector) runJob(ctx context.Context, job fetchJob, failures *failureLog) {
	var err error
	switch job.endpoint {
	case endpointBalance:
		job.org.balance, job.org.balanceErr = c.api.Balance(ctx, job.org.id)
		err = job.org.balanceErr
	case endpointWorkflows:
		job.org.workflows, job.org.workflowsErr = c.api.Workflows(ctx, job.org.id)
		job.org.workflowsFetched = true
		err = job.org.workflowsErr
	}

	if err != nil {
		failures.failed(job.endpoint, job.org.id, err)
	}
}

// withStatus appends the HTTP status behind err, when it has one, and err
// itself to keyvals, so that a failure without a response is not logged
// with a misleading status of 0.
func withStatus(err error, keyvals ...any) []any {
	if status := autoretouch.StatusCode(err); status != 0 {
		keyvals = append(keyvals, "status", status)
	}
	return append(keyvals, "err", err)
}

// failureLog logs each request for an organization that failed, except when
// the cause is the scrape's deadline or a Retry-After wait: those hit every
// request left at once, so they are counted and summarised in one line.
type failureLog struct {
	logger  log.Logger
	mu      sync.Mutex
	skipped map[string]int
}

func newFailureLog(logger log.Logger) *failureLog {
	return &failureLog{logger: logger, skipped: make(map[string]int)}
}

func (f *failureLog) failed(endpoint, orgID string, err error) {
	var rateLimited *autoretouch.RateLimitedError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		f.count("scrape deadline reached")
	case errors.Is(err, context.Canceled):
		f.count("scrape cancelled")
	case errors.As(err, &rateLimited):
		f.count("API asked to wait (Retry-After)")
	default:
		_ = level.Warn(f.logger).Log(withStatus(err, "msg", "fetching "+endpoint+" failed", "org_id", orgID, "endpoint", endpoint)...)
	}
}

func (f *failureLog) count(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipped[reason]++
}

func (f *failureLog) summarize() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for reason, n := range f.skipped {
		_ = level.Warn(f.logger).Log("msg", "requests for organizations cut short", "reason", reason, "requests", n)
	}
}
