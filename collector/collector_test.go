package collector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
	"github.com/autoretouch/autoretouch_exporter/collector"
)

// scrapeMetrics are the per-scrape metrics whose values do not depend on
// timing, so they can be compared exactly.
var scrapeMetrics = []string{
	"autoretouch_credit_balance",
	"autoretouch_org_members",
	"autoretouch_organizations",
	"autoretouch_org_scrape_success",
	"autoretouch_up",
}

const expectedHelp = `# HELP autoretouch_credit_balance Credits left in the organization. One credit is one euro cent, excluding VAT. Absent when the balance could not be fetched in this scrape.
# TYPE autoretouch_credit_balance gauge
# HELP autoretouch_org_members Members of the organization holding the role. The roles "admin" and "operator" are always present; a member with several roles counts under each.
# TYPE autoretouch_org_members gauge
# HELP autoretouch_org_scrape_success 1 when everything for the organization was fetched in this scrape, 0 otherwise. autoretouch_org_collector_success tells which part failed.
# TYPE autoretouch_org_scrape_success gauge
# HELP autoretouch_organizations Organizations the credentials can see. Absent when the listing failed.
# TYPE autoretouch_organizations gauge
# HELP autoretouch_up 1 when the organization listing succeeded in this scrape, 0 otherwise.
# TYPE autoretouch_up gauge
`

type testEnv struct {
	server    *autoretouchtest.Server
	client    *autoretouch.Client
	collector *collector.Collector
	logs      *testsupport.SyncBuffer
}

func newTestEnv(t *testing.T, pageSize int, opts collector.Options) *testEnv {
	t.Helper()
	server := autoretouchtest.NewServer()
	t.Cleanup(server.Close)

	client, err := autoretouch.New(autoretouch.Options{
		APIURL:      server.URL,
		Credentials: autoretouch.StaticToken(autoretouchtest.DefaultToken),
		PageSize:    pageSize,
		Concurrency: 4,
	})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}

	logs := &testsupport.SyncBuffer{}
	opts.Logger = log.NewLogfmtLogger(logs)
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	return &testEnv{server: server, client: client, collector: collector.New(client, opts), logs: logs}
}

func org(id, name string, balance int64, members ...autoretouchtest.Member) autoretouchtest.Organization {
	return autoretouchtest.Organization{ID: id, Name: name, Balance: balance, Members: members}
}

func member(id string, roles ...string) autoretouchtest.Member {
	return autoretouchtest.Member{ID: id, GivenName: "Given " + id, FamilyName: "Family", Email: id + "@example.com", Roles: roles}
}

func (e *testEnv) compare(t *testing.T, expected string) {
	t.Helper()
	if err := testutil.CollectAndCompare(e.collector, strings.NewReader(expectedHelp+expected), scrapeMetrics...); err != nil {
		t.Errorf("unexpected metrics:\n%v\nlogs:\n%s", err, e.logs)
	}
}

func TestCollectorSeveralPages(t *testing.T) {
	env := newTestEnv(t, 2, collector.Options{})
	env.server.AddOrganization(org("id-1", "One", 100, member("m1", "admin")))
	env.server.AddOrganization(org("id-2", "Two", 200, member("m2", "operator")))
	env.server.AddOrganization(org("id-3", "Three", -5, member("m3", "admin")))
	env.server.AddOrganization(org("id-4", "Four", 0))
	env.server.AddOrganization(org("id-5", "Five", 6820, member("m5", "admin")))

	env.compare(t, `
autoretouch_credit_balance{org="One",org_id="id-1"} 100
autoretouch_credit_balance{org="Two",org_id="id-2"} 200
autoretouch_credit_balance{org="Three",org_id="id-3"} -5
autoretouch_credit_balance{org="Four",org_id="id-4"} 0
autoretouch_credit_balance{org="Five",org_id="id-5"} 6820
autoretouch_org_members{org="One",org_id="id-1",role="admin"} 1
autoretouch_org_members{org="One",org_id="id-1",role="operator"} 0
autoretouch_org_members{org="Two",org_id="id-2",role="admin"} 0
autoretouch_org_members{org="Two",org_id="id-2",role="operator"} 1
autoretouch_org_members{org="Three",org_id="id-3",role="admin"} 1
autoretouch_org_members{org="Three",org_id="id-3",role="operator"} 0
autoretouch_org_members{org="Four",org_id="id-4",role="admin"} 0
autoretouch_org_members{org="Four",org_id="id-4",role="operator"} 0
autoretouch_org_members{org="Five",org_id="id-5",role="admin"} 1
autoretouch_org_members{org="Five",org_id="id-5",role="operator"} 0
autoretouch_org_scrape_success{org="One",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Two",org_id="id-2"} 1
autoretouch_org_scrape_success{org="Three",org_id="id-3"} 1
autoretouch_org_scrape_success{org="Four",org_id="id-4"} 1
autoretouch_org_scrape_success{org="Five",org_id="id-5"} 1
autoretouch_organizations 5
autoretouch_up 1
`)

	if got := env.server.Requests(autoretouchtest.EndpointOrganizations); got != 3 {
		t.Errorf("listing requests = %d, want 3 pages of 2 for 5 organizations", got)
	}
	if got := env.server.Requests(autoretouchtest.EndpointBalance); got != 5 {
		t.Errorf("balance requests = %d, want one per organization", got)
	}
}

func TestCollectorRoles(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "Roles", 1,
		member("m1", "admin", "operator"),
		member("m2", "operator"),
		member("m3", "billing"),
		member("m4", "admin", "admin"),
		member("m5"),
	))

	env.compare(t, `
autoretouch_credit_balance{org="Roles",org_id="id-1"} 1
autoretouch_org_members{org="Roles",org_id="id-1",role="admin"} 2
autoretouch_org_members{org="Roles",org_id="id-1",role="operator"} 2
autoretouch_org_members{org="Roles",org_id="id-1",role="billing"} 1
autoretouch_org_scrape_success{org="Roles",org_id="id-1"} 1
autoretouch_organizations 1
autoretouch_up 1
`)
}

func TestCollectorNoOrganizations(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})

	env.compare(t, `
autoretouch_organizations 0
autoretouch_up 1
`)
}

func TestCollectorBalanceFailure(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-ok", "Healthy", 500, member("m1", "admin")))
	env.server.AddOrganization(org("id-bad", "Broken", 700, member("m2", "admin")))
	env.server.SetFault(autoretouchtest.EndpointBalance, "id-bad", autoretouchtest.Fault{Status: 500, Body: `{"status":500,"error":"Internal Server Error"}`})

	env.compare(t, `
autoretouch_credit_balance{org="Healthy",org_id="id-ok"} 500
autoretouch_org_members{org="Broken",org_id="id-bad",role="admin"} 1
autoretouch_org_members{org="Broken",org_id="id-bad",role="operator"} 0
autoretouch_org_members{org="Healthy",org_id="id-ok",role="admin"} 1
autoretouch_org_members{org="Healthy",org_id="id-ok",role="operator"} 0
autoretouch_org_scrape_success{org="Broken",org_id="id-bad"} 0
autoretouch_org_scrape_success{org="Healthy",org_id="id-ok"} 1
autoretouch_organizations 2
autoretouch_up 1
`)

	logs := env.logs.String()
	if !strings.Contains(logs, `msg="fetching balance failed" org_id=id-bad endpoint=balance status=500`) {
		t.Errorf("log does not name the failed organization, endpoint and status:\n%s", logs)
	}
}

func TestCollectorMalformedBalances(t *testing.T) {
	bodies := []string{"null", "", `"6820"`, "12.5", "99999999999999999999", "<html><body>Bad gateway</body></html>"}
	for _, body := range bodies {
		t.Run(body, func(t *testing.T) {
			env := newTestEnv(t, 50, collector.Options{})
			env.server.AddOrganization(org("id-1", "Malformed", 100))
			fault := autoretouchtest.Fault{Body: body}
			if body == "" {
				fault = autoretouchtest.Fault{Status: 200, Body: ""}
			}
			env.server.SetFault(autoretouchtest.EndpointBalance, "id-1", fault)

			env.compare(t, `
autoretouch_org_members{org="Malformed",org_id="id-1",role="admin"} 0
autoretouch_org_members{org="Malformed",org_id="id-1",role="operator"} 0
autoretouch_org_scrape_success{org="Malformed",org_id="id-1"} 0
autoretouch_organizations 1
autoretouch_up 1
`)
		})
	}
}

func TestCollectorListingFailure(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "One", 100))
	env.server.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{Status: 403, Body: `{"status":403,"error":"Forbidden"}`})

	env.compare(t, `
autoretouch_up 0
`)
	if got := env.server.Requests(autoretouchtest.EndpointBalance); got != 0 {
		t.Errorf("balance requests = %d after a failed listing, want 0", got)
	}
	if !strings.Contains(env.logs.String(), `msg="listing organizations failed" endpoint=organizations status=403`) {
		t.Errorf("log does not report the failed listing with its status:\n%s", env.logs)
	}
}

func TestCollectorLabelEscaping(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "Quote \" back\\slash\nnew line 📷", 42))

	env.compare(t, `
autoretouch_credit_balance{org="Quote \" back\\slash\nnew line 📷",org_id="id-1"} 42
autoretouch_org_members{org="Quote \" back\\slash\nnew line 📷",org_id="id-1",role="admin"} 0
autoretouch_org_members{org="Quote \" back\\slash\nnew line 📷",org_id="id-1",role="operator"} 0
autoretouch_org_scrape_success{org="Quote \" back\\slash\nnew line 📷",org_id="id-1"} 1
autoretouch_organizations 1
autoretouch_up 1
`)
}

func TestCollectorPersonalDataNeverExposed(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "Studio", 42, autoretouchtest.Member{
		ID: "auth0|member", GivenName: "Ada", FamilyName: "Lovelace", Email: "ada@example.com", Roles: []string{"admin"},
	}))

	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(env.collector)
	families, err := registry.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}

	var exposition strings.Builder
	for _, family := range families {
		exposition.WriteString(family.String())
	}
	for _, personal := range []string{"Ada", "Lovelace", "ada@example.com", "auth0|member"} {
		if strings.Contains(exposition.String(), personal) {
			t.Errorf("metrics contain the personal value %q", personal)
		}
	}
}

func TestCollectorDeletedOrganizationDisappears(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "Stays", 10))
	env.server.AddOrganization(org("id-2", "Goes", 20))

	if got := testutil.CollectAndCount(env.collector, "autoretouch_credit_balance"); got != 2 {
		t.Fatalf("first scrape has %d balances, want 2", got)
	}

	env.server.RemoveOrganization("id-2")
	env.server.SetBalance("id-1", 5)
	env.compare(t, `
autoretouch_credit_balance{org="Stays",org_id="id-1"} 5
autoretouch_org_members{org="Stays",org_id="id-1",role="admin"} 0
autoretouch_org_members{org="Stays",org_id="id-1",role="operator"} 0
autoretouch_org_scrape_success{org="Stays",org_id="id-1"} 1
autoretouch_organizations 1
autoretouch_up 1
`)
}

func TestCollectorDeadline(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-fast", "Fast", 10))
	env.server.AddOrganization(org("id-stalled", "Stalled", 20))
	env.server.SetFault(autoretouchtest.EndpointBalance, "id-stalled", autoretouchtest.Fault{Stall: true})

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	registry := prometheus.NewRegistry()
	registry.MustRegister(env.collector.WithContext(ctx))

	start := time.Now()
	err := testutil.GatherAndCompare(registry, strings.NewReader(expectedHelp+`
autoretouch_credit_balance{org="Fast",org_id="id-fast"} 10
autoretouch_org_members{org="Fast",org_id="id-fast",role="admin"} 0
autoretouch_org_members{org="Fast",org_id="id-fast",role="operator"} 0
autoretouch_org_members{org="Stalled",org_id="id-stalled",role="admin"} 0
autoretouch_org_members{org="Stalled",org_id="id-stalled",role="operator"} 0
autoretouch_org_scrape_success{org="Fast",org_id="id-fast"} 1
autoretouch_org_scrape_success{org="Stalled",org_id="id-stalled"} 0
autoretouch_organizations 2
autoretouch_up 1
`), scrapeMetrics...)
	if err != nil {
		t.Errorf("unexpected metrics:\n%v", err)
	}
	// The bound is generous because the machines are shared; what matters
	// is that the scrape did not wait for the stalled request.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("scrape took %s with a 500ms deadline", elapsed)
	}
}

func TestCollectorOverlappingScrapesShareOnePass(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	env.server.AddOrganization(org("id-1", "One", 10))
	env.server.SetLatency(200 * time.Millisecond)

	var scrapes sync.WaitGroup
	for range 5 {
		scrapes.Go(func() {
			if got := testutil.CollectAndCount(env.collector, "autoretouch_credit_balance"); got != 1 {
				t.Errorf("scrape has %d balances, want 1", got)
			}
		})
	}
	scrapes.Wait()

	if got := env.server.Requests(autoretouchtest.EndpointOrganizations); got != 1 {
		t.Errorf("listing requests = %d for 5 overlapping scrapes, want 1", got)
	}
	if got := env.server.Requests(autoretouchtest.EndpointBalance); got != 1 {
		t.Errorf("balance requests = %d for 5 overlapping scrapes, want 1", got)
	}
}

func TestCollectorCache(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{CacheTTL: time.Hour})
	env.server.AddOrganization(org("id-1", "One", 10))

	first := testutil.CollectAndCount(env.collector, "autoretouch_credit_balance")
	env.server.SetBalance("id-1", 5)
	second := testutil.CollectAndCount(env.collector, "autoretouch_credit_balance")

	if first != 1 || second != 1 {
		t.Fatalf("balances per scrape = %d and %d, want 1 and 1", first, second)
	}
	if got := env.server.Requests(autoretouchtest.EndpointOrganizations); got != 1 {
		t.Errorf("listing requests = %d for two scrapes inside the TTL, want 1", got)
	}
}

func TestCollectorCacheExpiredAndFailing(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{CacheTTL: 100 * time.Millisecond})
	env.server.AddOrganization(org("id-1", "One", 10))

	if got := testutil.CollectAndCount(env.collector, "autoretouch_credit_balance"); got != 1 {
		t.Fatalf("first scrape has %d balances, want 1", got)
	}
	time.Sleep(150 * time.Millisecond)
	env.server.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{Status: 500})

	env.compare(t, `
autoretouch_up 0
`)
}

func TestCollectorLint(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{CacheTTL: time.Minute})
	env.server.AddOrganization(org("id-1", "One", 10, member("m1", "admin")))

	problems, err := testutil.CollectAndLint(env.collector)
	if err != nil {
		t.Fatalf("linting: %v", err)
	}
	for _, problem := range problems {
		t.Errorf("lint: %s: %s", problem.Metric, problem.Text)
	}
}

func TestCollectorRoleLimit(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{})
	roles := make([]string, 0, 100)
	for i := range 100 {
		roles = append(roles, fmt.Sprintf("role-%03d", i))
	}
	env.server.AddOrganization(org("id-1", "Many roles", 1, member("m1", roles...)))

	if got := testutil.CollectAndCount(env.collector, "autoretouch_org_members"); got != 20 {
		t.Errorf("org_members series = %d for 100 roles, want the limit of 20", got)
	}
	if !strings.Contains(env.logs.String(), "more distinct roles than are exposed") {
		t.Errorf("log does not report the dropped roles:\n%s", env.logs)
	}
}
