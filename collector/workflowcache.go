package collector

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// workflowCache keeps each organization's workflows for a refresh interval,
// because prices change far less often than balances and fetching them on
// every scrape would double the requests of a scrape. A scrape fetches the
// workflows only of organizations whose entry is missing or older than the
// interval, so a scrape cut by its deadline leaves the rest to the next one.
type workflowCache struct {
	refresh time.Duration

	mu      sync.Mutex
	entries map[string]workflowEntry
}

type workflowEntry struct {
	workflows []autoretouch.Workflow
	// expires is set by lifetime, so that the organizations fetched in one
	// scrape do not all expire in the same later scrape.
	expires time.Time
}

func newWorkflowCache(refresh time.Duration) *workflowCache {
	return &workflowCache{refresh: refresh, entries: make(map[string]workflowEntry)}
}

// snapshot returns the entries that are still fresh at now, by organization
// id. With a refresh interval of 0 it returns none.
func (w *workflowCache) snapshot(now time.Time) map[string][]autoretouch.Workflow {
	fresh := make(map[string][]autoretouch.Workflow)
	if w.refresh <= 0 {
		return fresh
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	for id, entry := range w.entries {
		if now.Before(entry.expires) {
			fresh[id] = entry.workflows
		}
	}
	return fresh
}

// lifetime returns how long a fetch of orgID's workflows is kept. A
// replacement lives between three quarters of the refresh interval and the
// whole of it. A first entry lives between a quarter of the interval and the
// whole of it, because all first entries come from the same scrape after a
// start, and a narrower spread would make them expire in a wave a few
// scrapes later. The quarter keeps a first entry from expiring before the
// next scrape. The caller holds w.mu.
func (w *workflowCache) lifetime(orgID string) time.Duration {
	if _, replaces := w.entries[orgID]; !replaces {
		return w.refresh/4 + rand.N(w.refresh*3/4+1)
	}
	return w.refresh*3/4 + rand.N(w.refresh/4+1)
}

// update stores the workflows a scrape fetched and drops organizations the
// listing no longer returns. An organization whose fetch failed keeps no
// entry, so its stale prices are never served.
func (w *workflowCache) update(orgs []*orgResult, now time.Time) {
	if w.refresh <= 0 {
		return
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	listed := make(map[string]bool, len(orgs))
	for _, org := range orgs {
		listed[org.id] = true
		switch {
		case org.workflowsFetched && org.workflowsErr == nil:
			w.entries[org.id] = workflowEntry{workflows: org.workflows, expires: now.Add(w.lifetime(org.id))}
		case org.workflowsFetched:
			delete(w.entries, org.id)
		}
	}
	for id := range w.entries {
		if !listed[id] {
			delete(w.entries, id)
		}
	}
}
