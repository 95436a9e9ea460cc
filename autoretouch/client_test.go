package autoretouch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// testTimeout bounds every call a test makes, so that a bug shows as a
// failure instead of a hung test run.
const testTimeout = 10 * time.Second

// newFake starts a fake API that the test closes when it ends.
func newFake(t *testing.T) *autoretouchtest.Server {
	t.Helper()
	fake := autoretouchtest.NewServer()
	t.Cleanup(fake.Close)
	return fake
}

// newTestClient returns a client for apiURL with the fake's default token.
// Every test passes a loopback URL, so no test can reach the production API.
func newTestClient(t *testing.T, apiURL string, configure ...func(*Options)) *Client {
	t.Helper()
	opts := Options{APIURL: apiURL, Credentials: StaticToken(autoretouchtest.DefaultToken)}
	for _, f := range configure {
		f(&opts)
	}
	client, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v) failed: %v", opts, err)
	}
	return client
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// countingListener counts the TCP connections a server accepts, and closes
// the first closeFirst of them at once to simulate connection failures.
type countingListener struct {
	net.Listener
	accepted   atomic.Int64
	closeFirst atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on loopback: %v", err)
	}
	return &countingListener{Listener: l}
}

func (l *countingListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.accepted.Add(1)
		if l.closeFirst.Add(-1) >= 0 {
			_ = conn.Close()
			continue
		}
		return conn, nil
	}
}

func TestNewOptions(t *testing.T) {
	cases := []struct {
		name string
		// opts gets a loopback URL and a token where it has none, unless
		// noCredentials is set.
		opts          Options
		noCredentials bool
		wantInErr     []string
		notInErr      []string
		wantErrNil    bool
	}{
		{name: "user info", opts: Options{APIURL: "http://exporter:hunter2@127.0.0.1:1"}, wantInErr: []string{"127.0.0.1", "user info"}, notInErr: []string{"hunter2"}},
		{name: "user info bad port", opts: Options{APIURL: "http://exporter:hunter2@127.0.0.1:bad"}, wantInErr: []string{"API URL"}, notInErr: []string{"hunter2"}},
		{name: "user info slash in password", opts: Options{APIURL: "http://exporter:hun/ter2@127.0.0.1"}, wantInErr: []string{"API URL"}, notInErr: []string{"hun"}},
		{name: "user info no scheme", opts: Options{APIURL: "exporter:hunter2@127.0.0.1"}, wantInErr: []string{"API URL"}, notInErr: []string{"hunter2"}},
		{name: "user info opaque", opts: Options{APIURL: "http:exporter:hunter2@127.0.0.1"}, wantInErr: []string{"API URL"}, notInErr: []string{"hunter2"}},
		{name: "ftp scheme", opts: Options{APIURL: "ftp://127.0.0.1:1"}, wantInErr: []string{"ftp://127.0.0.1:1", "http"}},
		{name: "no scheme", opts: Options{APIURL: "127.0.0.1:1"}, wantInErr: []string{"127.0.0.1:1"}},
		{name: "no host", opts: Options{APIURL: "http:///v1"}, wantInErr: []string{"http:///v1"}},
		{name: "query", opts: Options{APIURL: "http://127.0.0.1:1/?a=b"}, wantInErr: []string{"query"}},
		{name: "fragment", opts: Options{APIURL: "http://127.0.0.1:1/#top"}, wantInErr: []string{"fragment"}},
		{name: "no credentials", noCredentials: true, wantInErr: []string{"credentials"}},
		{name: "page size -1", opts: Options{PageSize: -1}, wantInErr: []string{"page size -1"}},
		{name: "page size 1001", opts: Options{PageSize: 1001}, wantInErr: []string{"page size 1001"}},
		{name: "page size 1000", opts: Options{PageSize: 1000}, wantErrNil: true},
		{name: "concurrency -1", opts: Options{Concurrency: -1}, wantInErr: []string{"concurrency -1"}},
		{name: "concurrency 513", opts: Options{Concurrency: 513}, wantInErr: []string{"concurrency 513"}},
		{name: "max attempts -1", opts: Options{MaxAttempts: -1}, wantInErr: []string{"max attempts -1"}},
		{name: "max attempts 11", opts: Options{MaxAttempts: 11}, wantInErr: []string{"max attempts 11"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts.APIURL == "" {
				opts.APIURL = "http://127.0.0.1:1"
			}
			if opts.Credentials == nil && !tc.noCredentials {
				opts.Credentials = StaticToken("token")
			}

			_, err := New(opts)
			if tc.wantErrNil {
				if err != nil {
					t.Fatalf("New returned %v, expected no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %+v, expected an error", tc.opts)
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, secret := range tc.notInErr {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the secret %q", err, secret)
				}
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	client := newTestClient(t, "http://127.0.0.1:1")

	if client.pageSize != DefaultPageSize {
		t.Errorf("page size 0 gave %d, expected the default %d", client.pageSize, DefaultPageSize)
	}
	if client.Concurrency() != DefaultConcurrency {
		t.Errorf("concurrency 0 gave %d, expected the default %d", client.Concurrency(), DefaultConcurrency)
	}
	if client.maxAttempts != DefaultMaxAttempts {
		t.Errorf("max attempts 0 gave %d, expected the default %d", client.maxAttempts, DefaultMaxAttempts)
	}
	if !client.PausedUntil().IsZero() {
		t.Errorf("new client is paused until %v, expected no pause", client.PausedUntil())
	}
}

func TestRequestHeadersAndBasePath(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		_, _ = w.Write([]byte("17"))
	}))
	t.Cleanup(server.Close)
	client := newTestClient(t, server.URL+"/base/", func(o *Options) { o.UserAgent = "exporter-test/1" })

	balance, err := client.Balance(testContext(t), "org-1")
	if err != nil {
		t.Fatalf("Balance failed: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if balance != 17 {
		t.Errorf("balance is %d, expected 17", balance)
	}
	if got.URL.Path != "/base/v1/organization/balance" {
		t.Errorf("request path is %q, expected the API URL's path joined with /v1/organization/balance", got.URL.Path)
	}
	if got.URL.Query().Get("organization") != "org-1" {
		t.Errorf("organization parameter is %q, expected org-1", got.URL.Query().Get("organization"))
	}
	if auth := got.Header.Get("Authorization"); auth != "Bearer "+autoretouchtest.DefaultToken {
		t.Errorf("Authorization header is %q, expected the bearer token", auth)
	}
	if ua := got.Header.Get("User-Agent"); ua != "exporter-test/1" {
		t.Errorf("User-Agent is %q, expected the configured one", ua)
	}
	if accept := got.Header.Get("Accept"); accept != "application/json" {
		t.Errorf("Accept is %q, expected application/json", accept)
	}
}

func TestObserveRequestSeesEveryAttempt(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 5})
	fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Status: http.StatusServiceUnavailable, Times: 1})

	type observation struct {
		endpoint string
		status   int
	}
	var mu sync.Mutex
	var seen []observation
	client := newTestClient(t, fake.URL, func(o *Options) {
		o.ObserveRequest = func(endpoint string, status int, duration time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, observation{endpoint, status})
		}
	})

	if _, err := client.Balance(testContext(t), "org-1"); err != nil {
		t.Fatalf("Balance failed: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []observation{{"balance", 503}, {"balance", 200}}
	if len(seen) != len(want) {
		t.Fatalf("observed %v, expected %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("observation %d is %v, expected %v", i, seen[i], want[i])
		}
	}
}

// scrapeAll walks the organizations and fetches each balance from its own
// goroutine, as a scrape with many organizations does.
func scrapeAll(t *testing.T, client *Client) {
	t.Helper()
	ctx := testContext(t)

	var wg sync.WaitGroup
	_, err := client.WalkOrganizations(ctx, func(org Organization) {
		wg.Go(func() {
			if _, err := client.Balance(ctx, org.ID); err != nil {
				t.Errorf("Balance(%s) failed: %v", org.ID, err)
			}
		})
	})
	wg.Wait()
	if err != nil {
		t.Fatalf("WalkOrganizations failed: %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganizations(200, 100)
	fake.SetLatency(20 * time.Millisecond)
	client := newTestClient(t, fake.URL, func(o *Options) { o.Concurrency = 4 })

	scrapeAll(t, client)

	if got := fake.Requests(autoretouchtest.EndpointBalance); got != 200 {
		t.Errorf("fake received %d balance requests, expected one per organization (200)", got)
	}
	if got := fake.MaxInFlight(); got > 4 {
		t.Errorf("fake saw %d requests in flight, expected at most the concurrency 4", got)
	}
	if got := fake.MaxInFlight(); got < 4 {
		t.Errorf("fake saw at most %d requests in flight, expected the client to use all 4 slots", got)
	}
}

func TestConnectionReuse(t *testing.T) {
	listener := newCountingListener(t)
	fake := autoretouchtest.NewServerOnListener(listener)
	t.Cleanup(fake.Close)
	fake.AddOrganizations(200, 100)
	fake.SetLatency(2 * time.Millisecond)
	client := newTestClient(t, fake.URL, func(o *Options) { o.Concurrency = 4 })

	scrapeAll(t, client)
	scrapeAll(t, client)

	// The transport hands a connection back to its idle pool from another
	// goroutine, so a request can dial just before a connection becomes free.
	// The slack allows for that, and far fewer than the 408 requests.
	const slack = 4
	t.Logf("two scrapes opened %d connections", listener.accepted.Load())
	if got := listener.accepted.Load(); got > 4+slack {
		t.Errorf("two scrapes opened %d connections, expected at most %d with concurrency 4", got, 4+slack)
	}
	if got := fake.TotalRequests(); got != 2*(4+200) {
		t.Errorf("fake received %d requests, expected %d for two scrapes", got, 2*(4+200))
	}
}
