// Package deploy has only tests. They check the monitoring kit: the
// Prometheus rule files and their unit tests, the Grafana dashboard, the
// Alertmanager, Docker Compose and Kubernetes files. They also check that
// every PromQL expression in them parses and queries only metrics that exist.
// Those are the metrics in a scrape of the exporter binary, which the tests
// build and run against the fake API, and those that recording rules write.
package deploy

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Paths relative to this directory, where go test runs the tests.
const (
	rulesGlob          = "prometheus/rules/*.yml"
	exampleRulesGlob   = "prometheus/examples/*.yml"
	ruleTestsGlob      = "prometheus/tests/*_test.yml"
	prometheusConfig   = "prometheus/prometheus.yml"
	alertmanagerConfig = "alertmanager/alertmanager.yml"
	dashboardGlob      = "../dashboards/*.json"
	composeFile        = "docker-compose.yml"
	kubernetesDir      = "kubernetes"

	// promtoolInstalledPath is where `make promtool` installs promtool.
	promtoolInstalledPath = "../bin/promtool"
)

// prometheusSeries are series that Prometheus writes itself, so they are
// valid in a query though no exporter exposes them.
var prometheusSeries = []string{
	"up",
	"scrape_duration_seconds",
	"scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling",
	"scrape_series_added",
	"ALERTS",
	"ALERTS_FOR_STATE",
}

// promtoolPath returns the promtool binary to run: $PROMTOOL if set, else the
// one that `make promtool` installs, else the first on PATH. It fails the test
// if there is none, because the rule checks must not be skipped unseen.
func promtoolPath(t *testing.T) string {
	t.Helper()

	if path := os.Getenv("PROMTOOL"); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("PROMTOOL=%s is not usable: %v. Run `make promtool`, or set PROMTOOL to the path of a promtool binary.", path, err)
		}
		return path
	}
	if _, err := os.Stat(promtoolInstalledPath); err == nil {
		path, err := filepath.Abs(promtoolInstalledPath)
		if err != nil {
			t.Fatalf("resolving %s: %v", promtoolInstalledPath, err)
		}
		return path
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found in $PROMTOOL, bin/ or PATH. Run `make promtool`, or set PROMTOOL to the path of a promtool binary.")
	}
	return path
}

// runPromtool runs promtool with args in this directory and returns its
// combined output. A non-zero exit status is returned as an error.
func runPromtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(promtoolPath(t), args...)
	output, err := cmd.CombinedOutput()
	return string(output), err
}

// globFiles returns the files that match pattern and fails the test if none
// do, so that a moved directory cannot turn a check into a no-op.
func globFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatalf("invalid pattern %q: %v", pattern, err)
	}
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return files
}

func decodeYAMLFile(t *testing.T, path string, out any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
}

// ruleFile is a Prometheus rule file, reduced to the fields the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promqlExpression is a PromQL expression and where it was found, for error
// messages.
type promqlExpression struct {
	source string
	expr   string
}

// ruleFilePaths returns the rule files that Prometheus loads and the example
// override file.
func ruleFilePaths(t *testing.T) []string {
	t.Helper()
	return append(globFiles(t, rulesGlob), globFiles(t, exampleRulesGlob)...)
}

// ruleExpressions returns the expression of every rule in the rule files.
func ruleExpressions(t *testing.T) []promqlExpression {
	t.Helper()
	var expressions []promqlExpression
	for _, path := range ruleFilePaths(t) {
		var file ruleFile
		decodeYAMLFile(t, path, &file)
		for _, group := range file.Groups {
			for _, rule := range group.Rules {
				name := rule.Record
				if name == "" {
					name = "alert " + rule.Alert
				}
				expressions = append(expressions, promqlExpression{
					source: fmt.Sprintf("%s: group %s, %s", path, group.Name, name),
					expr:   rule.Expr,
				})
			}
		}
	}
	return expressions
}

// recordedMetrics returns the names that the recording rules write.
func recordedMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, path := range ruleFilePaths(t) {
		var file ruleFile
		decodeYAMLFile(t, path, &file)
		for _, group := range file.Groups {
			for _, rule := range group.Rules {
				if rule.Record != "" && !slices.Contains(names, rule.Record) {
					names = append(names, rule.Record)
				}
			}
		}
	}
	return names
}

// checkExpressionsParse runs `promtool check rules` on a temporary rule file
// with one recording rule per expression. If that fails, it checks each
// expression alone, so that the failure names the expression's source.
func checkExpressionsParse(t *testing.T, expressions []promqlExpression) {
	t.Helper()
	if len(expressions) == 0 {
		t.Fatal("no expression to check")
	}

	output, err := checkRulesOf(t, expressions)
	if err == nil {
		return
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("running promtool check rules: %v\n%s", err, output)
	}

	for _, expression := range expressions {
		output, err := checkRulesOf(t, []promqlExpression{expression})
		if err != nil {
			t.Errorf("%s: invalid PromQL %q:\n%s", expression.source, expression.expr, output)
		}
	}
}

// checkRulesOf writes the expressions into a rule file and runs
// `promtool check rules` on it.
func checkRulesOf(t *testing.T, expressions []promqlExpression) (string, error) {
	t.Helper()
	type recordingRule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string          `yaml:"name"`
		Rules []recordingRule `yaml:"rules"`
	}
	rules := make([]recordingRule, len(expressions))
	for i, expression := range expressions {
		rules[i] = recordingRule{Record: fmt.Sprintf("kit_expression_%d", i), Expr: expression.expr}
	}
	data, err := yaml.Marshal(map[string][]group{"groups": {{Name: "kit", Rules: rules}}})
	if err != nil {
		t.Fatalf("encoding the expressions as a rule file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "expressions.yml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return runPromtool(t, "check", "rules", path)
}

// unknownMetrics returns one message for every metric name that an
// expression selects and that is neither in exposed, nor in recorded, nor a
// series of Prometheus itself. exposed holds sample names as PromQL selects
// them, so a histogram contributes its _bucket, _sum and _count names.
func unknownMetrics(expressions []promqlExpression, exposed map[string]bool, recorded []string) []string {
	known := map[string]bool{}
	for name := range exposed {
		known[name] = true
	}
	for _, name := range recorded {
		known[name] = true
	}
	for _, name := range prometheusSeries {
		known[name] = true
	}

	var problems []string
	for _, expression := range expressions {
		names, err := metricNames(expression.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot find the metrics of %q: %v", expression.source, expression.expr, err))
			continue
		}
		if len(names) == 0 && !strings.Contains(expression.expr, "vector(") {
			problems = append(problems, fmt.Sprintf("%s: %q selects no metric", expression.source, expression.expr))
		}
		for _, name := range names {
			if !known[name] {
				problems = append(problems, fmt.Sprintf("%s: metric %s is neither exposed by the exporter nor recorded by a rule", expression.source, name))
			}
		}
	}
	return problems
}

func TestQueriedMetricsExist(t *testing.T) {
	exposed := exposedMetrics(t)
	expressions := append(ruleExpressions(t), dashboardExpressions(t)...)
	for _, problem := range unknownMetrics(expressions, exposed, recordedMetrics(t)) {
		t.Error(problem)
	}
}

func TestUnknownMetricsReportsTypo(t *testing.T) {
	exposed := exposedMetrics(t)
	expressions := []promqlExpression{
		{source: "typo", expr: `max by (org) (autoretouch_credit_balanse{job="autoretouch"})`},
		{source: "correct", expr: `max by (org) (autoretouch_credit_balance{job="autoretouch"})`},
	}
	problems := unknownMetrics(expressions, exposed, recordedMetrics(t))
	if len(problems) != 1 || !strings.Contains(problems[0], "autoretouch_credit_balanse") {
		t.Errorf("unknownMetrics returned %q, want one message about autoretouch_credit_balanse", problems)
	}
}
