package bench

import (
	"testing"
	"time"
)

// pageCount returns how many pages of the organization listing the client
// requests for orgs organizations: one when they fit on the first page,
// because the first page gives the total.
func pageCount(orgs, pageSize int) int {
	if orgs <= pageSize {
		return 1
	}
	return (orgs + pageSize - 1) / pageSize
}

// scrapeRequests returns the requests one scrape needs: each page of the
// listing, one balance per organization and, with the workflow collector
// on, one workflow page per organization, as long as no organization has
// more workflows than fit on a page.
func scrapeRequests(orgs, pageSize int, workflows bool) int {
	requests := pageCount(orgs, pageSize) + orgs
	if workflows {
		requests += orgs
	}
	return requests
}

// scrapeBound returns the shortest time in which any client that keeps at
// most concurrency requests in flight can send requests requests when each
// takes latency. The first page of the listing must arrive alone, because
// only it gives the total. The requests - 1 others then need at least
// ceil((requests-1)/concurrency) more rounds. For P pages and N balances this
// is latency × (1 + ceil((P-1+N)/concurrency)).
func scrapeBound(latency time.Duration, concurrency, requests int) time.Duration {
	rounds := 1 + (requests-1+concurrency-1)/concurrency
	return time.Duration(rounds) * latency
}

func TestPageCount(t *testing.T) {
	cases := []struct {
		orgs, pageSize, want int
	}{
		{orgs: 0, pageSize: 50, want: 1},
		{orgs: 10, pageSize: 50, want: 1},
		{orgs: 50, pageSize: 50, want: 1},
		{orgs: 51, pageSize: 50, want: 2},
		{orgs: 1000, pageSize: 50, want: 20},
		{orgs: 10_000, pageSize: 50, want: 200},
		{orgs: 10_000, pageSize: 200, want: 50},
	}
	for _, c := range cases {
		if got := pageCount(c.orgs, c.pageSize); got != c.want {
			t.Errorf("pageCount(%d, %d) = %d, expected %d", c.orgs, c.pageSize, got, c.want)
		}
	}
}

func TestScrapeRequests(t *testing.T) {
	cases := []struct {
		orgs      int
		workflows bool
		want      int
	}{
		{orgs: 0, want: 1},
		{orgs: 10, want: 11},
		{orgs: 10_000, want: 10_200},
		{orgs: 10_000, workflows: true, want: 20_200},
	}
	for _, c := range cases {
		if got := scrapeRequests(c.orgs, 50, c.workflows); got != c.want {
			t.Errorf("scrapeRequests(%d, 50, %t) = %d, expected %d", c.orgs, c.workflows, got, c.want)
		}
	}
}

func TestScrapeBound(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name                  string
		latency               time.Duration
		concurrency, requests int
		want                  time.Duration
	}{
		{name: "no organizations", latency: 20 * ms, concurrency: 32, requests: 1, want: 20 * ms},
		{name: "one page", latency: 20 * ms, concurrency: 32, requests: 1 + 10, want: 40 * ms},
		{name: "one full round after the first page", latency: 20 * ms, concurrency: 32, requests: 1 + 32, want: 40 * ms},
		{name: "one more than a round", latency: 20 * ms, concurrency: 32, requests: 1 + 33, want: 60 * ms},
		{name: "1000 at 50 ms", latency: 50 * ms, concurrency: 32, requests: 20 + 1000, want: 33 * 50 * ms},
		{name: "10000 at 20 ms", latency: 20 * ms, concurrency: 32, requests: 200 + 10_000, want: 320 * 20 * ms},
		{name: "10000 with workflows", latency: 20 * ms, concurrency: 32, requests: 200 + 2*10_000, want: 633 * 20 * ms},
		{name: "sequential", latency: 20 * ms, concurrency: 1, requests: 200 + 10_000, want: 10_200 * 20 * ms},
		{name: "no latency", latency: 0, concurrency: 32, requests: 200 + 10_000, want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := scrapeBound(c.latency, c.concurrency, c.requests); got != c.want {
				t.Errorf("scrapeBound(%s, %d, %d) = %s, expected %s", c.latency, c.concurrency, c.requests, got, c.want)
			}
		})
	}
}
