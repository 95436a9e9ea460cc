// Package e2e runs the exporter with real Prometheus and Alertmanager
// binaries on loopback, and checks that the shipped rules and Alertmanager
// configuration turn a draining credit balance into alerts. It has only tests,
// and they run when AUTORETOUCH_E2E=1 (`make e2e`).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"
)

// The draining organization starts above both the default low-balance
// threshold of 5000 credits and 100 executions of its most expensive workflow
// at 50 credits. The test spends its credits down to drainedBalance, below
// both and above zero, so that AutoRetouchCreditBalanceExhausted stays quiet
// and inhibits nothing. The healthy organization stays far above both.
const (
	drainingOrgID   = "8c4f2a6e-1d3b-4f5a-9e7c-0b1d2f3a4c5e"
	drainingOrgName = `Atelier "Süd" 📷`
	healthyOrgID    = "2e7b9d1f-4a6c-4b8e-8d0f-1a3c5e7f9b2d"
	healthyOrgName  = "Studio Nord"

	mostExpensiveWorkflow = "Ghost mannequin"

	initialBalance = 5600
	drainedBalance = 4500
	drainStep      = 100

	lowBalanceAlert        = "AutoRetouchCreditBalanceLow"
	workflowExecutionAlert = "AutoRetouchWorkflowExecutionsLow"
)

// testTimeout bounds the whole run after the build, so that a hung server
// fails the test instead of blocking until go test's own timeout.
const testTimeout = 2 * time.Minute

func TestLowCreditAlertReachesAlertmanager(t *testing.T) {
	requireEndToEnd(t)
	prometheusBinary := toolPath(t, "PROMETHEUS", "prometheus")
	alertmanagerBinary := toolPath(t, "ALERTMANAGER", "alertmanager")
	promtoolBinary := toolPath(t, "PROMTOOL", "promtool")
	dir := t.TempDir()
	exporterBinary := buildExporter(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()

	api := autoretouchtest.NewServer()
	t.Cleanup(api.Close)
	seedOrganizations(api)
	// The exporter runs with an access token and sends no request to the auth
	// server. The fake runs only so that a loopback address replaces the
	// exporter's default auth URL, which is AutoRetouch's real one.
	auth := autoretouchtest.NewAuthServer(api)
	t.Cleanup(auth.Close)
	webhook := newWebhookReceiver(t)

	exporterAddress := testsupport.LoopbackAddress(t)
	alertmanagerAddress := testsupport.LoopbackAddress(t)
	prometheusAddress := testsupport.LoopbackAddress(t)
	prometheusURL := "http://" + prometheusAddress
	alertmanagerURL := "http://" + alertmanagerAddress

	ruleDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(ruleDir, 0o755); err != nil {
		t.Fatalf("creating %s: %v", ruleDir, err)
	}
	rulePattern := writeRuleFiles(t, ruleDir)
	prometheusConfig := filepath.Join(dir, "prometheus.yml")
	writePrometheusConfig(t, prometheusConfig, rulePattern, exporterAddress, alertmanagerAddress)
	alertmanagerConfig := filepath.Join(dir, "alertmanager.yml")
	writeAlertmanagerConfig(t, alertmanagerConfig, webhook.url)
	if output, err := exec.Command(promtoolBinary, "check", "config", prometheusConfig).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config rejects the rewritten configuration: %v\n%s", err, output)
	}

	exporter := startProcess(t, "autoretouch_exporter",
		[]string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken},
		exporterBinary,
		"--web.listen-address="+exporterAddress,
		"--autoretouch.api-url="+api.URL,
		"--autoretouch.auth-url="+auth.URL,
		"--autoretouch.client-id="+autoretouchtest.DefaultClientID,
	)
	alertmanager := startProcess(t, "alertmanager", nil, alertmanagerBinary,
		"--config.file="+alertmanagerConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+alertmanagerAddress,
		"--web.external-url="+alertmanagerURL+"/",
		// An empty address turns clustering off, so Alertmanager opens no
		// gossip port on all interfaces and looks for no peers.
		"--cluster.listen-address=",
	)
	prometheus := startProcess(t, "prometheus", nil, prometheusBinary,
		"--config.file="+prometheusConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+prometheusAddress,
		"--web.external-url="+prometheusURL+"/",
	)
	waitUntilReady(ctx, t, exporter, "http://"+exporterAddress+"/")
	waitUntilReady(ctx, t, alertmanager, alertmanagerURL+"/-/ready")
	waitUntilReady(ctx, t, prometheus, prometheusURL+"/-/ready")
	t.Logf("servers ready %s after the start", time.Since(start).Round(time.Millisecond))

	// The low-balance threshold is recorded from the balances. Once it exists
	// for both organizations, the next evaluation of the alerting rules
	// includes both, so from then on a missing alert is a result.
	var thresholdsSeen time.Time
	waitFor(ctx, t, "Prometheus records the low-balance threshold of both organizations", func() (bool, string) {
		samples, err := queryPrometheus(ctx, prometheusURL, "autoretouch:credit_balance_low_threshold:effective")
		if err != nil {
			return false, err.Error()
		}
		if !hasOrganization(samples, drainingOrgID) || !hasOrganization(samples, healthyOrgID) {
			return false, fmt.Sprint(samples)
		}
		thresholdsSeen, err = samples[0].timestamp()
		return err == nil, fmt.Sprintf("%v (%v)", samples, err)
	})
	waitFor(ctx, t, "Prometheus evaluates the alerting rules after the thresholds were recorded", func() (bool, string) {
		evaluated, err := lastEvaluation(ctx, prometheusURL, lowBalanceAlert)
		if err != nil {
			return false, err.Error()
		}
		return evaluated.After(thresholdsSeen), fmt.Sprintf("the group of %s was last evaluated at %s, the thresholds were seen at %s", lowBalanceAlert, evaluated, thresholdsSeen)
	})

	// Both balances are above the threshold, so neither alert may be pending
	// or firing yet.
	quietAlerts, err := queryPrometheus(ctx, prometheusURL, fmt.Sprintf(`ALERTS{alertname=~"%s|%s"}`, lowBalanceAlert, workflowExecutionAlert))
	if err != nil {
		t.Fatalf("querying ALERTS: %v", err)
	}
	if len(quietAlerts) > 0 {
		t.Fatalf("alerts before any organization crossed a threshold: %v", quietAlerts)
	}

	// Spend the draining organization's credits step by step, and wait until
	// Alertmanager holds both alerts and the webhook received the low-balance
	// notification.
	drainStart := time.Now()
	balance := int64(initialBalance)
	var lowAlert, workflowAlert *alertmanagerAlert
	var alerts []alertmanagerAlert
	waitFor(ctx, t, "Alertmanager holds both alerts of the draining organization and notified the webhook", func() (bool, string) {
		if balance > drainedBalance {
			balance = api.AddCredits(drainingOrgID, -drainStep)
		}
		var err error
		alerts, err = alertmanagerAlerts(ctx, alertmanagerURL)
		if err != nil {
			return false, err.Error()
		}
		lowAlert = findAlert(alerts, lowBalanceAlert, drainingOrgID)
		workflowAlert = findAlert(alerts, workflowExecutionAlert, drainingOrgID)
		notified := webhook.notified(lowBalanceAlert, drainingOrgID)
		state := fmt.Sprintf("balance %d, low-balance alert %t, workflow alert %t, webhook notified %t", balance, lowAlert != nil, workflowAlert != nil, notified)
		return lowAlert != nil && workflowAlert != nil && notified, state
	})
	t.Logf("alerts and notification arrived %s after the draining started", time.Since(drainStart).Round(time.Millisecond))

	checkLowBalanceAlert(t, lowAlert)
	checkWorkflowAlert(t, workflowAlert, alerts)
	checkNotification(t, webhook)
	checkHealthyOrganizationQuiet(ctx, t, prometheusURL, alerts)
	t.Logf("end-to-end run took %s after the build", time.Since(start).Round(time.Millisecond))
}

func seedOrganizations(api *autoretouchtest.Server) {
	api.AddOrganization(autoretouchtest.Organization{
		ID: drainingOrgID, Name: drainingOrgName, Balance: initialBalance,
		Members: []autoretouchtest.Member{{ID: "auth0|draining-admin", Roles: []string{"admin"}}},
	})
	api.SetWorkflows(drainingOrgID, []autoretouchtest.Workflow{
		{ID: "3f9a1c5e-0001-4000-8000-000000000001", Name: mostExpensiveWorkflow, ExecutionPrice: 50},
		{ID: "3f9a1c5e-0002-4000-8000-000000000002", Name: "Packshot", ExecutionPrice: 10},
	})

	api.AddOrganization(autoretouchtest.Organization{
		ID: healthyOrgID, Name: healthyOrgName, Balance: 900000,
		Members: []autoretouchtest.Member{{ID: "auth0|healthy-admin", Roles: []string{"admin"}}},
	})
	api.SetWorkflows(healthyOrgID, []autoretouchtest.Workflow{
		{ID: "3f9a1c5e-0003-4000-8000-000000000003", Name: "On-model retouch", ExecutionPrice: 400},
		{ID: "3f9a1c5e-0004-4000-8000-000000000004", Name: "Packshot", ExecutionPrice: 10},
	})
}

func checkLowBalanceAlert(t *testing.T, alert *alertmanagerAlert) {
	t.Helper()
	if got := alert.Labels["org"]; got != drainingOrgName {
		t.Errorf("%s: label org = %q, want %q", lowBalanceAlert, got, drainingOrgName)
	}
	if got := alert.Labels["severity"]; got != "warning" {
		t.Errorf("%s: label severity = %q, want warning", lowBalanceAlert, got)
	}
	if got := alert.Status.State; got != "active" {
		t.Errorf("%s: state = %q, want active (not inhibited or silenced)", lowBalanceAlert, got)
	}
	if summary := alert.Annotations["summary"]; !strings.Contains(summary, drainingOrgName) {
		t.Errorf("%s: summary %q does not name the organization %q", lowBalanceAlert, summary, drainingOrgName)
	}
	description := alert.Annotations["description"]
	for _, want := range []string{drainingOrgName, drainingOrgID, "below its threshold of 5000 credits"} {
		if !strings.Contains(description, want) {
			t.Errorf("%s: description %q lacks %q", lowBalanceAlert, description, want)
		}
	}
}

func checkWorkflowAlert(t *testing.T, alert *alertmanagerAlert, alerts []alertmanagerAlert) {
	t.Helper()
	if got := alert.Labels["org"]; got != drainingOrgName {
		t.Errorf("%s: label org = %q, want %q", workflowExecutionAlert, got, drainingOrgName)
	}
	if got := alert.Labels["workflow"]; got != mostExpensiveWorkflow {
		t.Errorf("%s: label workflow = %q, want the most expensive workflow %q", workflowExecutionAlert, got, mostExpensiveWorkflow)
	}
	description := alert.Annotations["description"]
	for _, want := range []string{drainingOrgName, drainingOrgID, mostExpensiveWorkflow, "which costs 50 credits per execution"} {
		if !strings.Contains(description, want) {
			t.Errorf("%s: description %q lacks %q", workflowExecutionAlert, description, want)
		}
	}
	for _, other := range alerts {
		if other.Labels["alertname"] == workflowExecutionAlert && other.Labels["org_id"] == drainingOrgID && other.Labels["workflow"] != mostExpensiveWorkflow {
			t.Errorf("%s fired for workflow %q, which is not the organization's most expensive", workflowExecutionAlert, other.Labels["workflow"])
		}
	}
}

// checkNotification checks the webhook notification of the low-balance alert:
// the shipped route groups by alertname and org_id, and the alert carries the
// organization's name.
func checkNotification(t *testing.T, webhook *webhookReceiver) {
	t.Helper()
	notification := webhook.find(lowBalanceAlert, drainingOrgID)
	if notification == nil {
		t.Fatal("the webhook received no notification for the draining organization")
	}
	if got := notification.GroupLabels["org_id"]; got != drainingOrgID {
		t.Errorf("notification group label org_id = %q, want %q", got, drainingOrgID)
	}
	for _, alert := range notification.Alerts {
		if got := alert.Labels["org"]; got != drainingOrgName {
			t.Errorf("notified alert has label org %q, want %q", got, drainingOrgName)
		}
	}
}

// checkHealthyOrganizationQuiet checks that the healthy organization, whose
// balance Prometheus has, has no alert in Alertmanager and none pending or
// firing in Prometheus.
func checkHealthyOrganizationQuiet(ctx context.Context, t *testing.T, prometheusURL string, alerts []alertmanagerAlert) {
	t.Helper()
	balances, err := queryPrometheus(ctx, prometheusURL, fmt.Sprintf(`autoretouch_credit_balance{org_id=%q}`, healthyOrgID))
	if err != nil {
		t.Fatalf("querying the healthy organization's balance: %v", err)
	}
	if len(balances) == 0 {
		t.Fatal("Prometheus has no balance of the healthy organization, so its missing alerts prove nothing")
	}

	for _, alert := range alerts {
		if alert.Labels["org_id"] == healthyOrgID {
			t.Errorf("Alertmanager holds %s for the healthy organization %s: %v", alert.Labels["alertname"], healthyOrgName, alert.Annotations)
		}
	}
	pending, err := queryPrometheus(ctx, prometheusURL, fmt.Sprintf(`ALERTS{org_id=%q}`, healthyOrgID))
	if err != nil {
		t.Fatalf("querying ALERTS: %v", err)
	}
	if len(pending) > 0 {
		t.Errorf("Prometheus has alerts for the healthy organization: %v", pending)
	}
}

// waitFor calls check every pollInterval until it returns true, and fails the
// test with check's last state when ctx ends first.
func waitFor(ctx context.Context, t *testing.T, condition string, check func() (bool, string)) {
	t.Helper()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		done, state := check()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s; last state: %s", condition, state)
		case <-ticker.C:
		}
	}
}

// prometheusSample is one element of an instant query's vector result.
type prometheusSample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

func queryPrometheus(ctx context.Context, baseURL, query string) ([]prometheusSample, error) {
	var response struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string             `json:"resultType"`
			Result     []prometheusSample `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, baseURL+"/api/v1/query?query="+url.QueryEscape(query), &response); err != nil {
		return nil, err
	}
	if response.Status != "success" || response.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: status %q, result type %q, error %q", query, response.Status, response.Data.ResultType, response.Error)
	}
	return response.Data.Result, nil
}

// timestamp returns the evaluation time of an instant query's sample.
func (s prometheusSample) timestamp() (time.Time, error) {
	if len(s.Value) != 2 {
		return time.Time{}, fmt.Errorf("sample value %v is no [time, value] pair", s.Value)
	}
	seconds, ok := s.Value[0].(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("sample time %v is no number", s.Value[0])
	}
	return time.UnixMilli(int64(seconds * 1000)), nil
}

// lastEvaluation returns when Prometheus last evaluated the rule group that
// contains the alert.
func lastEvaluation(ctx context.Context, baseURL, alertname string) (time.Time, error) {
	var response struct {
		Data struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
				Rules          []struct {
					Name string `json:"name"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(ctx, baseURL+"/api/v1/rules?type=alert", &response); err != nil {
		return time.Time{}, err
	}
	for _, group := range response.Data.Groups {
		for _, rule := range group.Rules {
			if rule.Name == alertname {
				return group.LastEvaluation, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("Prometheus has no alerting rule %s", alertname)
}

func hasOrganization(samples []prometheusSample, orgID string) bool {
	for _, sample := range samples {
		if sample.Metric["org_id"] == orgID {
			return true
		}
	}
	return false
}

// alertmanagerAlert is an alert as Alertmanager's API v2 returns it.
type alertmanagerAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func alertmanagerAlerts(ctx context.Context, baseURL string) ([]alertmanagerAlert, error) {
	var alerts []alertmanagerAlert
	err := getJSON(ctx, baseURL+"/api/v2/alerts", &alerts)
	return alerts, err
}

func findAlert(alerts []alertmanagerAlert, alertname, orgID string) *alertmanagerAlert {
	for i := range alerts {
		if alerts[i].Labels["alertname"] == alertname && alerts[i].Labels["org_id"] == orgID {
			return &alerts[i]
		}
	}
	return nil
}

// webhookNotification is the part of Alertmanager's webhook payload that the
// test reads.
type webhookNotification struct {
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// webhookReceiver is a loopback HTTP server that stores the notifications
// Alertmanager sends to it.
type webhookReceiver struct {
	url string

	mu            sync.Mutex
	notifications []webhookNotification
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	receiver := &webhookReceiver{}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var notification webhookNotification
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&notification); err != nil {
			http.Error(w, "invalid notification: "+err.Error(), http.StatusBadRequest)
			return
		}
		receiver.mu.Lock()
		receiver.notifications = append(receiver.notifications, notification)
		receiver.mu.Unlock()
	}))
	t.Cleanup(server.Close)
	receiver.url = server.URL + "/notifications"
	return receiver
}

// find returns the first firing notification that contains alertname for
// the organization, or nil.
func (r *webhookReceiver) find(alertname, orgID string) *webhookNotification {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, notification := range r.notifications {
		if notification.Status != "firing" {
			continue
		}
		for _, alert := range notification.Alerts {
			if alert.Labels["alertname"] == alertname && alert.Labels["org_id"] == orgID {
				copied := r.notifications[i]
				return &copied
			}
		}
	}
	return nil
}

func (r *webhookReceiver) notified(alertname, orgID string) bool {
	return r.find(alertname, orgID) != nil
}
