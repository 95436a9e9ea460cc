package autoretouchtest

import (
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"time"
)

// EndpointWorkflows is the workflow listing, GET /v1/workflow.
const EndpointWorkflows = "workflows"

// Workflow is a workflow as a test seeds it.
type Workflow struct {
	ID   string
	Name string
	// ExecutionPrice is in credits per execution.
	ExecutionPrice int64
}

// workflowJSON is the documented workflow shape.
type workflowJSON struct {
	ID                 string         `json:"id"`
	Version            string         `json:"version"`
	Name               string         `json:"name"`
	Date               string         `json:"date"`
	Author             map[string]any `json:"author"`
	WorkflowComponents []any          `json:"workflowComponents"`
	ExecutionPrice     int64          `json:"executionPrice"`
}

// SetWorkflows replaces an organization's workflows.
func (s *Server) SetWorkflows(orgID string, workflows []Workflow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.workflows[orgID] = slices.Clone(workflows)
}

func workflowToJSON(w Workflow) workflowJSON {
	return workflowJSON{
		ID:                 w.ID,
		Version:            fmt.Sprintf("%08x-0000-4000-8000-%012x", crc32.ChecksumIEEE([]byte(w.ID)), uint64(w.ExecutionPrice)&0xffffffffffff),
		Name:               w.Name,
		Date:               time.Date(2024, 3, 1, 12, 30, 0, 123456000, time.UTC).Format(time.RFC3339Nano),
		Author:             map[string]any{"givenName": "Ada", "familyName": nil, "email": "ada@example.com"},
		WorkflowComponents: []any{},
		ExecutionPrice:     w.ExecutionPrice,
	}
}

// serveWorkflows pages an organization's workflows like the organization
// listing: entries and total.
func (s *Server) serveWorkflows(w http.ResponseWriter, r *http.Request) {
	orgID := r.URL.Query().Get("organization")
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if orgID == "" {
		writeError(w, r, http.StatusBadRequest, "Required parameter 'organization' is not present")
		return
	}

	s.mu.Lock()
	_, known := s.byID[orgID]
	workflows := s.workflows[orgID]
	page := struct {
		Entries []workflowJSON `json:"entries"`
		Total   int            `json:"total"`
	}{Entries: []workflowJSON{}, Total: len(workflows)}
	for i := offset; i < len(workflows) && i < offset+limit; i++ {
		page.Entries = append(page.Entries, workflowToJSON(workflows[i]))
	}
	s.mu.Unlock()

	if !known {
		writeError(w, r, http.StatusNotFound, "Organization "+orgID+" not found")
		return
	}
	writeJSON(w, http.StatusOK, page)
}
