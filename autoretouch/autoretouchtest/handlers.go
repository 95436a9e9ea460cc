package autoretouchtest

import (
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"time"
)

// organizationJSON and memberJSON are the documented response shapes.
type organizationJSON struct {
	ID      string       `json:"id"`
	Name    string       `json:"name"`
	Version string       `json:"version"`
	Members []memberJSON `json:"members"`
}

type memberJSON struct {
	ID         string   `json:"id"`
	GivenName  string   `json:"givenName"`
	FamilyName string   `json:"familyName"`
	Email      string   `json:"email"`
	Picture    string   `json:"picture"`
	Roles      []string `json:"roles"`
}

type pageJSON struct {
	Entries []organizationJSON `json:"entries"`
	Total   int                `json:"total"`
}

func toJSON(org *Organization) organizationJSON {
	out := organizationJSON{
		ID:      org.ID,
		Name:    org.Name,
		Version: fmt.Sprintf("%08x-0000-4000-8000-%012x", crc32.ChecksumIEEE([]byte(org.ID)), uint64(org.Balance)&0xffffffffffff),
		Members: make([]memberJSON, 0, len(org.Members)),
	}
	for _, m := range org.Members {
		out.Members = append(out.Members, memberJSON{
			ID:         m.ID,
			GivenName:  m.GivenName,
			FamilyName: m.FamilyName,
			Email:      m.Email,
			Picture:    "https://example.com/" + m.ID + ".jpg",
			Roles:      m.Roles,
		})
	}
	return out
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /health", s.route(EndpointHealth, false, nil, s.serveHealth))
	mux.Handle("GET /v1/organization", s.route(EndpointOrganizations, true, nil, s.serveOrganizations))
	mux.Handle("GET /v1/organization/balance", s.route(EndpointBalance, true, queryOrgID, s.serveBalance))
	mux.Handle("GET /v1/organization/{id}", s.route(EndpointOrganization, true, pathOrgID, s.serveOrganization))
	mux.Handle("GET /v1/organization/{id}/{$}", s.route(EndpointOrganization, true, pathOrgID, s.serveOrganization))
	mux.Handle("GET /v1/workflow", s.route(EndpointWorkflows, true, queryOrgID, s.serveWorkflows))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "No endpoint "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func queryOrgID(r *http.Request) string { return r.URL.Query().Get("organization") }
func pathOrgID(r *http.Request) string  { return r.PathValue("id") }

// route wraps an endpoint's handler with what every request goes through:
// counting, the in-flight gauge, latency, faults and the bearer token check.
func (s *Server) route(endpoint string, auth bool, orgIDOf func(*http.Request) string, serve http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[endpoint]++
		s.inFlight++
		s.maxInFlight = max(s.maxInFlight, s.inFlight)
		latency := s.latency
		s.mu.Unlock()

		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.mu.Unlock()
		}()

		if !s.wait(r, latency) {
			return
		}

		orgID := ""
		if orgIDOf != nil {
			orgID = orgIDOf(r)
		}
		normal := serve
		if auth {
			normal = s.requireToken(serve)
		}
		if fault, ok := s.takeFault(endpoint, orgID); ok {
			s.serveFault(w, r, fault, normal)
			return
		}
		normal(w, r)
	})
}

// requireToken responds 401 unless the request carries an accepted, unexpired
// bearer token.
func (s *Server) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)

		s.mu.Lock()
		expiry, ok := s.tokens[token]
		s.mu.Unlock()

		if token == "" || !ok || (!expiry.IsZero() && time.Now().After(expiry)) {
			writeError(w, r, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next(w, r)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
}

func (s *Server) serveOrganizations(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}

	s.mu.Lock()
	hook := s.listingHook
	s.mu.Unlock()
	if hook != nil {
		hook(offset)
	}

	s.mu.Lock()
	quirks := s.pageQuirks
	if quirks.IgnoreOffset {
		offset = 0
	}
	if quirks.MaxLimit > 0 {
		limit = min(limit, quirks.MaxLimit)
	}
	page := pageJSON{Entries: []organizationJSON{}, Total: len(s.orgs) + quirks.TotalDelta}
	for i := offset; i < len(s.orgs) && i < offset+limit; i++ {
		page.Entries = append(page.Entries, toJSON(s.orgs[i]))
	}
	if quirks.GrowTotalPerPage != 0 {
		s.pageQuirks.TotalDelta += quirks.GrowTotalPerPage
	}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, page)
}

func (s *Server) serveOrganization(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")

	s.mu.Lock()
	found, ok := s.byID[id]
	var org organizationJSON
	if ok {
		org = toJSON(found)
	}
	s.mu.Unlock()

	if !ok {
		writeError(w, r, http.StatusNotFound, "Organization "+id+" not found")
		return
	}
	writeJSON(w, http.StatusOK, org)
}

// serveBalance writes the balance as a bare integer, as the API does.
func (s *Server) serveBalance(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("organization")
	if id == "" {
		writeError(w, r, http.StatusBadRequest, "Required parameter 'organization' is not present")
		return
	}

	s.mu.Lock()
	found, ok := s.byID[id]
	var balance int64
	if ok {
		balance = found.Balance
	}
	s.mu.Unlock()

	if !ok {
		writeError(w, r, http.StatusNotFound, "Organization "+id+" not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(strconv.FormatInt(balance, 10)))
}

func itoa(n int) string { return strconv.Itoa(n) }
