package bench

import (
	"context"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// TestCutScrapeKeepsBalances checks a scrape that its deadline cuts while
// workflow requests are still waiting. It must expose autoretouch_up 1 and
// the balances of most organizations, and lose workflow counts rather than
// balances. The next scrape must request only the workflows it lost.
//
// It asserts counts only. The deadline is a share of the wall time of a
// complete scrape measured just before on the same machine, and the test
// tries a shorter one when the scrape was not cut.
func TestCutScrapeKeepsBalances(t *testing.T) {
	const (
		orgs     = 1000
		latency  = 5 * time.Millisecond
		attempts = 3
	)
	server := autoretouchtest.NewServer()
	t.Cleanup(server.Close)
	server.AddOrganizations(orgs, seedBalance)
	for _, org := range server.Organizations() {
		server.SetWorkflows(org.ID, generatedWorkflows(org.ID, seedWorkflows))
	}
	server.SetLatency(latency)
	opts := exporterOptions{workflows: true, workflowsRefresh: defaultWorkflowsRefresh}

	// The balances are about half of a complete scrape's requests and go
	// first. The collector stops its requests up to a quarter of the time
	// left before the deadline (passGrace in collector/scrape.go). So a
	// deadline at 80 % of a complete scrape stops them at 60 to 80 % of it,
	// when the balances are done and most workflows are not.
	share := 0.8
	for attempt := 1; attempt <= attempts; attempt++ {
		// The shorter of two complete scrapes, because the first scrape in
		// a process can be much slower, as under the race detector.
		complete := min(timeCompleteScrape(t, server.URL, opts, orgs), timeCompleteScrape(t, server.URL, opts, orgs))
		deadline := time.Duration(share * float64(complete))

		exp := newExporter(t, server.URL, opts)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		cut, err := exp.scrape(ctx)
		cancel()
		if err != nil {
			t.Fatalf("scrape with a deadline of %s failed: %v", deadline, err)
		}
		if cut.workflows == orgs {
			t.Logf("attempt %d: a deadline of %s did not cut the scrape; trying a shorter one", attempt, deadline)
			share /= 2
			continue
		}

		checkCutScrape(t, cut, exp.balanceResponses(t), orgs, exp.client.Concurrency())
		checkScrapeAfterCut(t, server, exp, cut, orgs)
		return
	}
	t.Fatalf("no deadline cut the scrape in %d attempts", attempts)
}

// timeCompleteScrape returns the wall time of the first scrape of a fresh
// exporter, which must be complete.
func timeCompleteScrape(t *testing.T, apiURL string, opts exporterOptions, orgs int) time.Duration {
	t.Helper()
	exp := newExporter(t, apiURL, opts)
	start := time.Now()
	exp.mustScrape(t, orgs)
	return time.Since(start)
}

// checkCutScrape checks what a scrape cut among its workflow requests exposed.
func checkCutScrape(t *testing.T, cut exposition, balanceResponses, orgs, concurrency int) {
	t.Helper()
	lostBalances := orgs - cut.balances
	lostWorkflows := orgs - cut.workflows
	t.Logf("cut scrape: %d balances received, %d exposed, %d workflow counts exposed", balanceResponses, cut.balances, cut.workflows)

	if !cut.up {
		t.Errorf("autoretouch_up is 0 in the cut scrape, expected 1: the listing had ended long before the deadline")
	}
	if cut.organizations != orgs {
		t.Errorf("autoretouch_organizations is %d, expected %d", cut.organizations, orgs)
	}
	if 2*cut.balances <= orgs {
		t.Errorf("%d of %d balances exposed, expected most of them", cut.balances, orgs)
	}
	if lostWorkflows < 2*lostBalances {
		t.Errorf("%d workflow counts and %d balances lost, expected at least twice as many workflow counts as balances, because balances are requested first", lostWorkflows, lostBalances)
	}

	// A response whose body the deadline interrupted counts as received
	// but is not exposed, so up to one per request in flight.
	if cut.balances > balanceResponses {
		t.Errorf("%d balances exposed, more than the %d received", cut.balances, balanceResponses)
	}
	if missing := balanceResponses - cut.balances; missing > concurrency {
		t.Errorf("%d balances received but not exposed, expected at most %d, one per request in flight", missing, concurrency)
	}
}

// checkScrapeAfterCut scrapes exp again without a deadline and checks that it
// requests every balance but only the workflows that the cut scrape lost.
func checkScrapeAfterCut(t *testing.T, server *autoretouchtest.Server, exp *exporter, cut exposition, orgs int) {
	t.Helper()
	server.ResetCounters()
	exp.mustScrape(t, orgs)

	if got := server.Requests(autoretouchtest.EndpointBalance); got != orgs {
		t.Errorf("the scrape after the cut one sent %d balance requests, expected %d", got, orgs)
	}
	if got, want := server.Requests(autoretouchtest.EndpointWorkflows), orgs-cut.workflows; got != want {
		t.Errorf("the scrape after the cut one sent %d workflow requests, expected %d: one for each organization whose workflow count the cut scrape lost", got, want)
	}
}
