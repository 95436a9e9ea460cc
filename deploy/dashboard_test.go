package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// datasourceVariable is the only data source reference a panel, target or
// variable may hold, so that the dashboard works with any Prometheus data
// source chosen at import.
const datasourceVariable = "${datasource}"

// minSchemaVersion is the oldest dashboard schema accepted. Grafana migrates
// a dashboard with an older schema when it loads it, which can change panels.
const minSchemaVersion = 39

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	// Panels holds the panels of a collapsed row.
	Panels []dashboardPanel `json:"panels"`
}

type dashboardVariable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Datasource *datasourceRef `json:"datasource"`
	Definition string         `json:"definition"`
	Query      any            `json:"query"`
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
}

type dashboard struct {
	UID           string           `json:"uid"`
	Title         string           `json:"title"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []dashboardVariable `json:"list"`
	} `json:"templating"`
}

// readDashboard decodes the dashboard at path, both into the typed form and
// as generic JSON for the walk over every data source reference.
func readDashboard(t *testing.T, path string) (dashboard, any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var typed dashboard
	if err := json.Unmarshal(data, &typed); err != nil {
		t.Fatalf("%s is not a valid dashboard: %v", path, err)
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatalf("%s is not valid JSON: %v", path, err)
	}
	return typed, generic
}

// allPanels returns the panels with the panels of collapsed rows after their row.
func allPanels(panels []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, panel := range panels {
		out = append(out, panel)
		out = append(out, allPanels(panel.Panels)...)
	}
	return out
}

// templateVariable matches Grafana's three variable syntaxes: $name,
// ${name} or ${name:format}, and [[name]]. Names start with a letter or an
// underscore, so the "$1" of label_replace is left alone.
var templateVariable = regexp.MustCompile(`\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]`)

// substituteTemplateVariables replaces Grafana variables so that promtool can
// parse the expression. Interval variables become a duration. Any other
// variable becomes a plain word, which parses inside a label value and breaks
// the expression anywhere else, as an unresolved variable would.
func substituteTemplateVariables(expr string) string {
	return templateVariable.ReplaceAllStringFunc(expr, func(variable string) string {
		name := templateVariable.FindStringSubmatch(variable)
		switch name[1] + name[2] + name[3] {
		case "__interval", "__rate_interval", "__range", "__interval_ms", "__range_s", "__range_ms":
			return "5m"
		default:
			return "variable"
		}
	})
}

// variableSelector returns the PromQL inside a Prometheus query variable
// such as label_values(metric{...}, label) or query_result(expr), or "" for a
// variable without one, such as label_values(label).
func variableSelector(query string) string {
	query = strings.TrimSpace(query)
	switch {
	case strings.HasPrefix(query, "query_result(") && strings.HasSuffix(query, ")"):
		return strings.TrimSuffix(strings.TrimPrefix(query, "query_result("), ")")
	case strings.HasPrefix(query, "label_values(") && strings.HasSuffix(query, ")"):
		arguments := strings.TrimSuffix(strings.TrimPrefix(query, "label_values("), ")")
		comma := strings.LastIndex(arguments, ",")
		if comma < 0 {
			return ""
		}
		return strings.TrimSpace(arguments[:comma])
	}
	return ""
}

// variableQuery returns the query text of a variable, which Grafana stores
// either as a string or as an object with a "query" field.
func variableQuery(variable dashboardVariable) string {
	switch query := variable.Query.(type) {
	case string:
		return query
	case map[string]any:
		if text, ok := query["query"].(string); ok {
			return text
		}
	}
	return variable.Definition
}

// dashboardExpressions returns every PromQL expression of the dashboards,
// from panel targets and query variables, with template variables substituted.
func dashboardExpressions(t *testing.T) []promqlExpression {
	t.Helper()
	var expressions []promqlExpression
	for _, path := range globFiles(t, dashboardGlob) {
		board, _ := readDashboard(t, path)
		for _, panel := range allPanels(board.Panels) {
			for _, target := range panel.Targets {
				expressions = append(expressions, promqlExpression{
					source: fmt.Sprintf("%s: panel %d %q, target %s", path, panel.ID, panel.Title, target.RefID),
					expr:   substituteTemplateVariables(target.Expr),
				})
			}
		}
		for _, variable := range board.Templating.List {
			if variable.Type != "query" {
				continue
			}
			if selector := variableSelector(variableQuery(variable)); selector != "" {
				expressions = append(expressions, promqlExpression{
					source: fmt.Sprintf("%s: variable %s", path, variable.Name),
					expr:   substituteTemplateVariables(selector),
				})
			}
		}
	}
	return expressions
}

// checkDatasourceReferences reports every "datasource" in the JSON tree that
// is not the dashboard's data source variable. Grafana's built-in annotation
// source is the one exception.
func checkDatasourceReferences(t *testing.T, path string, node any, where string) {
	t.Helper()
	switch value := node.(type) {
	case map[string]any:
		for key, child := range value {
			if key == "datasource" {
				checkDatasourceReference(t, path, child, where)
			}
			checkDatasourceReferences(t, path, child, where+"."+key)
		}
	case []any:
		for i, child := range value {
			checkDatasourceReferences(t, path, child, fmt.Sprintf("%s[%d]", where, i))
		}
	}
}

func checkDatasourceReference(t *testing.T, path string, reference any, where string) {
	t.Helper()
	object, ok := reference.(map[string]any)
	if !ok {
		t.Errorf("%s: %s.datasource is %v, want {\"type\": \"prometheus\", \"uid\": %q}", path, where, reference, datasourceVariable)
		return
	}
	if object["type"] == "grafana" && object["uid"] == "-- Grafana --" {
		return
	}
	if object["uid"] != datasourceVariable || object["type"] != "prometheus" {
		t.Errorf("%s: %s.datasource is %v, want {\"type\": \"prometheus\", \"uid\": %q}", path, where, object, datasourceVariable)
	}
}

func TestDashboardStructure(t *testing.T) {
	for _, path := range globFiles(t, dashboardGlob) {
		board, generic := readDashboard(t, path)

		if board.UID == "" || board.Title == "" {
			t.Errorf("%s: uid %q and title %q must both be set", path, board.UID, board.Title)
		}
		if board.SchemaVersion < minSchemaVersion {
			t.Errorf("%s: schemaVersion is %d, want at least %d", path, board.SchemaVersion, minSchemaVersion)
		}
		checkDatasourceReferences(t, path, generic, "dashboard")

		variables := map[string]dashboardVariable{}
		for _, variable := range board.Templating.List {
			variables[variable.Name] = variable
		}
		if v := variables["datasource"]; v.Type != "datasource" || variableQuery(v) != "prometheus" {
			t.Errorf("%s: variable datasource has type %q and query %q, want a datasource variable of type prometheus", path, v.Type, variableQuery(v))
		}
		if v := variables["org_id"]; !v.Multi || !v.IncludeAll {
			t.Errorf("%s: variable org_id must allow several values and All", path)
		}

		ids := map[int]string{}
		for _, panel := range allPanels(board.Panels) {
			if other, ok := ids[panel.ID]; ok {
				t.Errorf("%s: panels %q and %q share the id %d", path, other, panel.Title, panel.ID)
			}
			ids[panel.ID] = panel.Title
			if panel.GridPos.W <= 0 || panel.GridPos.X+panel.GridPos.W > 24 {
				t.Errorf("%s: panel %q does not fit the 24-column grid: x=%d, w=%d", path, panel.Title, panel.GridPos.X, panel.GridPos.W)
			}
			if panel.Type == "row" {
				continue
			}
			if panel.Datasource == nil {
				t.Errorf("%s: panel %q has no datasource", path, panel.Title)
			}
			if len(panel.Targets) == 0 {
				t.Errorf("%s: panel %q has no targets", path, panel.Title)
			}
			for _, target := range panel.Targets {
				if strings.TrimSpace(target.Expr) == "" {
					t.Errorf("%s: panel %q, target %s has no expr", path, panel.Title, target.RefID)
				}
			}
		}
	}
}

func TestDashboardExpressionsParse(t *testing.T) {
	checkExpressionsParse(t, dashboardExpressions(t))
}

// TestDashboardShowsEveryExporterMetric exempts no autoretouch_ metric. Build
// info shows which version runs. The access token metrics show how long the
// exporter keeps working once the auth server rejects the refresh token.
func TestDashboardShowsEveryExporterMetric(t *testing.T) {
	shownMetrics := map[string]bool{}
	for _, expression := range dashboardExpressions(t) {
		names, err := metricNames(expression.expr)
		if err != nil {
			t.Fatalf("%s: %v", expression.source, err)
		}
		for _, name := range names {
			shownMetrics[name] = true
		}
	}
	for name := range exposedMetrics(t) {
		if strings.HasPrefix(name, "autoretouch_") && !shownMetrics[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

func TestSubstituteTemplateVariables(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`rate(x{job=~"$job"}[$__rate_interval])`, `rate(x{job=~"variable"}[5m])`},
		{`x{org=~"${org:regex}"}[${__range}]`, `x{org=~"variable"}[5m]`},
		{`x{org="[[org]]"}`, `x{org="variable"}`},
		{`label_replace(x, "a", "$1", "b", "(.*)")`, `label_replace(x, "a", "$1", "b", "(.*)")`},
	}
	for _, tt := range tests {
		if got := substituteTemplateVariables(tt.expr); got != tt.want {
			t.Errorf("substituteTemplateVariables(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
