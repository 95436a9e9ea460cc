package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// The shipped configuration, which the test copies with shorter intervals.
const (
	shippedPrometheusConfig   = "../deploy/prometheus/prometheus.yml"
	shippedAlertmanagerConfig = "../deploy/alertmanager/alertmanager.yml"

	// scrapeJob is the job that the shipped alerts select with job="autoretouch".
	scrapeJob = "autoretouch"
)

// Timing of the test's Prometheus and Alertmanager. Rules are evaluated and
// the exporter is scraped every second. Every "for" of the shipped alerting
// rules is divided by forScale, so an alert with "for: 15m" fires after 3
// seconds, and the alerts keep the order of their delays.
const (
	evaluationInterval = time.Second
	forScale           = 300
	// groupWait replaces Alertmanager's group_wait and group_interval, so that
	// the first notification of a group leaves within a second.
	groupWait = time.Second
)

// shortenForDurations returns the rule file data with every "for" of an
// alerting rule divided by forScale, and no shorter than one evaluation
// interval. It returns the number of rules it changed. Everything else,
// comments included, stays as it is.
func shortenForDurations(data []byte) ([]byte, int, error) {
	var document yaml.Node
	if err := yaml.Unmarshal(data, &document); err != nil {
		return nil, 0, err
	}
	if len(document.Content) != 1 {
		return nil, 0, fmt.Errorf("a rule file contains one YAML document, this one %d", len(document.Content))
	}

	changed := 0
	for _, group := range mappingValue(document.Content[0], "groups").Content {
		for _, rule := range mappingValue(group, "rules").Content {
			forNode := mappingValue(rule, "for")
			if forNode.Value == "" {
				continue
			}
			duration, err := model.ParseDuration(forNode.Value)
			if err != nil {
				return nil, 0, fmt.Errorf("alert %s: invalid for %q: %w", mappingValue(rule, "alert").Value, forNode.Value, err)
			}
			shortened := max(time.Duration(duration)/forScale, evaluationInterval)
			forNode.Value = model.Duration(shortened.Round(time.Second)).String()
			changed++
		}
	}

	var out bytes.Buffer
	encoder := yaml.NewEncoder(&out)
	encoder.SetIndent(2)
	if err := encoder.Encode(&document); err != nil {
		return nil, 0, err
	}
	if err := encoder.Close(); err != nil {
		return nil, 0, err
	}
	return out.Bytes(), changed, nil
}

// mappingValue returns the value of key in a YAML mapping node, or an empty
// node when node is no mapping or lacks the key.
func mappingValue(node *yaml.Node, key string) *yaml.Node {
	if node.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				return node.Content[i+1]
			}
		}
	}
	return &yaml.Node{}
}

// readYAMLMapping decodes a YAML file whose top level is a mapping. It fails
// the test when the mapping contains a key outside allowed, because the test
// rewrites only those keys, and another one, such as remote_write, could aim
// the servers at hosts beyond loopback.
func readYAMLMapping(t *testing.T, path string, allowed ...string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var config map[string]any
	if err := yaml.Unmarshal(data, &config); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	for key := range config {
		if !slices.Contains(allowed, key) {
			t.Fatalf("%s has the top-level key %q, which the end-to-end test does not rewrite. It rewrites only %s. Teach the test how to keep that key on loopback.", path, key, strings.Join(allowed, ", "))
		}
	}
	return config
}

func writeYAML(t *testing.T, path string, value any) {
	t.Helper()
	data, err := yaml.Marshal(value)
	if err != nil {
		t.Fatalf("encoding %s: %v", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// writeRuleFiles copies the rule files that the shipped Prometheus
// configuration loads into dir, with their "for" durations shortened, and
// returns the pattern that matches the copies. It never writes to the shipped
// files.
func writeRuleFiles(t *testing.T, dir string) string {
	t.Helper()
	shipped := readYAMLMapping(t, shippedPrometheusConfig, "global", "rule_files", "alerting", "scrape_configs")
	patterns, ok := shipped["rule_files"].([]any)
	if !ok || len(patterns) == 0 {
		t.Fatalf("%s lists no rule_files", shippedPrometheusConfig)
	}

	alertingRules := 0
	for _, pattern := range patterns {
		paths, err := filepath.Glob(filepath.Join(filepath.Dir(shippedPrometheusConfig), fmt.Sprint(pattern)))
		if err != nil || len(paths) == 0 {
			t.Fatalf("rule_files pattern %v of %s matches no file (err %v)", pattern, shippedPrometheusConfig, err)
		}
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			shortened, changed, err := shortenForDurations(data)
			if err != nil {
				t.Fatalf("rewriting %s: %v", path, err)
			}
			alertingRules += changed
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), shortened, 0o644); err != nil {
				t.Fatalf("writing the copy of %s: %v", path, err)
			}
		}
	}
	if alertingRules == 0 {
		t.Fatalf("the rule files of %s contain no alerting rule with a for duration", shippedPrometheusConfig)
	}
	return filepath.Join(dir, "*.yml")
}

// writePrometheusConfig writes a copy of the shipped Prometheus configuration
// to path that loads the rules matching rulePattern, scrapes only the job
// autoretouch, at exporterAddress, every second, and sends alerts to
// alertmanagerAddress.
func writePrometheusConfig(t *testing.T, path, rulePattern, exporterAddress, alertmanagerAddress string) {
	t.Helper()
	config := readYAMLMapping(t, shippedPrometheusConfig, "global", "rule_files", "alerting", "scrape_configs")

	interval := model.Duration(evaluationInterval).String()
	global, _ := config["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	global["scrape_interval"] = interval
	global["scrape_timeout"] = interval
	global["evaluation_interval"] = interval
	config["global"] = global

	config["rule_files"] = []string{rulePattern}
	config["alerting"] = map[string]any{
		"alertmanagers": []any{map[string]any{
			"static_configs": []any{map[string]any{"targets": []string{alertmanagerAddress}}},
		}},
	}

	jobs, _ := config["scrape_configs"].([]any)
	var job map[string]any
	for _, candidate := range jobs {
		if candidate, ok := candidate.(map[string]any); ok && candidate["job_name"] == scrapeJob {
			job = candidate
		}
	}
	if job == nil {
		t.Fatalf("%s has no scrape job %q, which the shipped alerts select", shippedPrometheusConfig, scrapeJob)
	}
	job["scrape_interval"] = interval
	job["scrape_timeout"] = interval
	job["static_configs"] = []any{map[string]any{"targets": []string{exporterAddress}}}
	config["scrape_configs"] = []any{job}

	writeYAML(t, path, config)
}

// writeAlertmanagerConfig writes a copy of the shipped Alertmanager
// configuration to path, with the shipped routes and inhibit rules, short
// group timers, and every receiver replaced by a webhook to webhookURL.
func writeAlertmanagerConfig(t *testing.T, path, webhookURL string) {
	t.Helper()
	config := readYAMLMapping(t, shippedAlertmanagerConfig, "global", "route", "receivers", "inhibit_rules", "templates")

	// The global section holds defaults of notifiers that the webhooks
	// replace, such as an SMTP server.
	delete(config, "global")

	route, ok := config["route"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no route", shippedAlertmanagerConfig)
	}
	shortenGroupTimers(route, true)

	receivers, _ := config["receivers"].([]any)
	if len(receivers) == 0 {
		t.Fatalf("%s has no receiver", shippedAlertmanagerConfig)
	}
	for i, receiver := range receivers {
		receiver, ok := receiver.(map[string]any)
		if !ok {
			t.Fatalf("%s: receiver %d is no mapping", shippedAlertmanagerConfig, i)
		}
		receivers[i] = map[string]any{
			"name": receiver["name"],
			"webhook_configs": []any{map[string]any{
				"url":           webhookURL,
				"send_resolved": true,
			}},
		}
	}

	writeYAML(t, path, config)
}

// shortenGroupTimers sets group_wait and group_interval to groupWait on the
// root route and on every child route that sets them.
func shortenGroupTimers(route map[string]any, root bool) {
	for _, key := range []string{"group_wait", "group_interval"} {
		if _, set := route[key]; set || root {
			route[key] = model.Duration(groupWait).String()
		}
	}
	children, _ := route["routes"].([]any)
	for _, child := range children {
		if child, ok := child.(map[string]any); ok {
			shortenGroupTimers(child, false)
		}
	}
}

func TestShortenForDurations(t *testing.T) {
	input := `# Comment that must stay.
groups:
  - name: example
    rules:
      - record: example:sum
        expr: sum(up)
      - alert: Slow
        expr: up == 0
        for: 15m
      - alert: Hourly
        expr: up == 0
        for: 1h
      - alert: Short
        expr: up == 0
        for: 30s
      - alert: Immediate
        expr: up == 0
`
	output, changed, err := shortenForDurations([]byte(input))
	if err != nil {
		t.Fatalf("shortenForDurations: %v", err)
	}
	if changed != 3 {
		t.Errorf("changed %d rules, want 3", changed)
	}

	var file struct {
		Groups []struct {
			Rules []map[string]string `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(output, &file); err != nil {
		t.Fatalf("the output is no valid YAML: %v\n%s", err, output)
	}
	got := map[string]string{}
	for _, rule := range file.Groups[0].Rules {
		if rule["alert"] != "" {
			got[rule["alert"]] = rule["for"]
		}
	}
	want := map[string]string{"Slow": "3s", "Hourly": "12s", "Short": "1s", "Immediate": ""}
	if !maps.Equal(got, want) {
		t.Errorf("for durations = %v, want %v", got, want)
	}
	if !strings.HasPrefix(string(output), "# Comment that must stay.") {
		t.Errorf("the comment was lost:\n%s", output)
	}
}
