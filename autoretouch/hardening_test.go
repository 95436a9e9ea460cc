package autoretouch

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

func TestWalkCappedLimit(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganizations(120, 1)
	fake.SetPageQuirks(autoretouchtest.PageQuirks{MaxLimit: 50})
	client := newTestClient(t, fake.URL, func(o *Options) { o.PageSize = 100 })

	visits, count, err := walk(t, client)
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	checkVisitedOnce(t, visits, count)
	if count != 120 {
		t.Errorf("walk visited %d organizations from an API that caps the limit at 50, want all 120", count)
	}
}

func TestWalkMalformedEntrySkipped(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"entries":[
			{"id":"ok-1","name":"Fine","members":[{"id":"m","roles":["admin",7,{"x":1},"operator"]}]},
			{"id":5,"name":"Numeric id"},
			"not an object",
			{"id":"bad-members","members":{}},
			{"id":"ok-2","name":"Also fine"}],"total":5}`))
	}))
	defer server.Close()

	var orgs []Organization
	_, err := newTestClient(t, server.URL).WalkOrganizations(testContext(t), func(org Organization) { orgs = append(orgs, org) })
	if err != nil {
		t.Fatalf("walk with malformed entries failed as a whole: %v", err)
	}
	if len(orgs) != 2 || orgs[0].ID != "ok-1" || orgs[1].ID != "ok-2" {
		t.Fatalf("walk returned %+v, want ok-1 and ok-2", orgs)
	}
	if roles := orgs[0].Members[0].Roles; strings.Join(roles, ",") != "admin,operator" {
		t.Errorf("roles = %v, want the string roles admin and operator", roles)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var leaked atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		_, _ = w.Write([]byte("777"))
	}))
	defer target.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer origin.Close()

	_, err := newTestClient(t, origin.URL).Balance(testContext(t), "org-1")

	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTemporaryRedirect {
		t.Errorf("error = %v, want an *APIError with status 307", err)
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the redirect target received the access token %d times", n)
	}
}

func TestPartialContentRejected(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write([]byte("68"))
	}))
	defer server.Close()

	balance, err := newTestClient(t, server.URL).Balance(testContext(t), "org-1")
	if StatusCode(err) != http.StatusPartialContent {
		t.Errorf("Balance = %d, %v; want an error with status 206", balance, err)
	}
}

func TestRetryAfterZeroBacksOff(t *testing.T) {
	fake := newFake(t)
	fake.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 5})
	fake.SetFault(autoretouchtest.EndpointBalance, "", autoretouchtest.Fault{
		Status: 429, Header: http.Header{"Retry-After": {"0"}},
	})
	client := newTestClient(t, fake.URL)

	_, err := client.Balance(testContext(t), "org-1")
	if StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("error = %v, want status 429", err)
	}
	if got := fake.Requests(autoretouchtest.EndpointBalance); got != DefaultMaxAttempts {
		t.Errorf("requests = %d, want %d attempts with back-off", got, DefaultMaxAttempts)
	}
	if until := client.PausedUntil(); time.Until(until) > 0 {
		t.Errorf("Retry-After: 0 paused the client until %s", until)
	}
}

func TestWorkflowPriceValues(t *testing.T) {
	body := `{"entries":[
		{"id":"neg","executionPrice":-5},
		{"id":"quoted","executionPrice":"10"},
		{"id":"bool","executionPrice":true},
		{"id":"ok","executionPrice":40}],"total":4}`
	workflows, _, skipped, err := DecodeWorkflowPage([]byte(body))
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if skipped != 0 {
		t.Errorf("skipped = %d, want 0: a bad price drops the price, not the workflow", skipped)
	}
	for _, w := range workflows {
		wantPrice := w.ID == "ok"
		if w.HasPrice != wantPrice {
			t.Errorf("workflow %s HasPrice = %v, want %v", w.ID, w.HasPrice, wantPrice)
		}
	}
}

func TestReadSecretFileRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
		return path
	}
	fifo := dir + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("creating a FIFO: %v", err)
	}

	cases := map[string]string{
		"directory":         dir,
		"fifo":              fifo,
		"device":            "/dev/zero",
		"too large":         write("large", "SECRET-1"+strings.Repeat("A", maxSecretFileSize)),
		"control character": write("nul", "SECRET\x00-1"),
		"non-ASCII":         write("utf8", "SECRET-é"),
		"empty":             write("empty", " \n"),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			token, err := ReadSecretFile(path)
			if err == nil {
				t.Fatalf("ReadSecretFile(%s) = %q, want an error", path, token)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows the content: %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the path %s: %v", path, err)
			}
		})
	}
}

func TestReadSecretFileTrims(t *testing.T) {
	path := t.TempDir() + "/token"
	if err := os.WriteFile(path, []byte("\uFEFFSECRET-1\r\n"), 0o600); err != nil {
		t.Fatalf("writing: %v", err)
	}
	token, err := ReadSecretFile(path)
	if err != nil || token != "SECRET-1" {
		t.Errorf("ReadSecretFile = %q, %v; want SECRET-1 without the byte order mark and CRLF", token, err)
	}
}
