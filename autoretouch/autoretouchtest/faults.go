package autoretouchtest

import (
	"net/http"
	"net/http/httptest"
	"time"
)

// Fault changes how the server responds to the requests it matches.
type Fault struct {
	// Status, when not 0, replaces the status code. With Status 0 and a
	// Body, the response is 200 with that body.
	Status int
	// Body replaces the body, such as "null" for a balance or an HTML page.
	Body string
	// Header is added to the response, such as Retry-After.
	Header http.Header
	// Delay is added before the answer, on top of the server's latency.
	Delay time.Duration
	// Stall holds the request without answering until the client gives up
	// or the server closes.
	Stall bool
	// StallMidBody sends the status, the headers and the first half of the
	// body, then stalls like Stall.
	StallMidBody bool
	// Times limits the fault to the next Times matching requests. With 0 it
	// matches every request until ClearFaults.
	Times int
}

type faultRule struct {
	endpoint string
	orgID    string
	fault    Fault
	used     int
}

// SetFault applies f to the requests to endpoint about orgID, or to every
// request to endpoint when orgID is empty. A rule for one organization takes
// precedence over a rule for the whole endpoint. It replaces an earlier rule
// for the same endpoint and organization.
func (s *Server) SetFault(endpoint, orgID string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()

	for _, rule := range s.faults {
		if rule.endpoint == endpoint && rule.orgID == orgID {
			rule.fault = f
			rule.used = 0
			return
		}
	}
	s.faults = append(s.faults, &faultRule{endpoint: endpoint, orgID: orgID, fault: f})
}

// ClearFaults removes every fault, the random ones included.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.random = nil
}

// takeFault returns the fault that applies to a request, and uses up one of
// its Times.
func (s *Server) takeFault(endpoint, orgID string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var match *faultRule
	for _, rule := range s.faults {
		if rule.endpoint != endpoint || (rule.orgID != "" && rule.orgID != orgID) {
			continue
		}
		if rule.fault.Times > 0 && rule.used >= rule.fault.Times {
			continue
		}
		if match == nil || (match.orgID == "" && rule.orgID != "") {
			match = rule
		}
	}
	if match == nil {
		return s.random.pick()
	}
	match.used++
	return match.fault, true
}

// serveFault answers a request as f says. normal renders the answer the
// request would get without a fault, for a fault that keeps the body.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault, normal http.HandlerFunc) {
	if !s.wait(r, f.Delay) {
		return
	}
	if f.Stall {
		s.stall(r)
		return
	}

	recorder := httptest.NewRecorder()
	if f.Status == 0 && f.Body == "" {
		normal(recorder, r)
	} else {
		recorder.Header().Set("Content-Type", "application/json")
		recorder.WriteHeader(max(f.Status, http.StatusOK))
		_, _ = recorder.WriteString(f.Body)
	}

	for key, values := range recorder.Header() {
		w.Header()[key] = values
	}
	for key, values := range f.Header {
		w.Header()[key] = values
	}
	body := recorder.Body.Bytes()

	if !f.StallMidBody {
		w.WriteHeader(recorder.Code)
		_, _ = w.Write(body)
		return
	}

	// Announce the full length, so that the client keeps waiting for the
	// rest of the body.
	w.Header().Set("Content-Length", itoa(len(body)))
	w.WriteHeader(recorder.Code)
	_, _ = w.Write(body[:len(body)/2])
	if flusher, ok := w.(http.Flusher); ok {
		flusher.Flush()
	}
	s.stall(r)
}

// wait sleeps for d, and returns false when the request or the server ended
// first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

func (s *Server) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closed:
	}
}
