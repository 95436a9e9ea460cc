package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// maxExcerptLen is the longest excerpt: maxExcerptBytes of text, the
// ellipsis and the quotes, where quoting may escape a few characters.
const maxExcerptLen = 2*maxExcerptBytes + 8

func TestAPIErrorMessage(t *testing.T) {
	springBody := `{"timestamp":"2020-09-16T21:09:15.863+00:00","status":500,"error":"Internal Server Error","message":"Database unavailable","path":"/v1/organization/balance"}`
	cases := []struct {
		name        string
		orgID       string
		fault       *autoretouchtest.Fault
		wantStatus  int
		wantExcerpt string
	}{
		{name: "404 unknown organization", orgID: "org-unknown", wantStatus: 404, wantExcerpt: "Organization org-unknown not found"},
		// The documented field order puts "message" past the excerpt's end.
		{name: "500 spring body", orgID: "org-1", fault: &autoretouchtest.Fault{Status: 500, Body: springBody}, wantStatus: 500, wantExcerpt: "Internal Server Error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			if tc.fault != nil {
				fake.SetFault(autoretouchtest.EndpointBalance, tc.orgID, *tc.fault)
			}
			client := newTestClient(t, fake.URL)

			_, err := client.Balance(testContext(t), tc.orgID)

			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Balance returned %v (%T), expected an *APIError", err, err)
			}
			if apiErr.Status != tc.wantStatus {
				t.Errorf("status is %d, expected %d", apiErr.Status, tc.wantStatus)
			}
			msg := err.Error()
			if !strings.Contains(msg, "balance") {
				t.Errorf("error %q does not name the endpoint", msg)
			}
			if !strings.Contains(msg, fmt.Sprint(tc.wantStatus)) {
				t.Errorf("error %q does not name the status %d", msg, tc.wantStatus)
			}
			if !strings.Contains(msg, tc.wantExcerpt) {
				t.Errorf("error %q does not quote the body's %q", msg, tc.wantExcerpt)
			}
			if len(apiErr.Excerpt) > maxExcerptLen {
				t.Errorf("excerpt is %d bytes, expected at most %d", len(apiErr.Excerpt), maxExcerptLen)
			}
		})
	}
}

func TestAPIErrorHTMLExcerpt(t *testing.T) {
	page := "<!DOCTYPE html>\r\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n\t<h1>Bad Gateway</h1>\n" +
		strings.Repeat("<p>The upstream server did not answer in time.</p>\n", 400) + "</body>\n</html>\n"
	fake := newBalanceFake(t)
	fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Status: http.StatusBadGateway, Body: page})
	client := newTestClient(t, fake.URL, func(o *Options) { o.MaxAttempts = 1 })

	_, err := client.Balance(testContext(t), "org-1")

	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Balance returned %v (%T), expected an *APIError", err, err)
	}
	if strings.ContainsAny(err.Error(), "\r\n\t") {
		t.Errorf("error %q spans more than one line", err)
	}
	if len(apiErr.Excerpt) > maxExcerptLen {
		t.Errorf("excerpt of a %d byte page is %d bytes, expected at most %d", len(page), len(apiErr.Excerpt), maxExcerptLen)
	}
	if !strings.Contains(apiErr.Excerpt, "502 Bad Gateway") {
		t.Errorf("excerpt %s lost the start of the page", apiErr.Excerpt)
	}
	if !strings.HasSuffix(apiErr.Excerpt, `…"`) {
		t.Errorf("excerpt %s does not show that it was cut", apiErr.Excerpt)
	}
}

func TestErrorsHideToken(t *testing.T) {
	const token = "SECRET-TOKEN-123"
	echo := "<html><body><pre>GET /v1/organization\nAuthorization: Bearer " + token + "\n</pre></body></html>"
	cases := []struct {
		name     string
		endpoint string
		fault    autoretouchtest.Fault
	}{
		{name: "400", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Status: 400, Body: echo}},
		{name: "401", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Status: 401, Body: echo}},
		{name: "502", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Status: 502, Body: echo}},
		{name: "500 token twice", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Status: 500, Body: token + " " + token}},
		// A proxy may return 200 with its own page, which fails to parse.
		{name: "200 balance", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Body: echo}},
		{name: "200 page", endpoint: autoretouchtest.EndpointOrganizations, fault: autoretouchtest.Fault{Body: echo}},
		{name: "200 oversized balance", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Body: token + strings.Repeat(" ", maxBalanceBody)}},
		// White space collapses, so the cut at the body limit lands in the
		// excerpt and must not leave the start of the token there.
		{name: "token cut at body limit", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Status: 400, Body: strings.Repeat(" ", maxErrorBody-11) + token}},
		{name: "200 token cut at body limit", endpoint: autoretouchtest.EndpointBalance, fault: autoretouchtest.Fault{Body: strings.Repeat(" ", maxBalanceBody-11) + token}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.AcceptToken(token, time.Time{})
			fake.SetFault(tc.endpoint, "", tc.fault)
			client := newTestClient(t, fake.URL, func(o *Options) {
				o.Credentials = StaticToken(token)
				o.MaxAttempts = 1
			})

			var err error
			if tc.endpoint == autoretouchtest.EndpointBalance {
				_, err = client.Balance(testContext(t), "org-1")
			} else {
				_, err = client.WalkOrganizations(testContext(t), func(Organization) {})
			}

			if err == nil {
				t.Fatalf("call succeeded, expected an error")
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q shows the access token", err)
			}
		})
	}
}

func TestStatusCode(t *testing.T) {
	apiErr := &APIError{Endpoint: "balance", Status: 404, Excerpt: `"x"`}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: 0},
		{name: "api error", err: apiErr, want: 404},
		{name: "wrapped", err: fmt.Errorf("fetching balance of org-1: %w", apiErr), want: 404},
		{name: "wrapped twice", err: fmt.Errorf("scrape: %w", fmt.Errorf("balance: %w", apiErr)), want: 404},
		{name: "joined", err: errors.Join(errors.New("other"), apiErr), want: 404},
		{name: "request error", err: &RequestError{Endpoint: "balance", Err: context.DeadlineExceeded}, want: 0},
		{name: "rate limited", err: &RateLimitedError{Endpoint: "balance", Until: time.Now()}, want: 0},
		{name: "plain", err: errors.New("boom"), want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusCode(tc.err); got != tc.want {
				t.Errorf("StatusCode(%v) = %d, expected %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestRequestErrorUnwraps(t *testing.T) {
	err := fmt.Errorf("scrape: %w", &RequestError{Endpoint: "balance", Err: context.DeadlineExceeded})

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) is false, expected *RequestError to unwrap to its cause", err)
	}
}

func TestExcerpt(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		secrets []string
		want    string
	}{
		{name: "empty", body: "", want: "(empty body)"},
		{name: "white space only", body: " \n\t", want: "(empty body)"},
		{name: "plain", body: "Not Found", want: `"Not Found"`},
		{name: "white space collapsed", body: "a\r\n\t  b\n", want: `"a b"`},
		{name: "control characters", body: "a\x00\x1bb", want: `"a b"`},
		{name: "invalid UTF-8", body: "caf\xe9", want: `"caf` + "\uFFFD" + `"`},
		{name: "quotes escaped", body: `{"a":"b"}`, want: `"{\"a\":\"b\"}"`},
		{name: "secret", body: "token abc123 echoed", secrets: []string{"abc123"}, want: `"token <secret> echoed"`},
		{name: "empty secret ignored", body: "abc", secrets: []string{""}, want: `"abc"`},
		{name: "cut", body: strings.Repeat("x", 200), want: `"` + strings.Repeat("x", maxExcerptBytes) + `…"`},
		// The cut falls inside a two-byte rune and must move before it.
		{name: "cut at rune start", body: "x" + strings.Repeat("é", 100), want: `"x` + strings.Repeat("é", (maxExcerptBytes-1)/2) + `…"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := excerpt([]byte(tc.body), tc.secrets...)

			if got != tc.want {
				t.Errorf("excerpt(%q) = %s, expected %s", tc.body, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("excerpt %q is not valid UTF-8", got)
			}
		})
	}
}

func TestTrimSecretPrefix(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{name: "cut token", body: "echo: SECRET-TO", want: "echo: "},
		{name: "one byte", body: "echo: S", want: "echo: "},
		{name: "whole token kept for excerpt", body: "echo: SECRET-TOKEN-123", want: "echo: SECRET-TOKEN-123"},
		{name: "no token", body: "echo: nothing", want: "echo: nothing"},
		{name: "empty", body: "", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(trimSecretPrefix([]byte(tc.body), "SECRET-TOKEN-123")); got != tc.want {
				t.Errorf("trimSecretPrefix(%q) = %q, expected %q", tc.body, got, tc.want)
			}
		})
	}
}

func TestBalanceEndpointMissingOrganization(t *testing.T) {
	// An empty organization id is still sent to the balance endpoint, which
	// returns 400, rather than turning into a request to another path.
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/organization/balance" || r.URL.Query().Get("organization") != "" {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusTeapot)
			return
		}
		http.Error(w, "Required parameter 'organization' is not present", http.StatusBadRequest)
	}))
	t.Cleanup(server.Close)
	client := newTestClient(t, server.URL)

	_, err := client.Balance(testContext(t), "")

	if StatusCode(err) != http.StatusBadRequest {
		t.Errorf("Balance(\"\") returned %v, expected the API's 400", err)
	}
}

func TestErrorExcerptSpringBody(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string
	}{
		{"spring", `{"timestamp":"2020-09-16T21:09:15.863+00:00","status":404,"error":"Not Found","message":"Organization x not found","path":"/v1/organization/x"}`, `"Not Found: Organization x not found"`},
		{"error only", `{"status":500,"error":"Internal Server Error"}`, `"Internal Server Error"`},
		{"message only", `{"message":"rate limited"}`, `"rate limited"`},
		{"other JSON", `{"detail":"nope"}`, `"{\"detail\":\"nope\"}"`},
		{"html", `<html>Bad Gateway</html>`, `"<html>Bad Gateway</html>"`},
		{"token in message", `{"error":"Unauthorized","message":"token SECRET-1 expired"}`, `"Unauthorized: token <secret> expired"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := errorExcerpt([]byte(c.body), "SECRET-1"); got != c.want {
				t.Errorf("errorExcerpt(%s) = %s, want %s", c.body, got, c.want)
			}
		})
	}
}
