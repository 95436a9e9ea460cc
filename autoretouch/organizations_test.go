package autoretouch

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// walk lists every organization and returns how often each id was visited.
func walk(t *testing.T, client *Client) (visits map[string]int, count int, err error) {
	t.Helper()
	visits = make(map[string]int)
	count, err = client.WalkOrganizations(testContext(t), func(org Organization) {
		visits[org.ID]++
	})
	return visits, count, err
}

func checkVisitedOnce(t *testing.T, visits map[string]int, count int) {
	t.Helper()
	for id, n := range visits {
		if n != 1 {
			t.Errorf("organization %s was visited %d times, expected once", id, n)
		}
	}
	if count != len(visits) {
		t.Errorf("WalkOrganizations returned %d, expected the %d distinct organizations visited", count, len(visits))
	}
}

func TestWalkOrganizations(t *testing.T) {
	cases := []struct {
		name         string
		orgs         int
		pageSize     int
		quirks       autoretouchtest.PageQuirks
		wantVisited  int
		wantRequests int
	}{
		{name: "several pages", orgs: 7, pageSize: 3, wantVisited: 7, wantRequests: 3},
		{name: "short first page", orgs: 2, pageSize: 3, wantVisited: 2, wantRequests: 1},
		{name: "one full page", orgs: 3, pageSize: 3, wantVisited: 3, wantRequests: 1},
		{name: "empty", orgs: 0, pageSize: 3, wantVisited: 0, wantRequests: 1},
		{name: "page size 1", orgs: 5, pageSize: 1, wantVisited: 5, wantRequests: 5},
		// Every page repeats the first three organizations. The walk cannot
		// see the others, but must visit each of the three once and stop.
		{name: "ignored offset", orgs: 7, pageSize: 3, quirks: autoretouchtest.PageQuirks{IgnoreOffset: true}, wantVisited: 3, wantRequests: 3},
		// The first page's total sets the number of pages, so a total that
		// grows with every page cannot keep the walk going.
		{name: "growing total", orgs: 7, pageSize: 3, quirks: autoretouchtest.PageQuirks{GrowTotalPerPage: 10}, wantVisited: 7, wantRequests: 3},
		// A total larger than the listing costs a few empty pages.
		{name: "total too large", orgs: 7, pageSize: 3, quirks: autoretouchtest.PageQuirks{TotalDelta: 30}, wantVisited: 7, wantRequests: 13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t)
			fake.AddOrganizations(tc.orgs, 100)
			fake.SetPageQuirks(tc.quirks)
			client := newTestClient(t, fake.URL, func(o *Options) { o.PageSize = tc.pageSize })

			visits, count, err := walk(t, client)

			if err != nil {
				t.Fatalf("WalkOrganizations failed: %v", err)
			}
			checkVisitedOnce(t, visits, count)
			if len(visits) != tc.wantVisited {
				t.Errorf("visited %d organizations, expected %d", len(visits), tc.wantVisited)
			}
			if got := fake.Requests(autoretouchtest.EndpointOrganizations); got != tc.wantRequests {
				t.Errorf("fake received %d page requests, expected %d", got, tc.wantRequests)
			}
		})
	}
}

func TestWalkOrganizationsInsertDuringListing(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganizations(7, 100)
	var inserted atomic.Bool
	fake.SetListingHook(func(offset int) {
		// Inserting at the front shifts every later page by one, so the
		// second page starts with the last organization of the first.
		if offset > 0 && inserted.CompareAndSwap(false, true) {
			fake.InsertOrganization(0, autoretouchtest.Organization{ID: "inserted"})
		}
	})
	client := newTestClient(t, fake.URL, func(o *Options) { o.PageSize = 3 })

	visits, count, err := walk(t, client)

	if err != nil {
		t.Fatalf("WalkOrganizations failed: %v", err)
	}
	if !inserted.Load() {
		t.Fatalf("the listing hook never inserted an organization, so the test shows nothing")
	}
	checkVisitedOnce(t, visits, count)
	if got := fake.Requests(autoretouchtest.EndpointOrganizations); got != 3 {
		t.Errorf("fake received %d page requests, expected 3", got)
	}
}

// pagedServer serves the organization listing from raw JSON entries, with
// the total that totalOf returns for a page's offset. failAt, when not
// negative, is an offset that gets a 500.
func pagedServer(t *testing.T, entries []string, totalOf func(offset int) int, failAt int) (*httptest.Server, func() [][2]int) {
	t.Helper()
	var mu sync.Mutex
	var params [][2]int

	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, err1 := strconv.Atoi(r.URL.Query().Get("limit"))
		offset, err2 := strconv.Atoi(r.URL.Query().Get("offset"))
		if err1 != nil || err2 != nil || r.URL.Path != "/v1/organization" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		params = append(params, [2]int{limit, offset})
		mu.Unlock()

		if offset == failAt {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		end := min(offset+limit, len(entries))
		page := entries[min(offset, end):end]
		fmt.Fprintf(w, `{"entries":[%s],"total":%d}`, strings.Join(page, ","), totalOf(offset))
	}))
	t.Cleanup(server.Close)

	return server, func() [][2]int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(params)
	}
}

func idEntries(n int) []string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"id":"org-%d","name":"Org %d","members":[]}`, i, i)
	}
	return entries
}

func TestWalkOrganizationsPageParams(t *testing.T) {
	server, params := pagedServer(t, idEntries(7), func(int) int { return 7 }, -1)
	client := newTestClient(t, server.URL, func(o *Options) { o.PageSize = 3 })

	if _, _, err := walk(t, client); err != nil {
		t.Fatalf("WalkOrganizations failed: %v", err)
	}

	got := params()
	slices.SortFunc(got, func(a, b [2]int) int { return a[1] - b[1] })
	want := [][2]int{{3, 0}, {3, 3}, {3, 6}}
	if !slices.Equal(got, want) {
		t.Errorf("requested (limit, offset) pairs %v, expected %v", got, want)
	}
}

func TestWalkOrganizationsSkipsEntriesWithoutID(t *testing.T) {
	entries := idEntries(9)
	entries[0] = `{"name":"no id"}`
	entries[1] = `{"id":"","name":"empty id"}`
	entries[4] = `{"id":"   ","name":"blank id"}`
	entries[8] = `{"id":null}`
	server, params := pagedServer(t, entries, func(int) int { return 9 }, -1)
	client := newTestClient(t, server.URL, func(o *Options) { o.PageSize = 3 })

	visits, count, err := walk(t, client)

	if err != nil {
		t.Fatalf("WalkOrganizations failed: %v", err)
	}
	checkVisitedOnce(t, visits, count)
	for _, id := range []string{"org-2", "org-3", "org-5", "org-6", "org-7"} {
		if visits[id] != 1 {
			t.Errorf("organization %s was not visited: an entry without an id on its page must not end the walk", id)
		}
	}
	if len(visits) != 5 {
		t.Errorf("visited %d organizations %v, expected the 5 with an id", len(visits), visits)
	}
	if got := len(params()); got != 3 {
		t.Errorf("requested %d pages, expected 3", got)
	}
}

func TestWalkOrganizationsInvalidFirstPage(t *testing.T) {
	cases := []struct {
		name string
		body string
	}{
		{name: "no entries", body: `{"total":3}`},
		{name: "no total", body: `{"entries":[{"id":"a"}]}`},
		{name: "null entries", body: `{"entries":null,"total":0}`},
		{name: "null total", body: `{"entries":[],"total":null}`},
		{name: "negative total", body: `{"entries":[],"total":-1}`},
		{name: "fractional total", body: `{"entries":[],"total":1.5}`},
		{name: "array", body: `[]`},
		{name: "null", body: `null`},
		{name: "empty", body: ``},
		{name: "html", body: "<html><body>Service Unavailable</body></html>"},
		{name: "entries not an array", body: `{"entries":{"id":"a"},"total":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(server.Close)
			client := newTestClient(t, server.URL)

			visits, count, err := walk(t, client)

			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("WalkOrganizations returned %v (%T), expected an *InvalidResponseError rather than zero organizations", err, err)
			}
			if len(visits) != 0 || count != 0 {
				t.Errorf("visited %d organizations with count %d, expected none", len(visits), count)
			}
			if invalid.Endpoint != endpointOrganizations {
				t.Errorf("error names endpoint %q, expected %q", invalid.Endpoint, endpointOrganizations)
			}
		})
	}
}

func TestWalkOrganizationsLaterPageFails(t *testing.T) {
	server, _ := pagedServer(t, idEntries(7), func(int) int { return 7 }, 3)
	client := newTestClient(t, server.URL, func(o *Options) { o.PageSize = 3 })

	_, _, err := walk(t, client)

	if StatusCode(err) != http.StatusInternalServerError {
		t.Errorf("WalkOrganizations returned %v, expected the 500 of the page at offset 3", err)
	}
}

func TestWalkOrganizationsDropsPersonalData(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganization(autoretouchtest.Organization{
		ID:   "org-1",
		Name: "Studio",
		Members: []autoretouchtest.Member{{
			ID:         "auth0|member-1",
			GivenName:  "Ada-PERSONAL",
			FamilyName: "Lovelace-PERSONAL",
			Email:      "ada-PERSONAL@example.com",
			Roles:      []string{"admin", "operator"},
		}},
	})
	client := newTestClient(t, fake.URL)

	var orgs []Organization
	_, err := client.WalkOrganizations(testContext(t), func(org Organization) { orgs = append(orgs, org) })

	if err != nil {
		t.Fatalf("WalkOrganizations failed: %v", err)
	}
	if len(orgs) != 1 || len(orgs[0].Members) != 1 {
		t.Fatalf("walk returned %+v, expected one organization with one member", orgs)
	}
	if dump := fmt.Sprintf("%#v", orgs); strings.Contains(dump, "PERSONAL") || strings.Contains(dump, "example.com") {
		t.Errorf("organization %s keeps a member's name, email or picture", dump)
	}
	if got := orgs[0].Members[0]; got.ID != "auth0|member-1" || !slices.Equal(got.Roles, []string{"admin", "operator"}) {
		t.Errorf("member is %+v, expected its id and both roles", got)
	}
}

func TestDecodeOrganizationPage(t *testing.T) {
	cases := []struct {
		name        string
		body        string
		wantOrgs    []Organization
		wantTotal   int64
		wantSkipped int
	}{
		{
			name:      "documented shape",
			body:      `{"entries":[{"id":"9f5c","name":"Example Studio","version":"c8e4","members":[{"id":"auth0|1","givenName":"Ada","familyName":"Example","email":"ada@example.com","picture":"https://example.com/a.jpg","roles":["admin"]}]}],"total":1}`,
			wantOrgs:  []Organization{{ID: "9f5c", Name: "Example Studio", Members: []Member{{ID: "auth0|1", Roles: []string{"admin"}}}}},
			wantTotal: 1,
		},
		{
			name:      "null name members and roles",
			body:      `{"entries":[{"id":"a","name":null,"members":null},{"id":"b","members":[{"id":"m","roles":null},null,{"id":null,"roles":["operator"]}]}],"total":2}`,
			wantOrgs:  []Organization{{ID: "a"}, {ID: "b", Members: []Member{{ID: "m", Roles: []string{}}, {Roles: []string{}}, {Roles: []string{"operator"}}}}},
			wantTotal: 2,
		},
		{
			name:        "missing and empty ids",
			body:        `{"entries":[{"name":"x"},{"id":""},{"id":" "},{"id":null},null,{"id":"ok"}],"total":6}`,
			wantOrgs:    []Organization{{ID: "ok"}},
			wantTotal:   6,
			wantSkipped: 5,
		},
		{
			name:      "invalid UTF-8 name",
			body:      "{\"entries\":[{\"id\":\"a\",\"name\":\"Caf\xe9 \xff\"}],\"total\":1}",
			wantOrgs:  []Organization{{ID: "a", Name: "Caf\uFFFD \uFFFD"}},
			wantTotal: 1,
		},
		{
			name:      "unicode and quotes",
			body:      `{"entries":[{"id":"a","name":"Bäckerei \"Zürich\" 📷"}],"total":1}`,
			wantOrgs:  []Organization{{ID: "a", Name: `Bäckerei "Zürich" 📷`}},
			wantTotal: 1,
		},
		{
			name:      "unknown fields",
			body:      `{"entries":[],"total":0,"next":"x"}`,
			wantOrgs:  []Organization{},
			wantTotal: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orgs, total, skipped, err := DecodeOrganizationPage([]byte(tc.body))

			if err != nil {
				t.Fatalf("DecodeOrganizationPage failed: %v", err)
			}
			if total != tc.wantTotal {
				t.Errorf("total is %d, expected %d", total, tc.wantTotal)
			}
			if skipped != tc.wantSkipped {
				t.Errorf("skipped %d entries, expected %d", skipped, tc.wantSkipped)
			}
			if fmt.Sprintf("%#v", orgs) != fmt.Sprintf("%#v", tc.wantOrgs) {
				t.Errorf("organizations are\n%#v\nexpected\n%#v", orgs, tc.wantOrgs)
			}
			for _, org := range orgs {
				if !utf8.ValidString(org.Name) {
					t.Errorf("name %q is not valid UTF-8", org.Name)
				}
			}
		})
	}
}

// decodeSeeds are organization pages for the fuzz corpus, good and bad.
var decodeSeeds = []string{
	`{"entries":[{"id":"9f5c","name":"Example Studio","members":[{"id":"auth0|1","email":"ada@example.com","roles":["admin"]}]}],"total":1}`,
	`{"entries":[{"id":"a","name":null,"members":null}],"total":1}`,
	`{"entries":[{"id":"b","members":[null,{"id":null,"roles":[null,"operator"]}]}],"total":2}`,
	`{"entries":[{"name":"x"},{"id":""},{"id":" "},null],"total":4}`,
	"{\"entries\":[{\"id\":\"a\",\"name\":\"Caf\xe9\"}],\"total\":1}",
	`{"total":3}`,
	`{"entries":[]}`,
	`{"entries":[],"total":-1}`,
	`{"entries":[],"total":1e30}`,
	`{"entries":[],"total":9223372036854775808}`,
	`[]`,
	`null`,
	``,
	`<html><body>502 Bad Gateway</body></html>`,
}

func FuzzDecodeOrganizationPage(f *testing.F) {
	for _, seed := range decodeSeeds {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		orgs, total, skipped, err := DecodeOrganizationPage(body)

		if err != nil {
			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("error %v is a %T, expected an *InvalidResponseError", err, err)
			}
			if orgs != nil || total != 0 || skipped != 0 {
				t.Fatalf("failed decode returned %d organizations, total %d, skipped %d, expected nothing", len(orgs), total, skipped)
			}
			return
		}
		if total < 0 {
			t.Errorf("total %d is negative", total)
		}
		if skipped < 0 {
			t.Errorf("skipped %d is negative", skipped)
		}
		for _, org := range orgs {
			if strings.TrimSpace(org.ID) == "" {
				t.Errorf("organization with a blank id %q was kept", org.ID)
			}
			if !utf8.ValidString(org.ID) || !utf8.ValidString(org.Name) {
				t.Errorf("organization %q (%q) is not valid UTF-8", org.ID, org.Name)
			}
			for _, member := range org.Members {
				for _, role := range member.Roles {
					if !utf8.ValidString(role) {
						t.Errorf("role %q is not valid UTF-8", role)
					}
				}
			}
		}
	})
}
