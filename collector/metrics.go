package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "autoretouch"

// metricSpec is the one source of a metric's name, type, help and labels:
// the collector builds its descriptors from it, and the README's metrics
// table is generated from it.
type metricSpec struct {
	name   string
	kind   string
	help   string
	labels []string
}

func (s metricSpec) desc() *prometheus.Desc {
	return prometheus.NewDesc(s.name, s.help, s.labels, nil)
}

var (
	creditBalanceSpec = metricSpec{
		name:   namespace + "_credit_balance",
		kind:   "gauge",
		help:   "Credits left in the organization. One credit is one euro cent, excluding VAT. Absent when the balance could not be fetched in this scrape.",
		labels: []string{"org_id", "org"},
	}
	orgMembersSpec = metricSpec{
		name:   namespace + "_org_members",
		kind:   "gauge",
		help:   `Members of the organization holding the role. The roles "admin" and "operator" are always present; a member with several roles counts under each.`,
		labels: []string{"org_id", "org", "role"},
	}
	organizationsSpec = metricSpec{
		name: namespace + "_organizations",
		kind: "gauge",
		help: "Organizations the credentials can see. Absent when the listing failed.",
	}
	orgScrapeSuccessSpec = metricSpec{
		name:   namespace + "_org_scrape_success",
		kind:   "gauge",
		help:   "1 when everything for the organization was fetched in this scrape, 0 otherwise. autoretouch_org_collector_success tells which part failed.",
		labels: []string{"org_id", "org"},
	}
	orgCollectorSuccessSpec = metricSpec{
		name:   namespace + "_org_collector_success",
		kind:   "gauge",
		help:   `1 when one part of the organization's data was fetched in this scrape, 0 otherwise. The collector label names the part: "balance", or "workflows" when that collector is on.`,
		labels: []string{"org_id", "org", "collector"},
	}
	workflowsSpec = metricSpec{
		name:   namespace + "_workflows",
		kind:   "gauge",
		help:   "Workflows of the organization. Present only when the workflow collector is on and the listing succeeded.",
		labels: []string{"org_id", "org"},
	}
	workflowPriceSpec = metricSpec{
		name:   namespace + "_workflow_execution_price",
		kind:   "gauge",
		help:   "Credits one execution of the workflow costs. Absent for a workflow whose price is missing or not an integer.",
		labels: []string{"org_id", "org", "workflow_id", "workflow"},
	}
	upSpec = metricSpec{
		name: namespace + "_up",
		kind: "gauge",
		help: "1 when the organization listing succeeded in this scrape, 0 otherwise.",
	}
	scrapeDurationSpec = metricSpec{
		name: namespace + "_scrape_duration_seconds",
		kind: "gauge",
		help: "Time this scrape spent fetching from the AutoRetouch API.",
	}
	retryAfterSpec = metricSpec{
		name: namespace + "_api_retry_after_seconds",
		kind: "gauge",
		help: "Seconds left of the wait the API asked for with Retry-After. While above 0 the exporter sends no requests; 0 when no wait is in force.",
	}
	cacheAgeSpec = metricSpec{
		name: namespace + "_scrape_cache_age_seconds",
		kind: "gauge",
		help: "Age of the served data. Above 0 when this scrape was served from the cache of the last successful scrape. Present only when the cache is on.",
	}
	authTokenExpirySpec = metricSpec{
		name: namespace + "_auth_token_expiry_timestamp_seconds",
		kind: "gauge",
		help: "Unix time at which the current access token expires. Present only with a refresh token, once the first access token was granted.",
	}
	authRenewalFailuresSpec = metricSpec{
		name: namespace + "_auth_token_renewal_failures_total",
		kind: "counter",
		help: "Failed attempts to trade the refresh token for an access token. Present only with a refresh token.",
	}
	buildInfoSpec = metricSpec{
		name:   namespace + "_exporter_build_info",
		kind:   "gauge",
		help:   "A metric with a constant '1' value labeled by version, revision, branch, goversion from which autoretouch_exporter was built, and the goos and goarch for the build.",
		labels: []string{"version", "revision", "branch", "goversion", "goos", "goarch", "tags"},
	}
	apiRequestsSpec = metricSpec{
		name:   namespace + "_api_requests_total",
		kind:   "counter",
		help:   `HTTP requests sent to the AutoRetouch API and its auth server (endpoint "token"), by endpoint and status code ("error" when no response arrived). Retries count as requests.`,
		labels: []string{"endpoint", "code"},
	}
	apiRequestDurationSpec = metricSpec{
		name:   namespace + "_api_request_duration_seconds",
		kind:   "histogram",
		help:   "Time from sending an HTTP request to the AutoRetouch API to reading the end of its response.",
		labels: []string{"endpoint"},
	}
)

// allSpecs lists every autoretouch_ metric, in the order the README shows them.
var allSpecs = []metricSpec{
	creditBalanceSpec,
	orgMembersSpec,
	organizationsSpec,
	orgScrapeSuccessSpec,
	orgCollectorSuccessSpec,
	workflowsSpec,
	workflowPriceSpec,
	upSpec,
	scrapeDurationSpec,
	retryAfterSpec,
	cacheAgeSpec,
	apiRequestsSpec,
	apiRequestDurationSpec,
	authTokenExpirySpec,
	authRenewalFailuresSpec,
	buildInfoSpec,
}

// MetricsTable returns the Markdown table of every autoretouch_ metric, for
// the README.
func MetricsTable() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | help |\n|---|---|---|---|\n")
	for _, spec := range allSpecs {
		labels := make([]string, 0, len(spec.labels))
		for _, label := range spec.labels {
			labels = append(labels, "`"+label+"`")
		}
		help := strings.ReplaceAll(spec.help, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", spec.name, spec.kind, strings.Join(labels, ", "), help)
	}
	return b.String()
}

// MetricNames returns the name of every autoretouch_ metric.
func MetricNames() []string {
	names := make([]string, 0, len(allSpecs))
	for _, spec := range allSpecs {
		names = append(names, spec.name)
	}
	return slices.Sorted(slices.Values(names))
}
