// Package autoretouchtest provides a fake AutoRetouch API: a real HTTP server
// on loopback, in the spirit of net/http/httptest, that serves the documented
// response shapes and lets tests seed data, inject faults and count requests.
package autoretouchtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint names, the same as the client's.
const (
	EndpointOrganizations = "organizations"
	EndpointOrganization  = "organization"
	EndpointBalance       = "balance"
	EndpointHealth        = "health"
)

// DefaultToken is the access token a new Server accepts.
const DefaultToken = "fake-access-token"

// maxLimit is the largest page size the fake accepts. The real API's maximum
// is not documented.
const maxLimit = 1000

// Organization is an organization with its balance, as a test seeds it.
type Organization struct {
	ID      string
	Name    string
	Members []Member
	// Balance is in credits (euro cents).
	Balance int64
}

// Member carries the personal fields the real API returns, so that tests can
// check the exporter never exposes them.
type Member struct {
	ID         string
	GivenName  string
	FamilyName string
	Email      string
	Roles      []string
}

// Server is a fake AutoRetouch API. Its methods are safe for concurrent use,
// also while requests are being served.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:41234, with no trailing slash.
	URL string

	httpServer *httptest.Server
	closed     chan struct{}
	closeOnce  sync.Once

	mu          sync.Mutex
	orgs        []*Organization
	byID        map[string]*Organization
	workflows   map[string][]Workflow
	generated   int
	tokens      map[string]time.Time
	latency     time.Duration
	faults      []*faultRule
	random      *randomFaults
	listingHook func(offset int)
	pageQuirks  PageQuirks
	requests    map[string]int
	inFlight    int
	maxInFlight int
}

// NewServer starts a fake API on a random loopback port. The caller closes it.
func NewServer() *Server {
	s := newServer()
	s.httpServer = httptest.NewServer(s.handler())
	s.URL = s.httpServer.URL
	return s
}

// NewServerOnListener starts a fake API on l, for a demo on a fixed address.
func NewServerOnListener(l net.Listener) *Server {
	s := newServer()
	s.httpServer = httptest.NewUnstartedServer(s.handler())
	_ = s.httpServer.Listener.Close()
	s.httpServer.Listener = l
	s.httpServer.Start()
	s.URL = s.httpServer.URL
	return s
}

func newServer() *Server {
	return &Server{
		closed:    make(chan struct{}),
		byID:      make(map[string]*Organization),
		workflows: make(map[string][]Workflow),
		tokens:    map[string]time.Time{DefaultToken: {}},
		requests:  make(map[string]int),
	}
}

// Close ends every stalled request and shuts the server down.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.httpServer.CloseClientConnections()
	s.httpServer.Close()
}

// AcceptToken makes the server accept token until expiry, or for ever when
// expiry is zero.
func (s *Server) AcceptToken(token string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = expiry
}

// RevokeToken makes the server respond 401 to token.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// AddOrganization adds an organization at the end of the listing, or
// replaces the one with the same id in place.
func (s *Server) AddOrganization(org Organization) {
	s.mu.Lock()
	defer s.mu.Unlock()

	copied := cloneOrganization(org)
	s.byID[org.ID] = &copied
	if i := s.indexOf(org.ID); i >= 0 {
		s.orgs[i] = &copied
		return
	}
	s.orgs = append(s.orgs, &copied)
}

// InsertOrganization adds an organization at position index of the listing,
// which shifts the offset of every organization after it.
func (s *Server) InsertOrganization(index int, org Organization) {
	s.mu.Lock()
	defer s.mu.Unlock()

	copied := cloneOrganization(org)
	if i := s.indexOf(org.ID); i >= 0 {
		s.orgs = slices.Delete(s.orgs, i, i+1)
	}
	s.byID[org.ID] = &copied
	index = min(max(index, 0), len(s.orgs))
	s.orgs = slices.Insert(s.orgs, index, &copied)
}

// AddOrganizations adds n generated organizations with the given balance,
// each with one admin, for benchmarks and load tests. Their ids are numbered
// from 0 up across calls, skipping ids already in use.
func (s *Server) AddOrganizations(n int, balance int64) {
	s.mu.Lock()
	defer s.mu.Unlock()

	for range n {
		number, id := s.nextGeneratedID()
		org := &Organization{
			ID:      id,
			Name:    fmt.Sprintf("Organization %d", number),
			Members: []Member{{ID: "auth0|" + id, Roles: []string{"admin"}}},
			Balance: balance,
		}
		s.orgs = append(s.orgs, org)
		s.byID[id] = org
	}
}

// nextGeneratedID returns the next number whose generated id is not in use.
// Counting the listing instead would reuse an id after a removal.
func (s *Server) nextGeneratedID() (int, string) {
	for {
		number := s.generated
		s.generated++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", number)
		if _, used := s.byID[id]; !used {
			return number, id
		}
	}
}

// RemoveOrganization deletes an organization, as if it had been deleted in
// AutoRetouch.
func (s *Server) RemoveOrganization(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if i := s.indexOf(id); i >= 0 {
		s.orgs = slices.Delete(s.orgs, i, i+1)
	}
	delete(s.byID, id)
}

// SetBalance sets an organization's balance in credits.
func (s *Server) SetBalance(id string, credits int64) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if org, ok := s.byID[id]; ok {
		org.Balance = credits
	}
}

// AddCredits adds delta credits to an organization's balance (a negative
// delta spends them) and returns the new balance.
func (s *Server) AddCredits(id string, delta int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()

	if org, ok := s.byID[id]; ok {
		org.Balance += delta
		return org.Balance
	}
	return 0
}

// Organizations returns a copy of the organizations in listing order.
func (s *Server) Organizations() []Organization {
	s.mu.Lock()
	defer s.mu.Unlock()

	out := make([]Organization, 0, len(s.orgs))
	for _, org := range s.orgs {
		out = append(out, cloneOrganization(*org))
	}
	return out
}

// cloneOrganization copies org down to the members' roles, so that a later
// change on the test's side or the server's side does not reach the other.
func cloneOrganization(org Organization) Organization {
	copied := org
	copied.Members = slices.Clone(org.Members)
	for i := range copied.Members {
		copied.Members[i].Roles = slices.Clone(org.Members[i].Roles)
	}
	return copied
}

// SetLatency adds a delay to every request before the response.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetListingHook calls hook before each page of the organization listing is
// built, with the page's offset. Tests use it to change the listing while it
// is being read.
func (s *Server) SetListingHook(hook func(offset int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listingHook = hook
}

// PageQuirks make the organization listing misbehave.
type PageQuirks struct {
	// IgnoreOffset serves the first page for every offset.
	IgnoreOffset bool
	// TotalDelta is added to the real total on every page.
	TotalDelta int
	// GrowTotalPerPage adds this much more to total on each page served.
	GrowTotalPerPage int
	// MaxLimit, when above 0, silently caps the limit a request sends,
	// as an API with an undocumented maximum page size would.
	MaxLimit int
}

// SetPageQuirks replaces the listing's quirks.
func (s *Server) SetPageQuirks(q PageQuirks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageQuirks = q
}

// Requests returns how many requests an endpoint received.
func (s *Server) Requests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[endpoint]
}

// TotalRequests returns how many requests all endpoints received.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()

	total := 0
	for _, n := range s.requests {
		total += n
	}
	return total
}

// MaxInFlight returns the largest number of requests the server was
// handling at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// InFlight returns the number of requests being handled now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// ResetCounters sets the request counts and the in-flight maximum to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = make(map[string]int)
	s.maxInFlight = s.inFlight
}

func (s *Server) indexOf(id string) int {
	return slices.IndexFunc(s.orgs, func(o *Organization) bool { return o.ID == id })
}

// writeJSON writes v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes the Spring Boot error body the API documents.
func writeError(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, map[string]any{
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000+00:00"),
		"status":    status,
		"error":     http.StatusText(status),
		"message":   message,
		"path":      r.URL.Path,
	})
}

// pageParams reads limit and offset with the API's defaults of 50 and 0.
func pageParams(r *http.Request) (limit, offset int, err error) {
	limit, offset = 50, 0
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, fmt.Errorf("invalid limit %q", v)
		}
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		offset, err = strconv.Atoi(v)
		if err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("invalid offset %q", v)
		}
	}
	return limit, offset, nil
}

func bearerToken(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return token
}
