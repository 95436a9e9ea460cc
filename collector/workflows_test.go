package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
	"github.com/autoretouch/autoretouch_exporter/collector"
)

var workflowMetrics = []string{
	"autoretouch_credit_balance",
	"autoretouch_org_collector_success",
	"autoretouch_org_scrape_success",
	"autoretouch_workflows",
	"autoretouch_workflow_execution_price",
}

const workflowHelp = `# HELP autoretouch_credit_balance Credits left in the organization. One credit is one euro cent, excluding VAT. Absent when the balance could not be fetched in this scrape.
# TYPE autoretouch_credit_balance gauge
# HELP autoretouch_org_collector_success 1 when one part of the organization's data was fetched in this scrape, 0 otherwise. The collector label names the part: "balance", or "workflows" when that collector is on.
# TYPE autoretouch_org_collector_success gauge
# HELP autoretouch_org_scrape_success 1 when everything for the organization was fetched in this scrape, 0 otherwise. autoretouch_org_collector_success tells which part failed.
# TYPE autoretouch_org_scrape_success gauge
# HELP autoretouch_workflow_execution_price Credits one execution of the workflow costs. Absent for a workflow whose price is missing or not an integer.
# TYPE autoretouch_workflow_execution_price gauge
# HELP autoretouch_workflows Workflows of the organization. Present only when the workflow collector is on and the listing succeeded.
# TYPE autoretouch_workflows gauge
`

func (e *testEnv) compareWorkflows(t *testing.T, expected string) {
	t.Helper()
	if err := testutil.CollectAndCompare(e.collector, strings.NewReader(workflowHelp+expected), workflowMetrics...); err != nil {
		t.Errorf("unexpected metrics:\n%v\nlogs:\n%s", err, e.logs)
	}
}

func TestWorkflowsPrices(t *testing.T) {
	env := newTestEnv(t, 2, collector.Options{Workflows: true})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.AddOrganization(org("id-2", "Empty", 50))
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{
		{ID: "wf-1", Name: "Packshot", ExecutionPrice: 10},
		{ID: "wf-2", Name: "On-model", ExecutionPrice: 400},
		{ID: "wf-3", Name: "Packshot", ExecutionPrice: 25},
	})

	env.compareWorkflows(t, `
autoretouch_credit_balance{org="Empty",org_id="id-2"} 50
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Empty",org_id="id-2"} 1
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_collector_success{collector="workflows",org="Empty",org_id="id-2"} 1
autoretouch_org_collector_success{collector="workflows",org="Studio",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Empty",org_id="id-2"} 1
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 1
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="On-model",workflow_id="wf-2"} 400
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="Packshot",workflow_id="wf-1"} 10
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="Packshot",workflow_id="wf-3"} 25
autoretouch_workflows{org="Empty",org_id="id-2"} 0
autoretouch_workflows{org="Studio",org_id="id-1"} 3
`)

	// Three workflows at a page size of 2 need two pages for Studio, and
	// Empty needs one.
	if got := env.server.Requests(autoretouchtest.EndpointWorkflows); got != 3 {
		t.Errorf("workflow requests = %d, want 3", got)
	}
}

func TestWorkflowsFailureKeepsBalance(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{Workflows: true})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{{ID: "wf-1", Name: "Packshot", ExecutionPrice: 10}})
	env.server.SetFault(autoretouchtest.EndpointWorkflows, "id-1", autoretouchtest.Fault{Status: 500})

	env.compareWorkflows(t, `
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_collector_success{collector="workflows",org="Studio",org_id="id-1"} 0
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 0
`)
	if !strings.Contains(env.logs.String(), `msg="fetching workflows failed" org_id=id-1 endpoint=workflows status=500`) {
		t.Errorf("log does not report the failed workflow listing:\n%s", env.logs)
	}
}

func TestWorkflowsDeletedDisappears(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{Workflows: true})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{
		{ID: "wf-1", Name: "Packshot", ExecutionPrice: 10},
		{ID: "wf-2", Name: "On-model", ExecutionPrice: 400},
	})
	if got := testutil.CollectAndCount(env.collector, "autoretouch_workflow_execution_price"); got != 2 {
		t.Fatalf("first scrape has %d prices, want 2", got)
	}

	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{{ID: "wf-1", Name: "Packshot", ExecutionPrice: 12}})
	env.compareWorkflows(t, `
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_collector_success{collector="workflows",org="Studio",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 1
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="Packshot",workflow_id="wf-1"} 12
autoretouch_workflows{org="Studio",org_id="id-1"} 1
`)
}

func TestWorkflowsMissingPriceLeftOut(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{Workflows: true})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.SetFault(autoretouchtest.EndpointWorkflows, "id-1", autoretouchtest.Fault{Body: `{"entries":[
		{"id":"wf-1","name":"No price"},
		{"id":"wf-2","name":"Null price","executionPrice":null},
		{"id":"wf-3","name":"Decimal price","executionPrice":12.5},
		{"id":"wf-4","name":"Priced","executionPrice":40},
		{"name":"No id","executionPrice":1}],"total":5}`})

	env.compareWorkflows(t, `
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_collector_success{collector="workflows",org="Studio",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 1
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="Priced",workflow_id="wf-4"} 40
autoretouch_workflows{org="Studio",org_id="id-1"} 4
`)
}

func TestWorkflowsOffSendsNoRequests(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{Workflows: false})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{{ID: "wf-1", Name: "Packshot", ExecutionPrice: 10}})

	env.compareWorkflows(t, `
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 1
`)
	if got := env.server.Requests(autoretouchtest.EndpointWorkflows); got != 0 {
		t.Errorf("workflow requests = %d with the collector off, want 0", got)
	}
}

func TestWorkflowsRefreshInterval(t *testing.T) {
	env := newTestEnv(t, 50, collector.Options{Workflows: true, WorkflowsRefresh: time.Hour})
	env.server.AddOrganization(org("id-1", "Studio", 2000))
	env.server.AddOrganization(org("id-2", "Agency", 300))
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{{ID: "wf-1", Name: "Packshot", ExecutionPrice: 10}})
	env.server.SetFault(autoretouchtest.EndpointWorkflows, "id-2", autoretouchtest.Fault{Status: 500, Times: 1})

	first := testutil.CollectAndCount(env.collector, "autoretouch_workflow_execution_price")
	env.server.SetWorkflows("id-1", []autoretouchtest.Workflow{{ID: "wf-1", Name: "Packshot", ExecutionPrice: 99}})

	// Studio's workflows come from the cache; Agency's failed fetch left
	// no entry, so they are fetched again.
	help := strings.Replace(workflowHelp, "not an integer.\n", "not an integer. At most 1h0m0s old.\n", 1)
	expected := help + `
autoretouch_credit_balance{org="Agency",org_id="id-2"} 300
autoretouch_credit_balance{org="Studio",org_id="id-1"} 2000
autoretouch_org_collector_success{collector="balance",org="Agency",org_id="id-2"} 1
autoretouch_org_collector_success{collector="balance",org="Studio",org_id="id-1"} 1
autoretouch_org_collector_success{collector="workflows",org="Agency",org_id="id-2"} 1
autoretouch_org_collector_success{collector="workflows",org="Studio",org_id="id-1"} 1
autoretouch_org_scrape_success{org="Agency",org_id="id-2"} 1
autoretouch_org_scrape_success{org="Studio",org_id="id-1"} 1
autoretouch_workflow_execution_price{org="Studio",org_id="id-1",workflow="Packshot",workflow_id="wf-1"} 10
autoretouch_workflows{org="Agency",org_id="id-2"} 0
autoretouch_workflows{org="Studio",org_id="id-1"} 1
`
	if err := testutil.CollectAndCompare(env.collector, strings.NewReader(expected), workflowMetrics...); err != nil {
		t.Errorf("unexpected metrics:\n%v\nlogs:\n%s", err, env.logs)
	}

	if first != 1 {
		t.Errorf("first scrape has %d prices, want 1", first)
	}
	if got := env.server.Requests(autoretouchtest.EndpointWorkflows); got != 3 {
		t.Errorf("workflow requests = %d, want 2 in the first scrape and 1 retry of the failed one", got)
	}
}
