package autoretouch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/go-kit/log/level"
	"golang.org/x/sync/errgroup"
)

const (
	endpointOrganizations = "organizations"

	// maxPageBody bounds one page of organizations. A page of 50 with a few
	// members each is a few KiB; large teams make it grow by about 300 bytes
	// per member.
	maxPageBody = 32 << 20

	// maxListedOrganizations bounds one listing, so that a wrong total
	// cannot make it run without end, whatever the page size.
	maxListedOrganizations = 100_000
)

// Organization is an AutoRetouch organization with its members. Member names,
// emails and pictures are personal data, so the client does not decode them.
type Organization struct {
	ID      string
	Name    string
	Members []Member
}

// Member is one member of an organization, with the roles it holds. The API
// documents the roles "admin" and "operator", and others may appear.
type Member struct {
	ID    string
	Roles []string
}

// page is one page of a listing, such as GET /v1/organization. Pointers
// tell a missing field from an empty one. Entries are decoded one by one, so
// that one malformed entry does not cost the whole page.
type page struct {
	Entries *[]json.RawMessage `json:"entries"`
	Total   *int64             `json:"total"`
}

// decodePage parses a page of endpoint's listing. A page without "entries"
// or "total" is invalid, not empty. Entries that do not decode into T are
// left out and counted in invalid.
func decodePage[T any](endpoint string, body []byte) (entries []T, total int64, invalid int, err error) {
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpoint, Reason: "not a JSON page: " + err.Error(), Excerpt: excerpt(body)}
	}
	if p.Entries == nil || p.Total == nil {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpoint, Reason: `page without "entries" or "total"`, Excerpt: excerpt(body)}
	}
	if *p.Total < 0 {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpoint, Reason: fmt.Sprintf("negative total %d", *p.Total), Excerpt: excerpt(body)}
	}

	entries = make([]T, 0, len(*p.Entries))
	for _, raw := range *p.Entries {
		var entry T
		if json.Unmarshal(raw, &entry) != nil {
			invalid++
			continue
		}
		entries = append(entries, entry)
	}
	return entries, *p.Total, invalid, nil
}

// stringsOf keeps the JSON strings of values, so that a role that is a
// number or an object is dropped rather than failing its organization.
func stringsOf(values []json.RawMessage) []string {
	out := make([]string, 0, len(values))
	for _, raw := range values {
		var value string
		if json.Unmarshal(raw, &value) == nil {
			out = append(out, value)
		}
	}
	return out
}

type organizationEntry struct {
	ID      *string `json:"id"`
	Name    *string `json:"name"`
	Members []struct {
		ID    *string           `json:"id"`
		Roles []json.RawMessage `json:"roles"`
	} `json:"members"`
}

// DecodeOrganizationPage parses one page of the organization listing. A page
// without "entries" or "total" is invalid, not empty. Entries that are
// malformed or have no id cannot be exposed, so they are dropped and counted
// in skipped.
func DecodeOrganizationPage(body []byte) (orgs []Organization, total int64, skipped int, err error) {
	entries, total, skipped, err := decodePage[organizationEntry](endpointOrganizations, body)
	if err != nil {
		return nil, 0, 0, err
	}

	orgs = make([]Organization, 0, len(entries))
	for _, entry := range entries {
		if entry.ID == nil || strings.TrimSpace(*entry.ID) == "" {
			skipped++
			continue
		}

		org := Organization{ID: validUTF8(*entry.ID)}
		if entry.Name != nil {
			org.Name = validUTF8(*entry.Name)
		}
		for _, m := range entry.Members {
			member := Member{Roles: make([]string, 0, len(m.Roles))}
			if m.ID != nil {
				member.ID = validUTF8(*m.ID)
			}
			for _, role := range stringsOf(m.Roles) {
				member.Roles = append(member.Roles, validUTF8(role))
			}
			org.Members = append(org.Members, member)
		}
		orgs = append(orgs, org)
	}

	return orgs, total, skipped, nil
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// organizationPage fetches the page that starts at offset. entries counts
// the page's entries before those without an id were dropped, because only
// a page with fewer entries than the limit is the last one.
func (c *Client) organizationPage(ctx context.Context, offset int) (orgs []Organization, entries int, total int64, err error) {
	query := url.Values{
		"limit":  {strconv.Itoa(c.pageSize)},
		"offset": {strconv.Itoa(offset)},
	}
	resp, err := c.get(ctx, endpointOrganizations, "/v1/organization", query, maxPageBody)
	if err != nil {
		return nil, 0, 0, err
	}

	orgs, total, skipped, err := DecodeOrganizationPage(resp.body)
	if err != nil {
		return nil, 0, 0, resp.hideToken(err)
	}
	if skipped > 0 {
		_ = level.Warn(c.logger).Log("msg", "skipped malformed organizations or organizations without an id", "endpoint", endpointOrganizations, "offset", offset, "count", skipped)
	}
	return orgs, len(orgs) + skipped, total, nil
}

// WalkOrganizations lists every organization the credentials can see and
// calls visit once for each, as soon as its page arrives. The first page
// gives the total, and the other pages are then fetched concurrently. visit
// is never called concurrently, and never twice for one id, even when pages
// shift while they are read. It returns the number of distinct organizations
// visited, or the first error of any page, which means the listing is
// incomplete.
//
// NOTE: offset paging over a list that changes during the walk can still
// miss an organization. Removing one before a page's offset moves the
// organization at that offset onto the page before, which was already read.
func (c *Client) WalkOrganizations(ctx context.Context, visit func(Organization)) (int, error) {
	walk := organizationWalk{seen: make(map[string]struct{}), visit: visit}

	first, entries, total, err := c.organizationPage(ctx, 0)
	if err != nil {
		return 0, err
	}
	walk.deliver(first)
	if entries == 0 || int64(entries) >= total {
		return walk.count(), nil
	}

	// A first page shorter than the limit while total is larger means the
	// API caps the limit, so the other pages start at multiples of what it
	// returned.
	step := c.pageSize
	if entries < c.pageSize {
		step = entries
		_ = level.Warn(c.logger).Log("msg", "the API returned fewer organizations per page than requested, paging by what it returned", "endpoint", endpointOrganizations, "requested", c.pageSize, "returned", entries, "total", total)
	}

	listed := total
	if listed > maxListedOrganizations {
		_ = level.Warn(c.logger).Log("msg", "listing truncated: total is larger than the exporter lists", "endpoint", endpointOrganizations, "total", total, "max", maxListedOrganizations)
		listed = maxListedOrganizations
	}
	pages := int((listed + int64(step) - 1) / int64(step))

	group, groupCtx := errgroup.WithContext(ctx)
	group.SetLimit(cap(c.slots))
	for page := 1; page < pages; page++ {
		group.Go(func() error {
			orgs, _, _, err := c.organizationPage(groupCtx, page*step)
			if err != nil {
				return err
			}
			walk.deliver(orgs)
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return walk.count(), err
	}

	// Fewer distinct organizations than total is expected when some were
	// deleted during the walk, and a sign of trouble when the API ignores
	// offset. Either way, the missing ones appear at a later scrape or never.
	if count := walk.count(); int64(count) < listed {
		_ = level.Warn(c.logger).Log("msg", "the listing returned fewer distinct organizations than its total", "endpoint", endpointOrganizations, "total", total, "distinct", count)
	}
	return walk.count(), nil
}

// organizationWalk removes the organizations that shifting pages repeat.
type organizationWalk struct {
	mu    sync.Mutex
	seen  map[string]struct{}
	visit func(Organization)
}

func (w *organizationWalk) deliver(orgs []Organization) {
	w.mu.Lock()
	defer w.mu.Unlock()

	for _, org := range orgs {
		if _, dup := w.seen[org.ID]; dup {
			continue
		}
		w.seen[org.ID] = struct{}{}
		w.visit(org)
	}
}

func (w *organizationWalk) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}
