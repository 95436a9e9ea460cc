package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"golang.org/x/oauth2"
)

const (
	// DefaultAuthURL is AutoRetouch's Auth0 tenant.
	DefaultAuthURL = "https://auth.autoretouch.com"
	// DefaultClientID is the public OAuth client of AutoRetouch's own
	// clients. It has no secret.
	DefaultClientID = "V8EkfbxtBi93cAySTVWAecEum4d6pt4J"
	// Audience is the API the access tokens are for.
	Audience = "https://api.autoretouch.com"

	endpointToken = "token"

	// assumedLifetime is used when a token response has no expires_in. The
	// documented lifetime is 24 hours; a shorter guess only costs renewals.
	assumedLifetime = time.Hour

	// renewAt is the part of an access token's lifetime after which it is
	// renewed, so that renewal has time to be retried before expiry.
	renewAt = 0.8

	minAuthBackoff      = time.Second
	maxAuthBackoff      = 5 * time.Minute
	rejectedAuthBackoff = 10 * time.Minute
)

// RefreshTokenSource returns the current refresh token. The exporter reads
// it from a file that may change, or from an environment variable.
type RefreshTokenSource interface {
	RefreshToken() (string, error)
	// Describe names the source for log lines and errors, without the token.
	Describe() string
}

// RefreshOptions configure RefreshCredentials.
type RefreshOptions struct {
	AuthURL   string
	ClientID  string
	Source    RefreshTokenSource
	UserAgent string
	Logger    log.Logger
	// ObserveRequest is called after every request to the token endpoint,
	// as in Options.
	ObserveRequest func(endpoint string, status int, duration time.Duration)
	// Transport replaces the default transport, for tests.
	Transport http.RoundTripper
}

// RefreshCredentials trade a long-lived refresh token for access tokens
// with the OAuth refresh_token grant, and renew each access token before it
// expires. When the auth server rejects the refresh token, they log it once,
// back off, and pick up a new token as soon as the source has one.
type RefreshCredentials struct {
	config     oauth2.Config
	httpClient *http.Client
	source     RefreshTokenSource
	logger     log.Logger

	mu sync.Mutex
	// sourceToken is the refresh token last read from the source, and
	// refreshToken the one in use, which differs when the server rotated it.
	sourceToken  string
	refreshToken string
	accessToken  string
	issued       time.Time
	expiry       time.Time
	failures     int
	retryAt      time.Time
	lastErr      error
	rejected     bool

	expiryUnix      atomic.Int64
	renewalFailures atomic.Uint64
}

// NewRefreshCredentials checks the options and reads the refresh token once,
// so that a missing file fails at startup. It does not contact the auth
// server: the first request does.
func NewRefreshCredentials(opts RefreshOptions) (*RefreshCredentials, error) {
	if opts.AuthURL == "" {
		opts.AuthURL = DefaultAuthURL
	}
	authURL, err := parseBaseURL("auth", opts.AuthURL, DefaultAuthURL)
	if err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Source == nil {
		return nil, errors.New("no refresh token source")
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "autoretouch_exporter"
	}

	token, err := opts.Source.RefreshToken()
	if err != nil {
		return nil, err
	}

	transport := &observingTransport{next: opts.Transport, userAgent: opts.UserAgent, observe: opts.ObserveRequest}
	return &RefreshCredentials{
		config:       NewOAuthConfig(authURL.String(), opts.ClientID),
		httpClient:   newHTTPClient(transport, 30*time.Second),
		source:       opts.Source,
		logger:       opts.Logger,
		sourceToken:  token,
		refreshToken: token,
	}, nil
}

// NewOAuthConfig returns the OAuth client configuration for the auth server
// at authURL. The client id goes in the form body, because the public client
// has no secret for HTTP basic authentication.
func NewOAuthConfig(authURL, clientID string) oauth2.Config {
	authURL = strings.TrimRight(authURL, "/")
	return oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: authURL + "/oauth/device/code",
			TokenURL:      authURL + "/oauth/token",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{"offline_access"},
	}
}

// AccessToken returns a valid access token, renewing it first when it is
// missing, invalidated or near its expiry. When renewal fails but the
// current token has not expired yet, it returns the current token.
func (r *RefreshCredentials) AccessToken(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.followSource()
	now := time.Now()
	if r.accessToken != "" && now.Before(r.renewTime()) {
		return r.accessToken, nil
	}
	usable := r.accessToken != "" && now.Before(r.expiry)

	if now.Before(r.retryAt) {
		if usable {
			return r.accessToken, nil
		}
		return "", fmt.Errorf("renewing the access token: waiting until %s after: %w", r.retryAt.UTC().Format(time.RFC3339), r.lastErr)
	}

	if err := r.renew(ctx); err != nil {
		if usable {
			return r.accessToken, nil
		}
		return "", err
	}
	return r.accessToken, nil
}

// Invalidate drops token when it is the current access token, so that the
// next AccessToken call renews it.
func (r *RefreshCredentials) Invalidate(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()

	if token == r.accessToken {
		r.accessToken = ""
		r.retryAt = time.Time{}
	}
}

// Expiry returns when the current access token expires, or the zero time
// when there is none.
func (r *RefreshCredentials) Expiry() time.Time {
	unix := r.expiryUnix.Load()
	if unix == 0 {
		return time.Time{}
	}
	return time.Unix(0, unix)
}

// RenewalFailures returns how many renewals have failed since start.
func (r *RefreshCredentials) RenewalFailures() uint64 { return r.renewalFailures.Load() }

// followSource adopts a refresh token that changed in the source, such as a
// replaced Kubernetes secret, and resets every state of the old one.
func (r *RefreshCredentials) followSource() {
	token, err := r.source.RefreshToken()
	if err != nil || token == r.sourceToken {
		return
	}

	_ = level.Info(r.logger).Log("msg", "refresh token changed, using the new one", "source", r.source.Describe())
	r.sourceToken = token
	r.refreshToken = token
	r.accessToken = ""
	r.failures = 0
	r.retryAt = time.Time{}
	r.rejected = false
}

func (r *RefreshCredentials) renewTime() time.Time {
	return r.issued.Add(time.Duration(float64(r.expiry.Sub(r.issued)) * renewAt))
}

// renew trades the refresh token for a new access token. It must be called
// with r.mu held.
func (r *RefreshCredentials) renew(ctx context.Context) error {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.httpClient)
	expired := &oauth2.Token{RefreshToken: r.refreshToken, Expiry: time.Unix(1, 0)}

	issued := time.Now()
	token, err := r.config.TokenSource(ctx, expired).Token()
	if err != nil {
		return r.renewalFailed(err)
	}

	lifetime := time.Until(token.Expiry) + time.Since(issued)
	if token.Expiry.IsZero() || lifetime <= 0 {
		lifetime = assumedLifetime
	}
	r.accessToken = token.AccessToken
	r.issued = issued
	r.expiry = issued.Add(lifetime)
	r.expiryUnix.Store(r.expiry.UnixNano())
	r.failures = 0
	r.retryAt = time.Time{}
	r.lastErr = nil

	if token.RefreshToken != "" && token.RefreshToken != r.refreshToken {
		r.refreshToken = token.RefreshToken
		r.keepRotatedToken()
	}
	if r.rejected {
		_ = level.Info(r.logger).Log("msg", "refresh token accepted again", "source", r.source.Describe())
		r.rejected = false
	}
	_ = level.Debug(r.logger).Log("msg", "renewed access token", "expiry", r.expiry.UTC().Format(time.RFC3339))
	return nil
}

// keepRotatedToken writes a refresh token that the auth server rotated back
// to its source, so that a restart does not read the old one, which the
// server may have revoked. A source that cannot be written, such as an
// environment variable or a read-only secret, keeps it in memory only.
func (r *RefreshCredentials) keepRotatedToken() {
	writer, ok := r.source.(interface{ Write(string) error })
	if !ok {
		_ = level.Warn(r.logger).Log("msg", "auth server rotated the refresh token; the new one is kept in memory only, so a restart will use the old one", "source", r.source.Describe())
		return
	}

	if err := writer.Write(r.refreshToken); err != nil {
		_ = level.Error(r.logger).Log("msg", "auth server rotated the refresh token, and writing it back failed; a restart will use the old one, which the server may reject", "source", r.source.Describe(), "err", err)
		return
	}
	r.sourceToken = r.refreshToken
	_ = level.Info(r.logger).Log("msg", "auth server rotated the refresh token, wrote the new one back", "source", r.source.Describe())
}

// renewalFailed records a failed renewal and sets when the next may start:
// an exponential back-off, and a long one when the refresh token itself was
// rejected, so that a dead token does not hammer the auth server.
func (r *RefreshCredentials) renewalFailed(err error) error {
	r.renewalFailures.Add(1)
	r.failures++
	err = sanitizeOAuthError(err, r.refreshToken, r.accessToken)
	r.lastErr = err

	var retrieveErr *oauth2.RetrieveError
	if errors.As(err, &retrieveErr) && retrieveErr.ErrorCode == "invalid_grant" {
		r.retryAt = time.Now().Add(rejectedAuthBackoff)
		if !r.rejected {
			r.rejected = true
			_ = level.Error(r.logger).Log("msg", "the auth server rejected the refresh token: create a new one with `autoretouch_exporter login` or in the AutoRetouch web app (profile menu, API, add a device), and write it to the refresh token source; the exporter picks it up without a restart", "source", r.source.Describe(), "err", err)
		}
		return fmt.Errorf("refresh token rejected: %w", err)
	}

	backoff := min(minAuthBackoff<<min(r.failures-1, 20), maxAuthBackoff)
	backoff = backoff/2 + rand.N(backoff/2+1)
	r.retryAt = time.Now().Add(backoff)
	_ = level.Warn(r.logger).Log("msg", "renewing the access token failed, retrying later", "retry_in", backoff, "failures", r.failures, "err", err)
	return fmt.Errorf("renewing the access token: %w", err)
}

// sanitizeOAuthError removes the tokens from an error of x/oauth2, whose
// *RetrieveError quotes the whole response body.
func sanitizeOAuthError(err error, secrets ...string) error {
	var retrieveErr *oauth2.RetrieveError
	if errors.As(err, &retrieveErr) {
		status := 0
		if retrieveErr.Response != nil {
			status = retrieveErr.Response.StatusCode
		}
		return &TokenError{
			Status:      status,
			Code:        retrieveErr.ErrorCode,
			Description: excerpt([]byte(retrieveErr.ErrorDescription), secrets...),
			Excerpt:     excerpt(retrieveErr.Body, secrets...),
			err:         retrieveErr,
		}
	}

	text := err.Error()
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "<secret>")
		}
	}
	return errors.New(text)
}

// TokenError is an error response of the auth server's token endpoint.
type TokenError struct {
	Status      int
	Code        string
	Description string
	Excerpt     string
	err         *oauth2.RetrieveError
}

func (e *TokenError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: HTTP %d: %s: %s", endpointToken, e.Status, e.Code, e.Description)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", endpointToken, e.Status, e.Excerpt)
}

// Unwrap returns the *oauth2.RetrieveError, so that errors.As finds its
// OAuth error code.
func (e *TokenError) Unwrap() error { return e.err }

// observingTransport sets the User-Agent of the requests to the auth server
// and reports each one like an API request.
type observingTransport struct {
	next      http.RoundTripper
	userAgent string
	observe   func(endpoint string, status int, duration time.Duration)
}

func (t *observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", t.userAgent)

	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if t.observe != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.observe(endpointToken, status, time.Since(start))
	}
	return resp, err
}
