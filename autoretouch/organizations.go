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

// organizationPage is one page of GET /v1/organization. Pointers tell a
// missing field from an empty one.
type organizationPage struct {
	Entries *[]organizationEntry `json:"entries"`
	Total   *int64               `json:"total"`
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
	var page organizationPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpointOrganizations, Reason: "not a JSON page: " + err.Error(), Excerpt: excerpt(body)}
	}
	if page.Entries == nil || page.Total == nil {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpointOrganizations, Reason: `page without "entries" or "total"`, Excerpt: excerpt(body)}
	}
	if *page.Total < 0 {
		return nil, 0, 0, &InvalidResponseError{Endpoint: endpointOrganizations, Reason: fmt.Sprintf("negative total %d", *page.Total), Excerpt: excerpt(body)}
	}

	orgs = make([]Organization, 0, len(*page.Entries))
	for _, entry := range *page.Entries {
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

	return orgs, *page.Total, skipped, nil
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// organizationPage fetches the page that starts at offset.
func (c *Client) organizationPage(ctx context.Context, offset int) ([]Organization, int64, error) {
	query := url.Values{
		"limit":  {strconv.Itoa(c.pageSize)},
		"offset": {strconv.Itoa(offset)},
	}
	body, err := c.get(ctx, endpointOrganizations, "/v1/organization", query, maxPageBody)
	if err != nil {
		return nil, 0, err
	}

	orgs, total, skipped, err := DecodeOrganizationPage(body)
	if err != nil {
		return nil, 0, err
	}
	if skipped > 0 {
		_ = level.Warn(c.logger).Log("msg", "skipped organizations without an id", "endpoint", endpointOrganizations, "offset", offset, "count", skipped)
	}
	return orgs, total, nil
}

// WalkOrganizations lists every organization the credentials can see and
// calls visit once for each, as soon as its page arrives. The first page
// gives the total, and the other pages are then fetched concurrently. visit
// is never called concurrently, and never twice for one id, even when pages
// shift while they are read. It returns the number of distinct organizations
// visited, or the first error of any page, which means the listing is
// incomplete.
func (c *Client) WalkOrganizations(ctx context.Context, visit func(Organization)) (int, error) {
	walk := organizationWalk{seen: make(map[string]struct{}), visit: visit}

	first, total, err := c.organizationPage(ctx, 0)
	if err != nil {
		return 0, err
	}
	walk.deliver(first)
	if len(first) < c.pageSize || total <= int64(c.pageSize) {
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
			orgs, _, err := c.organizationPage(groupCtx, page*c.pageSize)
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
