// Package autoretouch is a client for the parts of the AutoRetouch API
// (https://docs.autoretouch.com) that report on organizations and credits.
// It depends on HTTP and not on Prometheus.
package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

const (
	// DefaultAPIURL is the production API.
	DefaultAPIURL = "https://api.autoretouch.com"

	// DefaultPageSize is the API's own default for limit. The maximum limit
	// the API accepts is not documented, so larger pages are a risk.
	DefaultPageSize = 50

	// DefaultConcurrency bounds the requests in flight. At 32, one scrape of
	// 10,000 organizations at 20 ms per request needs about 320 round trips
	// (6.4 s), inside Prometheus' default 10 s timeout, and 1,000
	// organizations at 50 ms take about 1.7 s.
	DefaultConcurrency = 32

	// DefaultMaxAttempts bounds the attempts for one call, the first included.
	DefaultMaxAttempts = 3
)

// Options configure a Client. The zero value of each field selects its default.
type Options struct {
	APIURL      string
	Credentials Credentials
	PageSize    int
	Concurrency int
	MaxAttempts int
	UserAgent   string
	Logger      log.Logger

	// ObserveRequest, when set, is called after every HTTP attempt with the
	// endpoint name, the status code (0 when no response arrived) and the
	// time from sending the request to reading the end of the body.
	ObserveRequest func(endpoint string, status int, duration time.Duration)

	// Transport replaces the default transport, for tests and benchmarks
	// that count connections.
	Transport http.RoundTripper
}

// Client calls the AutoRetouch API. It is safe for concurrent use, and all
// its requests share one limit on the number in flight.
type Client struct {
	apiURL      *url.URL
	httpClient  *http.Client
	credentials Credentials
	pageSize    int
	maxAttempts int
	userAgent   string
	logger      log.Logger
	observe     func(endpoint string, status int, duration time.Duration)

	// slots is a semaphore: a request holds one from sending until its body
	// is closed.
	slots chan struct{}

	pauseMu     sync.Mutex
	pausedUntil time.Time
}

// New returns a client, or an error that names the invalid option.
func New(opts Options) (*Client, error) {
	if opts.APIURL == "" {
		opts.APIURL = DefaultAPIURL
	}
	apiURL, err := parseBaseURL("API", opts.APIURL, DefaultAPIURL)
	if err != nil {
		return nil, err
	}

	if opts.Credentials == nil {
		return nil, errors.New("no credentials: give an access token or a refresh token")
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.PageSize < 1 || opts.PageSize > 1000 {
		return nil, fmt.Errorf("invalid page size %d: use a value from 1 to 1000", opts.PageSize)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Concurrency < 1 || opts.Concurrency > 512 {
		return nil, fmt.Errorf("invalid concurrency %d: use a value from 1 to 512", opts.Concurrency)
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxAttempts < 1 || opts.MaxAttempts > 10 {
		return nil, fmt.Errorf("invalid max attempts %d: use a value from 1 to 10", opts.MaxAttempts)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "autoretouch_exporter"
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	if opts.ObserveRequest == nil {
		opts.ObserveRequest = func(string, int, time.Duration) {}
	}
	if opts.Transport == nil {
		opts.Transport = newTransport(opts.Concurrency)
	}

	return &Client{
		apiURL:      apiURL,
		httpClient:  newHTTPClient(opts.Transport, 0),
		credentials: opts.Credentials,
		pageSize:    opts.PageSize,
		maxAttempts: opts.MaxAttempts,
		userAgent:   opts.UserAgent,
		logger:      opts.Logger,
		observe:     opts.ObserveRequest,
		slots:       make(chan struct{}, opts.Concurrency),
	}, nil
}

// Concurrency returns the maximum number of requests in flight.
func (c *Client) Concurrency() int { return cap(c.slots) }

// PausedUntil returns the time until which the API asked the client to send
// nothing, or the zero time when it has not.
func (c *Client) PausedUntil() time.Time {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	return c.pausedUntil
}

// parseBaseURL accepts an absolute http or https URL without user info, query
// or fragment, because every request path is joined to it and user info would
// end up in error messages.
func parseBaseURL(kind, raw, example string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the URL, or a part of it such as the port,
		// where a password can land when the URL is malformed.
		if strings.Contains(raw, "@") {
			return nil, fmt.Errorf(`invalid %s URL (not shown because it contains "@" and may contain a password): parsing failed, so check its syntax and remove any user info`, kind)
		}
		return nil, fmt.Errorf("invalid %s URL %q: %w: use an absolute http or https URL such as %s", kind, raw, unwrapURLError(err), example)
	}
	if u.User != nil {
		return nil, fmt.Errorf("invalid %s URL %q: remove the user info, credentials go in a token file", kind, u.Redacted())
	}
	if strings.Contains(u.Opaque, "@") {
		// Without "//" after the scheme, user info parses as an opaque
		// part, which Redacted does not hide.
		return nil, fmt.Errorf(`invalid %s URL (not shown because it contains "@" and may contain a password): use an absolute http or https URL without user info, such as %s`, kind, example)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid %s URL %q: use an absolute http or https URL such as %s", kind, u.Redacted(), example)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid %s URL %q: remove the query and the fragment", kind, u.Redacted())
	}
	return u, nil
}

// newHTTPClient returns a client that follows no redirect. Go copies the
// Authorization header to a redirect target on the same host name whatever
// its port or scheme, and a redirected balance would come from a server the
// exporter was not pointed at, so a 3xx fails the request instead.
func newHTTPClient(transport http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// newTransport keeps as many idle connections to the API as requests may be
// in flight, so that connections are reused within and across scrapes.
func newTransport(concurrency int) *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = concurrency
	transport.MaxIdleConns = max(transport.MaxIdleConns, concurrency)
	transport.ResponseHeaderTimeout = 30 * time.Second
	return transport
}

// acquire waits for a free request slot or for ctx to end.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.slots }

// drainAndClose reads what is left of a body, up to a bound, so that the
// connection can be reused, then closes it.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func (c *Client) logDebug(keyvals ...any) {
	_ = level.Debug(c.logger).Log(keyvals...)
}
