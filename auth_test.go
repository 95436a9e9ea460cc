package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// refreshEnv is the fake API and auth server, with a refresh token file the
// exporter reads.
type refreshEnv struct {
	api       *autoretouchtest.Server
	auth      *autoretouchtest.AuthServer
	tokenFile string
}

func newRefreshEnv(t *testing.T, refreshToken string) *refreshEnv {
	t.Helper()
	api := autoretouchtest.NewServer()
	t.Cleanup(api.Close)
	api.RevokeToken(autoretouchtest.DefaultToken)
	api.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "One", Balance: 4200})

	auth := autoretouchtest.NewAuthServer(api)
	t.Cleanup(auth.Close)
	auth.AddRefreshToken(refreshToken)

	tokenFile := filepath.Join(t.TempDir(), "refresh-token")
	testsupport.ReplaceFile(t, tokenFile, refreshToken)
	return &refreshEnv{api: api, auth: auth, tokenFile: tokenFile}
}

func (e *refreshEnv) start(t *testing.T) *exporterProcess {
	t.Helper()
	return startExporter(t, nil,
		"--autoretouch.api-url="+e.api.URL,
		"--autoretouch.auth-url="+e.auth.URL,
		"--autoretouch.client-id="+autoretouchtest.DefaultClientID,
		"--autoretouch.refresh-token-file="+e.tokenFile,
	)
}

func TestExporterShortLivedTokensForAMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute")
	}
	t.Parallel()
	env := newRefreshEnv(t, "refresh-A")
	env.auth.SetAccessTokenLifetime(2 * time.Second)
	exporter := env.start(t)

	// One scrape every 250 ms for a minute: 240 scrapes, each of which must
	// see the balance, while 2-second access tokens expire under it.
	scrapes := 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); scrapes++ {
		exposition := scrape(t, exporter.url+"/metrics")
		if !strings.Contains(exposition, "\nautoretouch_up 1\n") || !strings.Contains(exposition, `autoretouch_credit_balance{org="One",org_id="org-1"} 4200`) {
			t.Fatalf("scrape %d at %s has no balance:\n%s\nexporter log:\n%s", scrapes, time.Now().Format(time.StampMilli), filterExposition(exposition), exporter.stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}

	grants := env.auth.Requests(autoretouchtest.GrantRefreshToken)
	if grants < 25 {
		t.Errorf("refresh grants = %d in a minute of 2s tokens, want at least 25", grants)
	}
	t.Logf("%d scrapes, %d refresh grants", scrapes, grants)
}

func TestExporterRevokedRefreshToken(t *testing.T) {
	env := newRefreshEnv(t, "refresh-A")
	exporter := env.start(t)
	if exposition := scrape(t, exporter.url+"/metrics"); !strings.Contains(exposition, "\nautoretouch_up 1\n") {
		t.Fatalf("first scrape is not up:\n%s", filterExposition(exposition))
	}

	env.auth.RevokeRefreshToken("refresh-A")
	env.api.SetFault(autoretouchtest.EndpointOrganizations, "", autoretouchtest.Fault{Status: 401, Times: 1})
	for i := range 3 {
		exposition := scrape(t, exporter.url+"/metrics")
		if !strings.Contains(exposition, "\nautoretouch_up 0\n") {
			t.Fatalf("scrape %d after the revocation is not down:\n%s", i, filterExposition(exposition))
		}
	}
	if got := strings.Count(exporter.stderr.String(), "rejected the refresh token"); got != 1 {
		t.Errorf("rejection logged %d times over 3 scrapes, want once:\n%s", got, exporter.stderr)
	}

	env.auth.AddRefreshToken("refresh-B")
	testsupport.ReplaceFile(t, env.tokenFile, "refresh-B")
	if exposition := scrape(t, exporter.url+"/metrics"); !strings.Contains(exposition, "\nautoretouch_up 1\n") {
		t.Errorf("scrape after a valid token was written is not up:\n%s\nlog:\n%s", filterExposition(exposition), exporter.stderr)
	}
}

func TestExporterAuthMetrics(t *testing.T) {
	env := newRefreshEnv(t, "refresh-A")
	exporter := env.start(t)

	scrape(t, exporter.url+"/metrics")
	exposition := scrape(t, exporter.url+"/metrics")

	for _, want := range []string{
		"\nautoretouch_auth_token_expiry_timestamp_seconds ",
		"\nautoretouch_auth_token_renewal_failures_total 0\n",
		`autoretouch_api_requests_total{code="200",endpoint="token"} 1`,
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("exposition lacks %q", strings.TrimSpace(want))
		}
	}
}

func TestExporterLogin(t *testing.T) {
	env := newRefreshEnv(t, "unused")
	env.auth.SetDeviceFlow(autoretouchtest.DeviceFlow{Interval: 1, ExpiresIn: 60, PendingPolls: 1, SlowDownPolls: 1})
	tokenFile := filepath.Join(t.TempDir(), "new-refresh-token")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exporterBinary, "login",
		"--autoretouch.auth-url="+env.auth.URL,
		"--autoretouch.client-id="+autoretouchtest.DefaultClientID,
		"--autoretouch.refresh-token-file="+tokenFile,
	)
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("login failed: %v\n%s", err, output)
	}

	info, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("login wrote no token file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("token file mode = %o, want 600", mode)
	}
	content, _ := os.ReadFile(tokenFile)
	token := strings.TrimSpace(string(content))
	if !env.auth.ValidRefreshToken(token) {
		t.Errorf("token file does not contain a refresh token the fake granted")
	}
	if strings.Contains(string(output), token) {
		t.Errorf("login printed the refresh token:\n%s", output)
	}
	if !strings.Contains(string(output), env.auth.URL+"/activate") {
		t.Errorf("login did not print the verification URL:\n%s", output)
	}
	if got := env.auth.Requests(autoretouchtest.GrantDeviceCode); got != 3 {
		t.Errorf("device polls = %d, want pending, slow_down, then granted", got)
	}
}

// TestSecretsNeverLeak drives the error paths with recognisable tokens that
// the servers echo back, and checks that neither token reaches a log line,
// the metrics or the landing page.
func TestSecretsNeverLeak(t *testing.T) {
	const accessToken = "AT-SECRET-7f3a9c0e1b2d"
	const refreshToken = "RT-SECRET-5e8b1d2c3a4f"
	const password = "PW-SECRET-hunter2"

	api := autoretouchtest.NewServer()
	defer api.Close()
	api.AcceptToken(accessToken, time.Time{})
	api.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "One", Balance: 1})
	api.AddOrganization(autoretouchtest.Organization{ID: "org-2", Name: "Two", Balance: 2})
	echo := "<html>Bearer " + accessToken + " is not welcome here</html>"
	api.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Status: 500, Body: echo})
	api.SetFault(autoretouchtest.EndpointBalance, "org-2", autoretouchtest.Fault{Body: accessToken})

	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token ` + r.PostFormValue("refresh_token") + ` was revoked"}`))
	}))
	defer auth.Close()

	refreshFile := filepath.Join(t.TempDir(), "refresh-token")
	testsupport.ReplaceFile(t, refreshFile, refreshToken)
	accessFile := filepath.Join(t.TempDir(), "access-token")
	testsupport.ReplaceFile(t, accessFile, accessToken)

	runs := []struct {
		name string
		env  []string
		args []string
	}{
		{"access token", nil, []string{"--autoretouch.api-url=" + api.URL, "--autoretouch.token-file=" + accessFile, "--log.level=debug"}},
		{"refresh token", nil, []string{"--autoretouch.api-url=" + api.URL, "--autoretouch.auth-url=" + auth.URL, "--autoretouch.refresh-token-file=" + refreshFile, "--log.level=debug"}},
		{"refresh token env", []string{envRefreshToken + "=" + refreshToken}, []string{"--autoretouch.api-url=" + api.URL, "--autoretouch.auth-url=" + auth.URL, "--log.level=debug"}},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			exporter := startExporter(t, run.env, run.args...)
			exposition := scrape(t, exporter.url+"/metrics")
			landing := scrape(t, exporter.url+"/")

			for _, secret := range []string{accessToken, refreshToken} {
				if strings.Contains(exposition, secret) {
					t.Errorf("/metrics contains %s", secret)
				}
				if strings.Contains(landing, secret) {
					t.Errorf("the landing page contains %s", secret)
				}
				if strings.Contains(exporter.stderr.String(), secret) {
					t.Errorf("the log contains %s:\n%s", secret, exporter.stderr)
				}
			}
		})
	}

	t.Run("user info in URL", func(t *testing.T) {
		cmd := exec.Command(exporterBinary, "--autoretouch.api-url=https://exporter:"+password+"@127.0.0.1:1", "--autoretouch.token-file="+accessFile)
		output, _ := cmd.CombinedOutput()
		if strings.Contains(string(output), password) {
			t.Errorf("the error output contains the password:\n%s", output)
		}
	})
}
