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
	ID             *string         `json:"id"`
	Name           *string         `json:"name"`
	ExecutionPrice json.RawMessage `json:"executionPrice"`
}

// DecodeWorkflowPage parses one page of the workflow listing. Entries that
// are malformed or have no id are dropped and counted in skipped. A price
// that is not a bare non-negative integer up to 2^53, such as null, 12.5,
// "10" or -5, leaves HasPrice false rather than guessing.
func DecodeWorkflowPage(body []byte) (workflows []Workflow, total int64, skipped int, err error) {
	entries, total, skipped, err := decodePage[workflowEntry](endpointWorkflows, body)
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
			price, err := strconv.ParseInt(string(entry.ExecutionPrice), 10, 64)
			if err == nil && price >= 0 && price <= maxExactBalance {
				workflow.ExecutionPrice = price
				workflow.HasPrice = true
			}
		}
		workflows = append(workflows, workflow)
	}
	return workflows, total, skipped, nil
}

// Workflows lists an organization's workflows, page after page, each page
// starting where the entries of the last one ended, until an empty page or
// total. Most organizations have a few workflows, so the pages are not
// fetched concurrently. A workflow that appears on two pages is returned
// once.
func (c *Client) Workflows(ctx context.Context, orgID string) ([]Workflow, error) {
	var (
		all     []Workflow
		seen    = make(map[string]bool)
		skipped int
	)

	offset := 0
	for range maxWorkflowPages {
		query := url.Values{
			"organization": {orgID},
			"limit":        {strconv.Itoa(c.pageSize)},
			"offset":       {strconv.Itoa(offset)},
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
		entries := len(workflows) + pageSkipped
		offset += entries
		if entries == 0 || int64(offset) >= total {
			break
		}
	}

	if skipped > 0 {
		_ = level.Warn(c.logger).Log("msg", "skipped malformed workflows or workflows without an id", "endpoint", endpointWorkflows, "org_id", orgID, "count", skipped)
	}
	return all, nil
}
