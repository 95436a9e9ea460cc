package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// DevicePrompt is the verification URL and user code a person needs to
// confirm a device login.
type DevicePrompt struct {
	VerificationURI         string
	VerificationURIComplete string
	UserCode                string
	Expiry                  time.Time
}

// DeviceLogin runs the OAuth device authorization grant against the auth
// server at authURL and returns the refresh token it grants. It calls prompt
// once with the verification URL and user code, then polls the token
// endpoint at the interval the server gives, longer after each slow_down,
// until the person confirms, the device code expires or ctx ends. x/oauth2
// does the polling.
func DeviceLogin(ctx context.Context, authURL, clientID string, transport http.RoundTripper, prompt func(DevicePrompt)) (string, error) {
	if _, err := parseBaseURL("auth", authURL, DefaultAuthURL); err != nil {
		return "", err
	}
	if transport == nil {
		transport = http.DefaultTransport
	}
	httpClient := newHTTPClient(&observingTransport{next: transport, userAgent: "autoretouch_exporter"}, 30*time.Second)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient)
	config := NewOAuthConfig(authURL, clientID)

	auth, err := config.DeviceAuth(ctx, oauth2.SetAuthURLParam("audience", Audience))
	if err != nil {
		return "", fmt.Errorf("requesting a device code: %w", sanitizeOAuthError(err))
	}
	prompt(DevicePrompt{
		VerificationURI:         auth.VerificationURI,
		VerificationURIComplete: auth.VerificationURIComplete,
		UserCode:                auth.UserCode,
		Expiry:                  auth.Expiry,
	})

	token, err := config.DeviceAccessToken(ctx, auth)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !auth.Expiry.IsZero() && time.Now().After(auth.Expiry) {
			return "", errors.New("the device code expired before the login was confirmed: run login again and confirm within the time shown")
		}
		return "", fmt.Errorf("waiting for the login to be confirmed: %w", sanitizeOAuthError(err, auth.DeviceCode))
	}
	if token.RefreshToken == "" {
		return "", errors.New("the auth server granted no refresh token: check that the client may request the offline_access scope")
	}
	return token.RefreshToken, nil
}
