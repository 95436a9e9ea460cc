package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// setTokenEnv sets the two token variables for the test, and unsets those
// given as "".
func setTokenEnv(t *testing.T, access, refresh string) {
	t.Helper()
	for name, value := range map[string]string{envAccessToken: access, envRefreshToken: refresh} {
		t.Setenv(name, value)
		if value == "" {
			if err := os.Unsetenv(name); err != nil {
				t.Fatalf("unsetting %s: %v", name, err)
			}
		}
	}
}

// loopbackConfig is a configuration whose URLs lead nowhere.
func loopbackConfig() *config {
	return &config{apiURL: "http://127.0.0.1:1", authURL: "http://127.0.0.1:1", clientID: autoretouchtest.DefaultClientID}
}

func TestLoadCredentialsTrimsEnvToken(t *testing.T) {
	for _, value := range []string{" tok ", "tok\n", "\ttok\r\n"} {
		setTokenEnv(t, value, "")
		credentials, _, err := loadCredentials(loopbackConfig(), log.NewNopLogger(), nil)
		if err != nil {
			t.Errorf("%s=%q: %v", envAccessToken, value, err)
			continue
		}
		token, err := credentials.AccessToken(context.Background())
		if err != nil || token != "tok" {
			t.Errorf("%s=%q gives the token %q (err %v), want %q", envAccessToken, value, token, err, "tok")
		}
	}
}

func TestLoadCredentialsRejectsEnvToken(t *testing.T) {
	values := []string{"SECRET-a b", "SECRET-a\tb", "SECRET-a\nb", "SECRET-a\x01b", "SECRET-a\x1b[31mb", "SECRET-a\u00a0b"}
	for _, name := range []string{envAccessToken, envRefreshToken} {
		for _, value := range values {
			if name == envAccessToken {
				setTokenEnv(t, value, "")
			} else {
				setTokenEnv(t, "", value)
			}
			_, _, err := loadCredentials(loopbackConfig(), log.NewNopLogger(), nil)
			if err == nil {
				t.Errorf("%s=%q was accepted", name, value)
				continue
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error for %s=%q does not name the variable: %v", name, value, err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error for %s=%q contains the token: %v", name, value, err)
			}
		}
	}
}

func TestLoadCredentialsTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// want is the advice, which for content errors comes from the
	// autoretouch package.
	paths := map[string]struct {
		path string
		want []string
	}{
		"missing file": {filepath.Join(dir, "missing"), []string{"does not exist", "check the path"}},
		"directory":    {dir, nil},
		"empty file":   {empty, []string{"empty"}},
	}

	for _, flag := range []string{"--autoretouch.token-file", "--autoretouch.refresh-token-file"} {
		for name, c := range paths {
			t.Run(flag+" "+name, func(t *testing.T) {
				setTokenEnv(t, "", "")
				cfg := loopbackConfig()
				if flag == "--autoretouch.token-file" {
					cfg.tokenFile = c.path
				} else {
					cfg.refreshTokenFile = c.path
				}

				_, _, err := loadCredentials(cfg, log.NewNopLogger(), nil)
				if err == nil {
					t.Fatalf("%s=%s was accepted", flag, c.path)
				}
				for _, want := range append([]string{flag, c.path}, c.want...) {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error does not contain %q: %v", want, err)
					}
				}
			})
		}
	}
}

// TestExporterTrimsRefreshTokenEnv runs the exporter with a refresh token
// that a shell or a secret store left with white space around it.
func TestExporterTrimsRefreshTokenEnv(t *testing.T) {
	env := newRefreshEnv(t, "refresh-A")
	exporter := startExporter(t, []string{envRefreshToken + "= refresh-A\n"},
		"--autoretouch.api-url="+env.api.URL,
		"--autoretouch.auth-url="+env.auth.URL,
		"--autoretouch.client-id="+autoretouchtest.DefaultClientID,
	)

	exposition := scrape(t, exporter.url+"/metrics")
	if !strings.Contains(exposition, "\nautoretouch_up 1\n") {
		t.Errorf("scrape with a refresh token in white space is not up:\n%s\nlog:\n%s", filterExposition(exposition), exporter.stderr)
	}
}
