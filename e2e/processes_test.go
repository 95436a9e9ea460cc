package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"
)

// enableVariable must be "1" for the end-to-end tests to run. They start
// Prometheus and Alertmanager and take tens of seconds, so `go test ./...`
// skips them and `make e2e` sets it.
const enableVariable = "AUTORETOUCH_E2E"

// exporterPackage is built by the test, so that it runs the program users run.
const exporterPackage = "github.com/autoretouch/autoretouch_exporter"

// pollInterval is the time between two checks of a condition that the test
// waits for, such as the arrival of an alert.
const pollInterval = 500 * time.Millisecond

// readyPollInterval is the time between two checks of whether a server is
// ready. It is shorter than pollInterval because every later step waits for
// the servers.
const readyPollInterval = 100 * time.Millisecond

func requireEndToEnd(t *testing.T) {
	t.Helper()
	if os.Getenv(enableVariable) != "1" {
		t.Skipf("end-to-end test with Prometheus and Alertmanager: set %s=1 or run `make e2e` to run it", enableVariable)
	}
}

// toolPath returns the binary that the environment variable names, or else
// ../bin/<name>, where `make e2e-tools` installs it. A missing binary fails the
// test, because a skipped end-to-end test would pass unnoticed in `make e2e`.
func toolPath(t *testing.T, variable, name string) string {
	t.Helper()
	if path := os.Getenv(variable); path != "" {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s=%s is not usable: %v. Run `make e2e-tools`, or set %s to the path of a %s binary.", variable, path, err, variable, name)
		}
		return path
	}

	path, err := filepath.Abs(filepath.Join("..", "bin", name))
	if err != nil {
		t.Fatalf("resolving ../bin/%s: %v", name, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found in $%s or at %s. Run `make e2e-tools`, which installs it, or set %s to its path.", name, variable, path, variable)
	}
	return path
}

// buildExporter builds the exporter binary into dir and returns its path.
func buildExporter(t *testing.T, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "autoretouch_exporter")
	output, err := exec.Command("go", "build", "-o", binary, exporterPackage).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s failed: %v\n%s", exporterPackage, err, output)
	}
	return binary
}

// process is a server that the test started.
type process struct {
	name   string
	output *testsupport.SyncBuffer
	// exited is closed when the process has ended.
	exited chan struct{}
}

// startProcess runs binary with args in the environment that
// childEnvironment returns with extraEnv added. The test's cleanup kills the
// process, waits for it and, when the test failed, logs its output.
func startProcess(t *testing.T, name string, extraEnv []string, binary string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(childEnvironment(), extraEnv...)
	output := &testsupport.SyncBuffer{}
	cmd.Stdout = output
	cmd.Stderr = output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}

	p := &process{name: name, output: output, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of %s (%s):\n%s", name, strings.Join(cmd.Args, " "), output)
		}
	})
	return p
}

// waitUntilReady polls url until it returns status 200, the process exits or
// ctx ends.
func waitUntilReady(ctx context.Context, t *testing.T, p *process, url string) {
	t.Helper()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	for {
		if status, _, err := get(ctx, url); err == nil && status == http.StatusOK {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s returned status 200; see its output below", p.name, url)
		case <-ctx.Done():
			t.Fatalf("%s did not return status 200 at %s: %v", p.name, url, ctx.Err())
		case <-ticker.C:
		}
	}
}

// get sends a GET request and returns the status code and body.
func get(ctx context.Context, url string) (int, []byte, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	response, err := http.DefaultClient.Do(request)
	if err != nil {
		return 0, nil, err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	return response.StatusCode, body, err
}

// getJSON decodes the JSON body of a GET request that must return status 200.
func getJSON(ctx context.Context, url string, out any) error {
	status, body, err := get(ctx, url)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, body:\n%s", url, status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decoding the body: %w\n%s", url, err, body)
	}
	return nil
}

// childEnvironment returns the test's environment without AutoRetouch
// credentials, which would change how the exporter authenticates, and
// without proxy settings, so that every request goes straight to loopback.
func childEnvironment() []string {
	removed := []string{
		"AUTORETOUCH_TOKEN", "AUTORETOUCH_REFRESH_TOKEN",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
	}
	var kept []string
	for _, entry := range os.Environ() {
		name, _, _ := strings.Cut(entry, "=")
		if !slices.Contains(removed, strings.ToUpper(name)) {
			kept = append(kept, entry)
		}
	}
	return kept
}
