package autoretouchtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

func newServer(t *testing.T) *autoretouchtest.Server {
	t.Helper()
	s := autoretouchtest.NewServer()
	t.Cleanup(s.Close)
	return s
}

// get sends a GET to the fake with the default token, or with none when
// token is empty, and returns the status, the body and the header.
func get(t *testing.T, s *autoretouchtest.Server, path, token string) (int, []byte, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatalf("building request for %s: %v", path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s failed: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %s: %v", path, err)
	}
	return resp.StatusCode, body, resp.Header
}

func getOK(t *testing.T, s *autoretouchtest.Server, path string) []byte {
	t.Helper()
	status, body, _ := get(t, s, path, autoretouchtest.DefaultToken)
	if status != http.StatusOK {
		t.Fatalf("GET %s returned %d %s, expected 200", path, status, body)
	}
	return body
}

type springError struct {
	Timestamp string `json:"timestamp"`
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	Path      string `json:"path"`
}

func checkSpringError(t *testing.T, body []byte, status int, path string) {
	t.Helper()
	var e springError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s is not JSON: %v", body, err)
	}
	if e.Status != status {
		t.Errorf("error body status is %d, expected %d", e.Status, status)
	}
	if e.Error != http.StatusText(status) {
		t.Errorf("error body error is %q, expected %q", e.Error, http.StatusText(status))
	}
	if e.Path != path {
		t.Errorf("error body path is %q, expected %q", e.Path, path)
	}
	if e.Message == "" {
		t.Errorf("error body has no message")
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", e.Timestamp); err != nil {
		t.Errorf("error body timestamp %q is not the documented format: %v", e.Timestamp, err)
	}
}

type page struct {
	Entries []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Members []struct {
			ID        string   `json:"id"`
			GivenName string   `json:"givenName"`
			Email     string   `json:"email"`
			Roles     []string `json:"roles"`
		} `json:"members"`
	} `json:"entries"`
	Total int `json:"total"`
}

func listing(t *testing.T, s *autoretouchtest.Server, query string) page {
	t.Helper()
	var p page
	body := getOK(t, s, "/v1/organization"+query)
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("page %s is not JSON: %v", body, err)
	}
	return p
}

func ids(p page) []string {
	out := make([]string, 0, len(p.Entries))
	for _, e := range p.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestServerNotFound(t *testing.T) {
	s := newServer(t)

	status, body, header := get(t, s, "/v1/nothing", autoretouchtest.DefaultToken)

	if status != http.StatusNotFound {
		t.Fatalf("status is %d, expected 404", status)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type is %q, expected application/json", ct)
	}
	checkSpringError(t, body, http.StatusNotFound, "/v1/nothing")
}

func TestServerUnauthorized(t *testing.T) {
	cases := []struct {
		name  string
		token string
		setup func(s *autoretouchtest.Server)
	}{
		{name: "no token", token: ""},
		{name: "unknown token", token: "other"},
		{name: "expired token", token: "expired", setup: func(s *autoretouchtest.Server) {
			s.AcceptToken("expired", time.Now().Add(-time.Minute))
		}},
		{name: "revoked token", token: autoretouchtest.DefaultToken, setup: func(s *autoretouchtest.Server) {
			s.RevokeToken(autoretouchtest.DefaultToken)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			if tc.setup != nil {
				tc.setup(s)
			}

			status, body, _ := get(t, s, "/v1/organization", tc.token)

			if status != http.StatusUnauthorized {
				t.Fatalf("status is %d, expected 401", status)
			}
			checkSpringError(t, body, http.StatusUnauthorized, "/v1/organization")
		})
	}
}

func TestServerAcceptsNewToken(t *testing.T) {
	s := newServer(t)
	s.AcceptToken("token-B", time.Now().Add(time.Hour))

	status, _, _ := get(t, s, "/v1/organization", "token-B")

	if status != http.StatusOK {
		t.Errorf("status with an accepted unexpired token is %d, expected 200", status)
	}
}

func TestServerHealthWithoutAuth(t *testing.T) {
	s := newServer(t)

	status, _, _ := get(t, s, "/health", "")

	if status != http.StatusOK {
		t.Errorf("/health without a token returned %d, expected 200", status)
	}
	if n := s.Requests(autoretouchtest.EndpointHealth); n != 1 {
		t.Errorf("health requests counted %d, expected 1", n)
	}
}

func TestServerOrganizationByID(t *testing.T) {
	cases := []struct {
		path       string
		wantStatus int
	}{
		{path: "/v1/organization/org-1", wantStatus: 200},
		{path: "/v1/organization/org-1/", wantStatus: 200},
		{path: "/v1/organization/org-2", wantStatus: 404},
		{path: "/v1/organization/org-2/", wantStatus: 404},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			s := newServer(t)
			s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "Studio"})

			status, body, _ := get(t, s, tc.path, autoretouchtest.DefaultToken)

			if status != tc.wantStatus {
				t.Fatalf("GET %s returned %d, expected %d", tc.path, status, tc.wantStatus)
			}
			if n := s.Requests(autoretouchtest.EndpointOrganization); n != 1 {
				t.Errorf("organization requests counted %d, expected 1", n)
			}
			if status != 200 {
				checkSpringError(t, body, status, tc.path)
				return
			}
			var org struct{ ID, Name string }
			if err := json.Unmarshal(body, &org); err != nil || org.ID != "org-1" || org.Name != "Studio" {
				t.Errorf("body %s (%v) is not organization org-1", body, err)
			}
		})
	}
}

func TestServerListing(t *testing.T) {
	s := newServer(t)
	s.AddOrganizations(60, 10)

	cases := []struct {
		query     string
		wantFirst string
		wantLen   int
	}{
		{query: "", wantFirst: "00000000-0000-4000-8000-000000000000", wantLen: 50},
		{query: "?limit=3&offset=0", wantFirst: "00000000-0000-4000-8000-000000000000", wantLen: 3},
		{query: "?limit=3&offset=57", wantFirst: "00000000-0000-4000-8000-000000000057", wantLen: 3},
		{query: "?limit=3&offset=59", wantFirst: "00000000-0000-4000-8000-000000000059", wantLen: 1},
		{query: "?limit=3&offset=60", wantLen: 0},
		{query: "?limit=1000&offset=100", wantLen: 0},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			p := listing(t, s, tc.query)

			if p.Total != 60 {
				t.Errorf("total is %d, expected 60", p.Total)
			}
			if len(p.Entries) != tc.wantLen {
				t.Fatalf("page has %d entries, expected %d", len(p.Entries), tc.wantLen)
			}
			if tc.wantLen > 0 && p.Entries[0].ID != tc.wantFirst {
				t.Errorf("page starts with %s, expected %s", p.Entries[0].ID, tc.wantFirst)
			}
		})
	}
}

func TestServerListingInvalidParams(t *testing.T) {
	s := newServer(t)
	for _, query := range []string{"?limit=0", "?limit=1001", "?limit=abc", "?offset=-1", "?offset=x"} {
		t.Run(query, func(t *testing.T) {
			status, body, _ := get(t, s, "/v1/organization"+query, autoretouchtest.DefaultToken)

			if status != http.StatusBadRequest {
				t.Fatalf("status is %d, expected 400", status)
			}
			checkSpringError(t, body, http.StatusBadRequest, "/v1/organization")
		})
	}
}

func TestServerListingPersonalFields(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Members: []autoretouchtest.Member{
		{ID: "auth0|1", GivenName: "Ada", Email: "ada@example.com", Roles: []string{"admin"}},
	}})

	p := listing(t, s, "")

	if len(p.Entries) != 1 || len(p.Entries[0].Members) != 1 {
		t.Fatalf("listing is %+v, expected one organization with one member", p)
	}
	member := p.Entries[0].Members[0]
	if member.GivenName != "Ada" || member.Email != "ada@example.com" {
		t.Errorf("member is %+v, expected the personal fields the real API returns", member)
	}
	if p.Entries[0].Version == "" {
		t.Errorf("organization has no version, expected one as the API documents")
	}
}

func TestServerBalance(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: -5})

	status, body, header := get(t, s, "/v1/organization/balance?organization=org-1", autoretouchtest.DefaultToken)

	if status != http.StatusOK || string(body) != "-5" {
		t.Errorf("balance answer is %d %q, expected 200 and the bare integer -5", status, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type is %q, expected application/json", ct)
	}

	status, body, _ = get(t, s, "/v1/organization/balance", autoretouchtest.DefaultToken)
	if status != http.StatusBadRequest {
		t.Errorf("balance without organization returned %d, expected 400", status)
	}
	checkSpringError(t, body, http.StatusBadRequest, "/v1/organization/balance")

	status, body, _ = get(t, s, "/v1/organization/balance?organization=nope", autoretouchtest.DefaultToken)
	if status != http.StatusNotFound {
		t.Errorf("balance of an unknown organization returned %d, expected 404", status)
	}
	checkSpringError(t, body, http.StatusNotFound, "/v1/organization/balance")
}

func TestServerChangesBetweenWalks(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 100})
	s.AddOrganization(autoretouchtest.Organization{ID: "org-2", Balance: 200})
	if got := ids(listing(t, s, "")); strings.Join(got, ",") != "org-1,org-2" {
		t.Fatalf("first listing is %v, expected org-1,org-2", got)
	}

	if got := s.AddCredits("org-1", 50); got != 150 {
		t.Errorf("AddCredits returned %d, expected 150", got)
	}
	if got := s.AddCredits("org-1", -170); got != -20 {
		t.Errorf("AddCredits with a negative delta returned %d, expected -20", got)
	}
	if got := s.AddCredits("nope", 5); got != 0 {
		t.Errorf("AddCredits of an unknown organization returned %d, expected 0", got)
	}
	s.RemoveOrganization("org-2")

	p := listing(t, s, "")
	if got := ids(p); strings.Join(got, ",") != "org-1" {
		t.Errorf("second listing is %v, expected only org-1", got)
	}
	if p.Total != 1 {
		t.Errorf("second total is %d, expected 1", p.Total)
	}
	if body := getOK(t, s, "/v1/organization/balance?organization=org-1"); string(body) != "-20" {
		t.Errorf("balance after AddCredits is %s, expected -20", body)
	}
	if status, _, _ := get(t, s, "/v1/organization/balance?organization=org-2", autoretouchtest.DefaultToken); status != http.StatusNotFound {
		t.Errorf("balance of the removed organization returned %d, expected 404", status)
	}
}

func TestServerAddOrganizationReplaces(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "Old"})
	s.AddOrganization(autoretouchtest.Organization{ID: "org-2"})
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "New"})

	p := listing(t, s, "")

	if got := ids(p); strings.Join(got, ",") != "org-1,org-2" {
		t.Fatalf("listing is %v, expected org-1 replaced in place", got)
	}
	if p.Entries[0].Name != "New" {
		t.Errorf("org-1 is named %q, expected New", p.Entries[0].Name)
	}
}

func TestServerInsertOrganization(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1"})
	s.AddOrganization(autoretouchtest.Organization{ID: "org-2"})
	s.InsertOrganization(0, autoretouchtest.Organization{ID: "org-0"})
	s.InsertOrganization(99, autoretouchtest.Organization{ID: "org-3"})
	s.InsertOrganization(1, autoretouchtest.Organization{ID: "org-2"})

	if got := ids(listing(t, s, "")); strings.Join(got, ",") != "org-0,org-2,org-1,org-3" {
		t.Errorf("listing is %v, expected org-0,org-2,org-1,org-3", got)
	}
}

func TestServerAddOrganizationsUniqueIDs(t *testing.T) {
	s := newServer(t)
	s.AddOrganizations(3, 1)
	first := s.Organizations()[0].ID
	s.RemoveOrganization(first)
	s.AddOrganizations(2, 1)

	seen := make(map[string]bool)
	for _, org := range s.Organizations() {
		if seen[org.ID] {
			t.Errorf("id %s is listed twice", org.ID)
		}
		seen[org.ID] = true
	}
	if len(seen) != 4 {
		t.Errorf("fake holds %d distinct organizations, expected 4", len(seen))
	}
}

func TestServerOrganizationsIsCopy(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Members: []autoretouchtest.Member{{ID: "m", Roles: []string{"admin"}}}})

	orgs := s.Organizations()
	orgs[0].Balance = 99
	orgs[0].Members[0].Roles[0] = "changed"
	orgs[0].Members[0].ID = "changed"

	again := s.Organizations()
	if again[0].Balance != 0 {
		t.Errorf("balance is %d after changing the copy, expected 0", again[0].Balance)
	}
	if again[0].Members[0].ID != "m" || again[0].Members[0].Roles[0] != "admin" {
		t.Errorf("member is %+v after changing the copy, expected it unchanged", again[0].Members[0])
	}
}

func TestServerPageQuirks(t *testing.T) {
	s := newServer(t)
	s.AddOrganizations(7, 1)

	s.SetPageQuirks(autoretouchtest.PageQuirks{IgnoreOffset: true})
	if got, want := ids(listing(t, s, "?limit=3&offset=3")), ids(listing(t, s, "?limit=3&offset=0")); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("page at offset 3 is %v with IgnoreOffset, expected the first page %v", got, want)
	}

	s.SetPageQuirks(autoretouchtest.PageQuirks{TotalDelta: 5})
	if got := listing(t, s, "").Total; got != 12 {
		t.Errorf("total with TotalDelta 5 is %d, expected 12", got)
	}

	s.SetPageQuirks(autoretouchtest.PageQuirks{GrowTotalPerPage: 10})
	for i, want := range []int{7, 17, 27} {
		if got := listing(t, s, "").Total; got != want {
			t.Errorf("total of page %d with GrowTotalPerPage 10 is %d, expected %d", i, got, want)
		}
	}
}

func TestServerListingHook(t *testing.T) {
	s := newServer(t)
	s.AddOrganizations(4, 1)
	var mu sync.Mutex
	var offsets []int
	s.SetListingHook(func(offset int) {
		mu.Lock()
		defer mu.Unlock()
		offsets = append(offsets, offset)
	})

	listing(t, s, "?limit=2&offset=0")
	listing(t, s, "?limit=2&offset=2")

	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(offsets) != "[0 2]" {
		t.Errorf("hook saw offsets %v, expected [0 2]", offsets)
	}
}

func TestServerFaultTimes(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 7})
	s.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 500, Times: 2})

	var statuses []int
	for range 3 {
		status, _, _ := get(t, s, "/v1/organization/balance?organization=org-1", autoretouchtest.DefaultToken)
		statuses = append(statuses, status)
	}

	if fmt.Sprint(statuses) != "[500 500 200]" {
		t.Errorf("statuses are %v, expected [500 500 200] because the fault runs out after 2", statuses)
	}
}

func TestServerFaultPrecedence(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 1})
	s.AddOrganization(autoretouchtest.Organization{ID: "org-2", Balance: 2})
	// Set the organization's rule first, so that the order of SetFault
	// calls cannot be what makes it win.
	s.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Body: "42", Times: 1})
	s.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 503})

	cases := []struct {
		name       string
		orgID      string
		wantStatus int
		wantBody   string
	}{
		{name: "organization rule", orgID: "org-1", wantStatus: 200, wantBody: "42"},
		{name: "other organization", orgID: "org-2", wantStatus: 503},
		{name: "organization rule used up", orgID: "org-1", wantStatus: 503},
	}
	for _, tc := range cases {
		status, body, _ := get(t, s, "/v1/organization/balance?organization="+tc.orgID, autoretouchtest.DefaultToken)
		if status != tc.wantStatus {
			t.Errorf("%s: status is %d, expected %d", tc.name, status, tc.wantStatus)
		}
		if tc.wantBody != "" && string(body) != tc.wantBody {
			t.Errorf("%s: body is %q, expected %q", tc.name, body, tc.wantBody)
		}
	}
}

func TestServerFaultReplaceAndClear(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 7})
	path := "/v1/organization/balance?organization=org-1"

	s.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 500})
	s.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 502, Header: http.Header{"Retry-After": {"3"}}})
	status, _, header := get(t, s, path, autoretouchtest.DefaultToken)
	if status != 502 {
		t.Errorf("status is %d, expected 502 from the replacing rule", status)
	}
	if got := header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After is %q, expected the fault's 3", got)
	}

	s.ClearFaults()
	if body := getOK(t, s, path); string(body) != "7" {
		t.Errorf("balance after ClearFaults is %s, expected 7", body)
	}
}

func TestServerFaultHeaderOnly(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 7})
	s.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Header: http.Header{"X-Test": {"yes"}}})

	status, body, header := get(t, s, "/v1/organization/balance?organization=org-1", autoretouchtest.DefaultToken)
	if status != 200 || string(body) != "7" {
		t.Errorf("answer is %d %q, expected the normal 200 7 under a header-only fault", status, body)
	}
	if header.Get("X-Test") != "yes" {
		t.Errorf("X-Test is %q, expected the fault's header", header.Get("X-Test"))
	}

	status, _, _ = get(t, s, "/v1/organization/balance?organization=org-1", "")
	if status != http.StatusUnauthorized {
		t.Errorf("status without a token under a header-only fault is %d, expected 401", status)
	}
}

func TestServerCloseWhileStalled(t *testing.T) {
	for _, fault := range []autoretouchtest.Fault{{Stall: true}, {StallMidBody: true}} {
		t.Run(fmt.Sprintf("%+v", fault), func(t *testing.T) {
			s := autoretouchtest.NewServer()
			s.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 123456})
			s.SetFault(autoretouchtest.EndpointBalance, "", fault)

			// The request has no deadline, so only Close can end it.
			requestDone := make(chan struct{})
			go func() {
				defer close(requestDone)
				resp, err := http.Get(s.URL + "/v1/organization/balance?organization=org-1")
				if err == nil {
					_, _ = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
			}()
			waitFor(t, func() bool { return s.InFlight() == 1 })

			closed := make(chan struct{})
			go func() {
				s.Close()
				close(closed)
			}()

			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatalf("Close did not return within 5 s while a request was stalled")
			}
			select {
			case <-requestDone:
			case <-time.After(5 * time.Second):
				t.Errorf("the stalled request did not end within 5 s of Close")
			}
		})
	}
}

func TestServerCountsRequests(t *testing.T) {
	s := newServer(t)
	s.AddOrganization(autoretouchtest.Organization{ID: "org-1"})
	s.SetLatency(300 * time.Millisecond)

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { getOK(t, s, "/v1/organization/balance?organization=org-1") })
	}
	wg.Go(func() { getOK(t, s, "/v1/organization") })
	wg.Wait()

	if n := s.Requests(autoretouchtest.EndpointBalance); n != 5 {
		t.Errorf("balance requests counted %d, expected 5", n)
	}
	if n := s.TotalRequests(); n != 6 {
		t.Errorf("total requests counted %d, expected 6", n)
	}
	if n := s.MaxInFlight(); n != 6 {
		t.Errorf("max in flight is %d, expected all 6 requests held by the latency at once", n)
	}
	if n := s.InFlight(); n != 0 {
		t.Errorf("in flight after all answers is %d, expected 0", n)
	}

	s.ResetCounters()
	if n := s.TotalRequests(); n != 0 {
		t.Errorf("total after ResetCounters is %d, expected 0", n)
	}
	if n := s.MaxInFlight(); n != 0 {
		t.Errorf("max in flight after ResetCounters is %d, expected 0", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
