package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

const (
	// exporterPackage is built by the tests, so that the names they accept
	// are the names that the program users run exposes.
	exporterPackage = "github.com/autoretouch/autoretouch_exporter"

	// readmePath contains the metrics table that the root package generates
	// from the collector's descriptors.
	readmePath = "../README.md"

	// testRefreshToken is the refresh token that the fake auth server accepts.
	testRefreshToken = "deploy-test-refresh-token"
)

// Upper bounds, not expectations: they only stop a hung build or exporter
// from blocking the test run until go test's own timeout.
const (
	buildTimeout    = 5 * time.Minute
	exporterTimeout = 30 * time.Second
)

// exposition is the result of scraping the exporter, shared by every test in
// the package because building and running the exporter takes seconds.
var exposition struct {
	once  sync.Once
	names map[string]bool
	err   error
}

// exposedMetrics returns the sample names that the exporter exposes, as PromQL
// selects them: a histogram contributes its _bucket, _sum and _count names,
// and a summary its own name, _sum and _count. The names come from real
// scrapes of the exporter binary against the fake API, so only what a scrape
// really contains counts.
func exposedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	exposition.once.Do(func() {
		exposition.names, exposition.err = scrapeExporterRuns()
	})
	if exposition.err != nil {
		t.Fatalf("scraping the exporter for the names it exposes: %v", exposition.err)
	}
	return exposition.names
}

// scrapeExporterRuns builds the exporter and scrapes it in two runs against
// the fake API, and returns the union of the sample names:
//
//   - with an access token and --autoretouch.cache-ttl, which adds
//     autoretouch_scrape_cache_age_seconds;
//   - with a refresh token and the fake auth server, which adds the
//     autoretouch_auth_ metrics.
//
// The fake organization has members and workflows, so that every
// per-organization metric has series.
func scrapeExporterRuns() (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "autoretouch-deploy-test-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	binary := filepath.Join(dir, "autoretouch_exporter")
	if err := buildExporter(binary); err != nil {
		return nil, err
	}

	api := autoretouchtest.NewServer()
	defer api.Close()
	seedOrganization(api)

	auth := autoretouchtest.NewAuthServer(api)
	defer auth.Close()
	auth.AddRefreshToken(testRefreshToken)
	tokenFile := filepath.Join(dir, "refresh-token")
	if err := os.WriteFile(tokenFile, []byte(testRefreshToken+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("writing the refresh token file: %w", err)
	}

	runs := []struct {
		name string
		env  []string
		args []string
	}{
		{
			name: "access token with cache",
			env:  []string{"AUTORETOUCH_TOKEN=" + autoretouchtest.DefaultToken},
			args: []string{"--autoretouch.cache-ttl=1m"},
		},
		{
			name: "refresh token",
			args: []string{"--autoretouch.refresh-token-file=" + tokenFile},
		},
	}
	// Both runs point every URL at the fakes, so that not even an unused
	// default aims at AutoRetouch's servers.
	fakeURLs := []string{
		"--autoretouch.api-url=" + api.URL,
		"--autoretouch.auth-url=" + auth.URL,
		"--autoretouch.client-id=" + autoretouchtest.DefaultClientID,
	}

	names := map[string]bool{}
	for _, run := range runs {
		scraped, err := scrapeExporter(binary, run.env, slices.Concat(fakeURLs, run.args))
		if err != nil {
			return nil, fmt.Errorf("exporter run %q: %w", run.name, err)
		}
		for name := range scraped {
			names[name] = true
		}
	}
	return names, nil
}

func buildExporter(binary string) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()

	output, err := exec.CommandContext(ctx, "go", "build", "-o", binary, exporterPackage).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s failed: %w\n%s", exporterPackage, err, output)
	}
	return nil
}

func seedOrganization(api *autoretouchtest.Server) {
	const orgID = "5d0e7c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
	api.AddOrganization(autoretouchtest.Organization{
		ID: orgID, Name: "Deploy Test Studio", Balance: 12000,
		Members: []autoretouchtest.Member{
			{ID: "auth0|admin", Roles: []string{"admin"}},
			{ID: "auth0|operator", Roles: []string{"operator"}},
		},
	})
	api.SetWorkflows(orgID, []autoretouchtest.Workflow{
		{ID: "7a1b2c3d-0000-4000-8000-000000000001", Name: "Packshot", ExecutionPrice: 10},
		{ID: "7a1b2c3d-0000-4000-8000-000000000002", Name: "On-model retouch", ExecutionPrice: 400},
	})
}

// scrapeExporter runs the exporter binary on a free loopback port with args
// and env added to an environment without AutoRetouch credentials, scrapes
// /metrics twice, stops the exporter and returns the sample names of both
// scrapes.
// An error contains the exporter's log.
func scrapeExporter(binary string, env, args []string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), exporterTimeout)
	defer cancel()

	address, err := testsupport.FreeLoopbackAddress()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, append([]string{"--web.listen-address=" + address}, args...)...)
	cmd.Env = append(environmentWithout(os.Environ(), "AUTORETOUCH_TOKEN", "AUTORETOUCH_REFRESH_TOKEN"), env...)
	var output testsupport.SyncBuffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the exporter: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		cancel()
		<-exited
	}()

	baseURL := "http://" + address
	if err := waitUntilServing(ctx, baseURL+"/", exited); err != nil {
		return nil, fmt.Errorf("%w; exporter log:\n%s", err, output.String())
	}

	// The exporter's own metrics are gathered while the scrape's API requests
	// run, so autoretouch_api_requests_total and the access token's expiry
	// first appear in the second scrape.
	names := map[string]bool{}
	for range 2 {
		scraped, err := scrapeSampleNames(ctx, baseURL+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("%w; exporter log:\n%s", err, output.String())
		}
		for name := range scraped {
			names[name] = true
		}
	}
	return names, nil
}

// waitUntilServing polls url every 50 ms until it returns a response, the
// process exits or ctx ends.
func waitUntilServing(ctx context.Context, url string, exited <-chan struct{}) error {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if response, err := http.DefaultClient.Do(request); err == nil {
			_ = response.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the exporter exited before it served " + url)
		case <-ctx.Done():
			return fmt.Errorf("the exporter did not serve %s: %w", url, ctx.Err())
		case <-ticker.C:
		}
	}
}

// scrapeSampleNames fetches an exposition and decodes it into samples, which
// gives the names that PromQL can select.
func scrapeSampleNames(ctx context.Context, url string) (map[string]bool, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: status %d, body:\n%s", url, response.StatusCode, body)
	}

	decoder := expfmt.SampleDecoder{
		Dec:  expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(response.Header)),
		Opts: &expfmt.DecodeOptions{},
	}
	names := map[string]bool{}
	for {
		var samples model.Vector
		err := decoder.Decode(&samples)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding the exposition of %s: %w\n%s", url, err, body)
		}
		for _, sample := range samples {
			names[string(sample.Metric[model.MetricNameLabel])] = true
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the exposition of %s contains no sample:\n%s", url, body)
	}
	return names, nil
}

func environmentWithout(environment []string, names ...string) []string {
	var kept []string
	for _, entry := range environment {
		name, _, _ := strings.Cut(entry, "=")
		if !slices.Contains(names, name) {
			kept = append(kept, entry)
		}
	}
	return kept
}

// readmeMetricRow matches a row of the README's generated metrics table and
// captures the metric name and its type.
var readmeMetricRow = regexp.MustCompile("^\\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \\| (\\w+) \\|")

// documentedMetrics returns the metrics of the README's generated table and
// their types.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatalf("reading %s: %v", readmePath, err)
	}
	_, table, found := strings.Cut(string(data), "<!-- metrics-table:start -->")
	table, _, found2 := strings.Cut(table, "<!-- metrics-table:end -->")
	if !found || !found2 {
		t.Fatalf("%s lacks the metrics-table markers", readmePath)
	}

	metrics := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if match := readmeMetricRow.FindStringSubmatch(line); match != nil {
			metrics[match[1]] = match[2]
		}
	}
	if len(metrics) == 0 {
		t.Fatalf("the metrics table of %s lists no metric", readmePath)
	}
	return metrics
}

// TestScrapeContainsDocumentedMetrics guards the other tests. A documented
// metric that the scrapes do not contain would be missing from the names they
// accept, so a setup that no longer brings out every metric fails here.
func TestScrapeContainsDocumentedMetrics(t *testing.T) {
	exposed := exposedMetrics(t)
	for name, kind := range documentedMetrics(t) {
		sampleName := name
		if kind == "histogram" {
			sampleName = name + "_bucket"
		}
		if !exposed[sampleName] {
			t.Errorf("the README documents %s (%s), but no scrape contained %s", name, kind, sampleName)
		}
	}
}

func TestScrapeSplitsHistograms(t *testing.T) {
	exposed := exposedMetrics(t)
	for _, name := range []string{
		"autoretouch_api_request_duration_seconds_bucket",
		"autoretouch_api_request_duration_seconds_sum",
		"autoretouch_api_request_duration_seconds_count",
	} {
		if !exposed[name] {
			t.Errorf("the scraped names lack %s", name)
		}
	}
	if exposed["autoretouch_api_request_duration_seconds"] {
		t.Error("the scraped names contain autoretouch_api_request_duration_seconds, which PromQL cannot select for a classic histogram")
	}
}
