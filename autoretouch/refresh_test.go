package autoretouch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/go-kit/log"
	"golang.org/x/oauth2"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// authEnv is a fake API with its fake auth server and a client that renews
// its access tokens from a refresh token file.
type authEnv struct {
	api         *autoretouchtest.Server
	auth        *autoretouchtest.AuthServer
	tokenFile   string
	credentials *autoretouch.RefreshCredentials
	client      *autoretouch.Client
	logs        *testsupport.SyncBuffer
}

func newAuthEnv(t *testing.T, refreshToken string) *authEnv {
	t.Helper()
	api := autoretouchtest.NewServer()
	t.Cleanup(api.Close)
	api.RevokeToken(autoretouchtest.DefaultToken)
	api.AddOrganization(autoretouchtest.Organization{ID: "org-1", Name: "One", Balance: 100})

	auth := autoretouchtest.NewAuthServer(api)
	t.Cleanup(auth.Close)
	auth.AddRefreshToken(refreshToken)

	tokenFile := filepath.Join(t.TempDir(), "refresh-token")
	testsupport.ReplaceFile(t, tokenFile, refreshToken)
	source, err := autoretouch.NewSecretFile(tokenFile)
	if err != nil {
		t.Fatalf("reading refresh token file: %v", err)
	}

	logs := &testsupport.SyncBuffer{}
	credentials, err := autoretouch.NewRefreshCredentials(autoretouch.RefreshOptions{
		AuthURL:  auth.URL,
		ClientID: autoretouchtest.DefaultClientID,
		Source:   source,
		Logger:   log.NewLogfmtLogger(logs),
	})
	if err != nil {
		t.Fatalf("creating refresh credentials: %v", err)
	}

	client, err := autoretouch.New(autoretouch.Options{APIURL: api.URL, Credentials: credentials, Concurrency: 2})
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return &authEnv{api: api, auth: auth, tokenFile: tokenFile, credentials: credentials, client: client, logs: logs}
}

func (e *authEnv) balance(t *testing.T) (int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.client.Balance(ctx, "org-1")
}

func TestRefreshFirstRequestGetsToken(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")

	balance, err := env.balance(t)
	if err != nil {
		t.Fatalf("balance with a refresh token: %v", err)
	}
	if balance != 100 {
		t.Errorf("balance = %d, want 100", balance)
	}
	if got := env.auth.Requests(autoretouchtest.GrantRefreshToken); got != 1 {
		t.Errorf("refresh grants = %d, want 1", got)
	}
	if expiry := env.credentials.Expiry(); time.Until(expiry) < 23*time.Hour {
		t.Errorf("expiry = %s, want about 24 hours from now", expiry)
	}
}

func TestRefreshReusesValidToken(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")

	for range 5 {
		if _, err := env.balance(t); err != nil {
			t.Fatalf("balance: %v", err)
		}
	}
	if got := env.auth.Requests(autoretouchtest.GrantRefreshToken); got != 1 {
		t.Errorf("refresh grants = %d for 5 requests with a 24h token, want 1", got)
	}
}

func TestRefreshRenewsBeforeExpiry(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.SetAccessTokenLifetime(2 * time.Second)

	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := env.balance(t); err != nil {
			t.Fatalf("balance at %s: %v\nlogs:\n%s", time.Now().Format(time.StampMilli), err, env.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	grants := env.auth.Requests(autoretouchtest.GrantRefreshToken)
	if grants < 3 {
		t.Errorf("refresh grants = %d in 5s of 2s tokens, want at least 3", grants)
	}
	if unauthorized := env.logs.String(); strings.Contains(unauthorized, "rejected") {
		t.Errorf("renewal logged a rejection:\n%s", unauthorized)
	}
}

func TestRefreshKeepsTokenWithoutNewOne(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.SetAccessTokenLifetime(time.Second)

	for range 3 {
		if _, err := env.balance(t); err != nil {
			t.Fatalf("balance: %v", err)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	if got := env.auth.Requests(autoretouchtest.GrantRefreshToken); got < 3 {
		t.Errorf("refresh grants = %d, want one per expired token", got)
	}
	if !env.auth.ValidRefreshToken("refresh-A") {
		t.Error("the original refresh token is no longer valid on the fake")
	}
}

func TestRefreshUsesRotatedToken(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.SetAccessTokenLifetime(time.Second)
	env.auth.SetRotateRefreshTokens(true)

	for i := range 3 {
		if _, err := env.balance(t); err != nil {
			t.Fatalf("balance %d with rotating refresh tokens: %v\nlogs:\n%s", i, err, env.logs)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	if env.auth.ValidRefreshToken("refresh-A") {
		t.Error("the fake did not rotate the refresh token")
	}
	if got := env.credentials.RenewalFailures(); got != 0 {
		t.Errorf("renewal failures = %d, want 0 when each rotated token is used", got)
	}

	// A restart reads the file, so it must hold the newest token.
	content, err := os.ReadFile(env.tokenFile)
	if err != nil {
		t.Fatalf("reading the token file: %v", err)
	}
	if token := strings.TrimSpace(string(content)); !env.auth.ValidRefreshToken(token) {
		t.Errorf("the token file holds a refresh token the fake no longer accepts")
	}
}

func TestRefreshRetriesOnceAfter401(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	if _, err := env.balance(t); err != nil {
		t.Fatalf("first balance: %v", err)
	}

	// The API stops accepting every token it has issued, as after a revocation.
	env.api.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 401, Times: 1})
	env.api.ResetCounters()

	if _, err := env.balance(t); err != nil {
		t.Fatalf("balance after one 401: %v", err)
	}
	if got := env.auth.Requests(autoretouchtest.GrantRefreshToken); got != 2 {
		t.Errorf("refresh grants = %d, want the first plus one renewal after the 401", got)
	}
	if got := env.api.Requests(autoretouchtest.EndpointBalance); got != 2 {
		t.Errorf("balance requests = %d, want the 401 and one retry", got)
	}
}

func TestRefreshSecond401Fails(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.api.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{Status: 401})

	_, err := env.balance(t)
	if autoretouch.StatusCode(err) != 401 {
		t.Fatalf("error = %v, want an HTTP 401 error", err)
	}
	if got := env.api.Requests(autoretouchtest.EndpointBalance); got != 2 {
		t.Errorf("balance requests = %d, want exactly one retry after a 401", got)
	}
}

func TestRefreshRejectedToken(t *testing.T) {
	for _, status := range []int{400, 403} {
		t.Run(fmt.Sprintf("status %d", status), func(t *testing.T) {
			env := newAuthEnv(t, "refresh-A")
			env.auth.SetInvalidGrantStatus(status)
			env.auth.RevokeRefreshToken("refresh-A")

			for range 5 {
				_, err := env.balance(t)
				var retrieveErr *oauth2.RetrieveError
				if !errors.As(err, &retrieveErr) || retrieveErr.ErrorCode != "invalid_grant" {
					t.Fatalf("error = %v, want an invalid_grant error", err)
				}
			}

			if got := env.auth.Requests(autoretouchtest.GrantRefreshToken); got != 1 {
				t.Errorf("refresh grants = %d for 5 requests with a rejected token, want 1 (back-off)", got)
			}
			if got := env.api.TotalRequests(); got != 0 {
				t.Errorf("API requests = %d without an access token, want 0", got)
			}
			if got := strings.Count(env.logs.String(), "rejected the refresh token"); got != 1 {
				t.Errorf("rejection logged %d times, want once:\n%s", got, env.logs)
			}
			if !strings.Contains(env.logs.String(), "login") {
				t.Errorf("rejection log does not say how to get a new token:\n%s", env.logs)
			}
			if got := env.credentials.RenewalFailures(); got != 1 {
				t.Errorf("renewal failures = %d, want 1", got)
			}
		})
	}
}

func TestRefreshNewFileRecovers(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.RevokeRefreshToken("refresh-A")
	if _, err := env.balance(t); err == nil {
		t.Fatal("balance with a revoked refresh token succeeded")
	}

	env.auth.AddRefreshToken("refresh-B")
	testsupport.ReplaceFile(t, env.tokenFile, "refresh-B")

	if _, err := env.balance(t); err != nil {
		t.Fatalf("balance after writing a valid token to the file: %v\nlogs:\n%s", err, env.logs)
	}
	if !strings.Contains(env.logs.String(), "refresh token changed") {
		t.Errorf("log does not report the new token:\n%s", env.logs)
	}
}

func TestRefreshFileBrieflyMissing(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.SetAccessTokenLifetime(time.Second)
	if _, err := env.balance(t); err != nil {
		t.Fatalf("first balance: %v", err)
	}

	if err := os.Remove(env.tokenFile); err != nil {
		t.Fatalf("removing token file: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := env.balance(t); err != nil {
		t.Errorf("balance while the token file is missing: %v", err)
	}

	testsupport.ReplaceFile(t, env.tokenFile, "")
	if _, err := env.balance(t); err != nil {
		t.Errorf("balance while the token file is empty: %v", err)
	}
}

func TestRefreshAuthServerDown(t *testing.T) {
	env := newAuthEnv(t, "refresh-A")
	env.auth.Close()

	_, err := env.balance(t)
	if err == nil {
		t.Fatal("balance with the auth server down succeeded")
	}
	if strings.Contains(err.Error(), "refresh-A") {
		t.Errorf("error contains the refresh token: %v", err)
	}
	if got := env.credentials.RenewalFailures(); got != 1 {
		t.Errorf("renewal failures = %d, want 1", got)
	}
}

func TestDeviceLogin(t *testing.T) {
	api := autoretouchtest.NewServer()
	defer api.Close()
	auth := autoretouchtest.NewAuthServer(api)
	defer auth.Close()
	auth.SetDeviceFlow(autoretouchtest.DeviceFlow{Interval: 1, ExpiresIn: 60, PendingPolls: 1})

	var prompt autoretouch.DevicePrompt
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := autoretouch.DeviceLogin(ctx, auth.URL, autoretouchtest.DefaultClientID, nil, func(p autoretouch.DevicePrompt) { prompt = p })
	if err != nil {
		t.Fatalf("device login: %v", err)
	}

	if !auth.ValidRefreshToken(token) {
		t.Errorf("login returned a refresh token the fake did not grant")
	}
	if prompt.UserCode == "" || !strings.HasPrefix(prompt.VerificationURI, auth.URL) {
		t.Errorf("prompt = %+v, want the user code and the fake's verification URL", prompt)
	}
	if got := auth.Requests(autoretouchtest.GrantDeviceCode); got != 2 {
		t.Errorf("device polls = %d, want one pending and one granted", got)
	}
}

func TestDeviceLoginExpires(t *testing.T) {
	api := autoretouchtest.NewServer()
	defer api.Close()
	auth := autoretouchtest.NewAuthServer(api)
	defer auth.Close()
	auth.SetDeviceFlow(autoretouchtest.DeviceFlow{Interval: 1, ExpiresIn: 2, NeverConfirm: true})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := autoretouch.DeviceLogin(ctx, auth.URL, autoretouchtest.DefaultClientID, nil, func(autoretouch.DevicePrompt) {})

	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("error = %v, want an expired device code", err)
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("login took %s with a device code that expires after 2s", elapsed)
	}
}
