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

	// maxListingPages bounds the pages one listing requests, so that a wrong
	// total cannot make it run without end. At 50 per page it allows
	// 100,000 organizations.
	maxListingPages = 2000
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
// tell a missing field from an empty one.
type page[T any] struct {
	Entries *[]T   `json:"entries"`
	Total   *int64 `json:"total"`
}

// decodePage parses a page of endpoint's listing. A page without "entries"
// or "total" is invalid, not empty.
func decodePage[T any](endpoint string, body []byte) ([]T, int64, error) {
	var p page[T]
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, 0, &InvalidResponseError{Endpoint: endpoint, Reason: "not a JSON page: " + err.Error(), Excerpt: excerpt(body)}
	}
	if p.Entries == nil || p.Total == nil {
		return nil, 0, &InvalidResponseError{Endpoint: endpoint, Reason: `page without "entries" or "total"`, Excerpt: excerpt(body)}
	}
	if *p.Total < 0 {
		return nil, 0, &InvalidResponseError{Endpoint: endpoint, Reason: fmt.Sprintf("negative total %d", *p.Total), Excerpt: excerpt(body)}
	}
	return *p.Entries, *p.Total, nil
}

type organizationEntry struct {
	ID      *string `json:"id"`
	Name    *string `json:"name"`
	Members []struct {
		ID    *string  `json:"id"`
		Roles []string `json:"roles"`
	} `json:"members"`
}

// DecodeOrganizationPage parses one page of the organization listing. A page
// without "entries" or "total" is invalid, not empty. Entries without an id
// cannot be exposed, so they are dropped and counted in skipped.
func DecodeOrganizationPage(body []byte) (orgs []Organization, total int64, skipped int, err error) {
	entries, total, err := decodePage[organizationEntry](endpointOrganizations, body)
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
			for _, role := range m.Roles {
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
		_ = level.Warn(c.logger).Log("msg", "skipped organizations without an id", "endpoint", endpointOrganizations, "offset", offset, "count", skipped)
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
	if entries < c.pageSize || total <= int64(c.pageSize) {
		return walk.count(), nil
	}

	pages := pageCount(total, c.pageSize)
	if pages > maxListingPages {
		_ = level.Warn(c.logger).Log("msg", "listing truncated: total is larger than the page limit allows", "endpoint", endpointOrganizations, "total", total, "max_pages", maxListingPages)
		pages = maxListingPages
	}

	group, groupCtx := errgroup.WithContext(ctx)
	group.SetLimit(cap(c.slots))
	for page := 1; page < pages; page++ {
		group.Go(func() error {
			orgs, _, _, err := c.organizationPage(groupCtx, page*c.pageSize)
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

	return walk.count(), nil
}

// pageCount returns the number of pages of size pageSize that hold total
// entries.
func pageCount(total int64, pageSize int) int {
	pages := (total + int64(pageSize) - 1) / int64(pageSize)
	if pages > int64(maxListingPages) {
		return maxListingPages + 1
	}
	return int(pages)
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
