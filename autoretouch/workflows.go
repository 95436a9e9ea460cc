package autoretouch

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-kit/log/level"
)

const (
	endpointWorkflows = "workflows"

	// maxWorkflowPages bounds the pages of one organization's workflow
	// listing, so that a server that ignores offset cannot make it loop.
	maxWorkflowPages = 100
)

// Workflow is an AutoRetouch workflow and what one execution of it costs.
type Workflow struct {
	ID   string
	Name string
	// ExecutionPrice is in credits (euro cents). It is valid only when
	// HasPrice is true, because a workflow without a price must not be
	// exposed as free.
	ExecutionPrice int64
	HasPrice       bool
}

type workflowEntry struct {
	ID             *string      `json:"id"`
	Name           *string      `json:"name"`
	ExecutionPrice *json.Number `json:"executionPrice"`
}

// DecodeWorkflowPage parses one page of the workflow listing. Entries
// without an id are dropped and counted in skipped; a price that is not an
// integer within ±2^53 leaves HasPrice false.
func DecodeWorkflowPage(body []byte) (workflows []Workflow, total int64, skipped int, err error) {
	entries, total, err := decodePage[workflowEntry](endpointWorkflows, body)
	if err != nil {
		return nil, 0, 0, err
	}

	workflows = make([]Workflow, 0, len(entries))
	for _, entry := range entries {
		if entry.ID == nil || strings.TrimSpace(*entry.ID) == "" {
			skipped++
			continue
		}

		workflow := Workflow{ID: validUTF8(*entry.ID)}
		if entry.Name != nil {
			workflow.Name = validUTF8(*entry.Name)
		}
		if entry.ExecutionPrice != nil {
			price, err := strconv.ParseInt(entry.ExecutionPrice.String(), 10, 64)
			if err == nil && price >= -maxExactBalance && price <= maxExactBalance {
				workflow.ExecutionPrice = price
				workflow.HasPrice = true
			}
		}
		workflows = append(workflows, workflow)
	}
	return workflows, total, skipped, nil
}

// Workflows lists an organization's workflows, page after page, until it
// has seen total of them or a page comes back short. Most organizations
// have a few workflows, so the pages are not fetched concurrently. A
// workflow that appears on two pages is returned once.
func (c *Client) Workflows(ctx context.Context, orgID string) ([]Workflow, error) {
	var (
		all     []Workflow
		seen    = make(map[string]bool)
		skipped int
	)

	for page := 0; page < maxWorkflowPages; page++ {
		query := url.Values{
			"organization": {orgID},
			"limit":        {strconv.Itoa(c.pageSize)},
			"offset":       {strconv.Itoa(page * c.pageSize)},
		}
		resp, err := c.get(ctx, endpointWorkflows, "/v1/workflow", query, maxPageBody)
		if err != nil {
			return nil, err
		}
		workflows, total, pageSkipped, err := DecodeWorkflowPage(resp.body)
		if err != nil {
			return nil, resp.hideToken(err)
		}
		skipped += pageSkipped

		for _, workflow := range workflows {
			if !seen[workflow.ID] {
				seen[workflow.ID] = true
				all = append(all, workflow)
			}
		}
		if len(workflows)+pageSkipped < c.pageSize || int64((page+1)*c.pageSize) >= total {
			break
		}
	}

	if skipped > 0 {
		_ = level.Warn(c.logger).Log("msg", "skipped workflows without an id", "endpoint", endpointWorkflows, "org_id", orgID, "count", skipped)
	}
	return all, nil
}
