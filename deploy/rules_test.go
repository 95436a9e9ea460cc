package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestRuleFilesValid(t *testing.T) {
	args := append([]string{"check", "rules"}, ruleFilePaths(t)...)
	output, err := runPromtool(t, args...)
	if err != nil {
		t.Fatalf("promtool check rules failed: %v\n%s", err, output)
	}
}

func TestRuleUnitTests(t *testing.T) {
	args := append([]string{"test", "rules"}, globFiles(t, ruleTestsGlob)...)
	output, err := runPromtool(t, args...)
	if err != nil {
		t.Fatalf("promtool test rules failed: %v\n%s", err, output)
	}
	t.Logf("promtool test rules:\n%s", output)
}

func TestPrometheusConfigValid(t *testing.T) {
	output, err := runPromtool(t, "check", "config", prometheusConfig)
	if err != nil {
		t.Fatalf("promtool check config failed: %v\n%s", err, output)
	}
}

// alertingRuleFile is a rule file with the fields of alerting rules.
type alertingRuleFile struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertNames returns the names of the alerting rules in the rule files.
func alertNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, path := range globFiles(t, rulesGlob) {
		var file alertingRuleFile
		decodeYAMLFile(t, path, &file)
		for _, group := range file.Groups {
			for _, rule := range group.Rules {
				if rule.Alert != "" {
					names = append(names, rule.Alert)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no alerting rule in %s", rulesGlob)
	}
	return names
}

func TestAlertsAnnotated(t *testing.T) {
	for _, path := range globFiles(t, rulesGlob) {
		var file alertingRuleFile
		decodeYAMLFile(t, path, &file)
		for _, group := range file.Groups {
			for _, rule := range group.Rules {
				if rule.Alert == "" {
					continue
				}
				severity := rule.Labels["severity"]
				if severity != "critical" && severity != "warning" {
					t.Errorf("%s: alert %s has severity %q, want critical or warning", path, rule.Alert, severity)
				}
				if rule.For == "" {
					t.Errorf("%s: alert %s has no \"for\", so a single evaluation fires it", path, rule.Alert)
				}
				for _, name := range []string{"summary", "description", "runbook"} {
					if strings.TrimSpace(rule.Annotations[name]) == "" {
						t.Errorf("%s: alert %s has no %s annotation", path, rule.Alert, name)
					}
				}
				// Per-organization alerts must name the organization both ways,
				// because display names are neither unique nor stable.
				description := rule.Annotations["description"]
				if strings.Contains(rule.Annotations["summary"]+description, "$labels.org") {
					for _, label := range []string{"{{ $labels.org }}", "{{ $labels.org_id }}"} {
						if !strings.Contains(description, label) {
							t.Errorf("%s: alert %s: description lacks %s", path, rule.Alert, label)
						}
					}
				}
			}
		}
	}
}

// ruleTestFile is a promtool unit test file, reduced to the alert tests.
type ruleTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func TestEveryAlertTestedFiringAndQuiet(t *testing.T) {
	firing := map[string]bool{}
	quiet := map[string]bool{}
	for _, path := range globFiles(t, ruleTestsGlob) {
		var file ruleTestFile
		decodeYAMLFile(t, path, &file)
		for _, test := range file.Tests {
			for _, alertTest := range test.AlertRuleTest {
				if len(alertTest.ExpAlerts) > 0 {
					firing[alertTest.Alertname] = true
				} else {
					quiet[alertTest.Alertname] = true
				}
			}
		}
	}

	for _, name := range alertNames(t) {
		if !firing[name] {
			t.Errorf("no test in %s expects alert %s to fire", ruleTestsGlob, name)
		}
		if !quiet[name] {
			t.Errorf("no test in %s expects alert %s to stay quiet", ruleTestsGlob, name)
		}
	}
}

func TestAlertmanagerConfigNamesExistingAlerts(t *testing.T) {
	var config struct {
		InhibitRules []struct {
			SourceMatchers []string `yaml:"source_matchers"`
			TargetMatchers []string `yaml:"target_matchers"`
			Equal          []string `yaml:"equal"`
		} `yaml:"inhibit_rules"`
	}
	decodeYAMLFile(t, alertmanagerConfig, &config)
	if len(config.InhibitRules) == 0 {
		t.Fatalf("%s has no inhibit rule", alertmanagerConfig)
	}

	alerts := alertNames(t)
	alertnameMatcher := regexp.MustCompile(`^alertname\s*=\s*"?([A-Za-z0-9_]+)"?$`)
	for i, rule := range config.InhibitRules {
		for _, matcher := range append(rule.SourceMatchers, rule.TargetMatchers...) {
			match := alertnameMatcher.FindStringSubmatch(strings.TrimSpace(matcher))
			if match == nil {
				continue
			}
			if !slices.Contains(alerts, match[1]) {
				t.Errorf("%s: inhibit rule %d names alert %s, which no rule file defines", alertmanagerConfig, i, match[1])
			}
		}
		if len(rule.Equal) == 0 {
			t.Errorf("%s: inhibit rule %d has no equal labels, so a source alert of one organization would inhibit the alerts of all", alertmanagerConfig, i)
		}
	}
}
