package autoretouch

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

func TestRetryStatus(t *testing.T) {
	cases := []struct {
		status       int
		wantRequests int
		wantErr      bool
	}{
		{status: http.StatusBadGateway, wantRequests: 2},
		{status: http.StatusServiceUnavailable, wantRequests: 2},
		{status: http.StatusGatewayTimeout, wantRequests: 2},
		{status: http.StatusTooManyRequests, wantRequests: 2},
		{status: http.StatusBadRequest, wantRequests: 1, wantErr: true},
		{status: http.StatusForbidden, wantRequests: 1, wantErr: true},
		{status: http.StatusNotFound, wantRequests: 1, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			fake := newBalanceFake(t)
			// A retried status fails once, and the others fail every time.
			times := 0
			if !tc.wantErr {
				times = 1
			}
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Status: tc.status, Times: times})
			client := newTestClient(t, fake.URL)

			got, err := client.Balance(testContext(t), "org-1")

			if n := fake.Requests(autoretouchtest.EndpointBalance); n != tc.wantRequests {
				t.Errorf("fake received %d requests, expected %d", n, tc.wantRequests)
			}
			if tc.wantErr {
				if StatusCode(err) != tc.status {
					t.Errorf("Balance returned %v, expected an *APIError with status %d", err, tc.status)
				}
				return
			}
			if err != nil || got != 6820 {
				t.Errorf("Balance = %d, %v, expected 6820 after one retry", got, err)
			}
		})
	}
}

func TestRetryMaxAttempts(t *testing.T) {
	for _, maxAttempts := range []int{1, 2, 3} {
		t.Run(strconv.Itoa(maxAttempts), func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Status: http.StatusServiceUnavailable})
			client := newTestClient(t, fake.URL, func(o *Options) { o.MaxAttempts = maxAttempts })

			_, err := client.Balance(testContext(t), "org-1")

			if StatusCode(err) != http.StatusServiceUnavailable {
				t.Errorf("Balance returned %v, expected the last 503", err)
			}
			if n := fake.Requests(autoretouchtest.EndpointBalance); n != maxAttempts {
				t.Errorf("fake received %d requests, expected MaxAttempts %d", n, maxAttempts)
			}
		})
	}
}

func TestRetryConnectionErrors(t *testing.T) {
	cases := []struct {
		name         string
		closeFirst   int64
		wantAccepted int64
		wantErr      bool
	}{
		{name: "one closed", closeFirst: 1, wantAccepted: 2},
		{name: "all closed", closeFirst: 100, wantAccepted: DefaultMaxAttempts, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			listener := newCountingListener(t)
			listener.closeFirst.Store(tc.closeFirst)
			fake := autoretouchtest.NewServerOnListener(listener)
			t.Cleanup(fake.Close)
			fake.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 6820})
			client := newTestClient(t, fake.URL)

			got, err := client.Balance(testContext(t), "org-1")

			if n := listener.accepted.Load(); n != tc.wantAccepted {
				t.Errorf("server accepted %d connections, expected %d", n, tc.wantAccepted)
			}
			if tc.wantErr {
				var reqErr *RequestError
				if !errors.As(err, &reqErr) {
					t.Errorf("Balance returned %v (%T), expected a *RequestError", err, err)
				}
				return
			}
			if err != nil || got != 6820 {
				t.Errorf("Balance = %d, %v, expected 6820 after a new connection", got, err)
			}
		})
	}
}

func retryAfterFault(status int, value string) autoretouchtest.Fault {
	return autoretouchtest.Fault{Status: status, Header: http.Header{"Retry-After": {value}}, Times: 1}
}

func TestRetryAfterWaited(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", retryAfterFault(status, "1"))
			client := newTestClient(t, fake.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			start := time.Now()
			got, err := client.Balance(ctx, "org-1")
			elapsed := time.Since(start)

			if err != nil || got != 6820 {
				t.Fatalf("Balance = %d, %v, expected 6820 after waiting out Retry-After: 1", got, err)
			}
			if elapsed < 900*time.Millisecond {
				t.Errorf("Balance returned after %v, expected it to wait the 1 s that Retry-After asked for", elapsed)
			}
			if n := fake.Requests(autoretouchtest.EndpointBalance); n != 2 {
				t.Errorf("fake received %d requests, expected 2", n)
			}
		})
	}
}

func TestRetryAfterBeyondDeadline(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", retryAfterFault(status, "30"))
			client := newTestClient(t, fake.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()

			_, err := client.Balance(ctx, "org-1")

			var limited *RateLimitedError
			if !errors.As(err, &limited) {
				t.Fatalf("Balance returned %v (%T), expected a *RateLimitedError", err, err)
			}
			if ctx.Err() != nil {
				t.Errorf("Balance waited for the 2 s deadline, expected it to fail at once because the 30 s wait cannot fit")
			}
			if wait := time.Until(client.PausedUntil()); wait < 25*time.Second || wait > 31*time.Second {
				t.Errorf("client is paused for %v more, expected about 30 s", wait)
			}

			// While the API asked to wait, a later scrape sends nothing.
			sent := fake.TotalRequests()
			ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel2()
			_, err = client.Balance(ctx2, "org-1")
			if !errors.As(err, &limited) {
				t.Errorf("second Balance returned %v (%T), expected a *RateLimitedError", err, err)
			}
			if n := fake.TotalRequests(); n != sent {
				t.Errorf("second call sent %d requests while paused, expected none", n-sent)
			}
			if _, err := client.WalkOrganizations(ctx2, func(Organization) {}); !errors.As(err, &limited) {
				t.Errorf("WalkOrganizations returned %v (%T) while paused, expected a *RateLimitedError", err, err)
			}
			if n := fake.TotalRequests(); n != sent {
				t.Errorf("the walk sent %d requests while paused, expected none", n-sent)
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Run("future", func(t *testing.T) {
		fake := newBalanceFake(t)
		date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
		fake.SetFault(autoretouchtest.EndpointBalance, "org-1", retryAfterFault(http.StatusTooManyRequests, date))
		client := newTestClient(t, fake.URL)

		_, err := client.Balance(testContext(t), "org-1")

		var limited *RateLimitedError
		if !errors.As(err, &limited) {
			t.Fatalf("Balance returned %v (%T), expected a *RateLimitedError", err, err)
		}
		if wait := time.Until(client.PausedUntil()); wait < 58*time.Minute || wait > 61*time.Minute {
			t.Errorf("client is paused for %v more, expected about the hour the date asked for", wait)
		}
	})

	t.Run("past", func(t *testing.T) {
		fake := newBalanceFake(t)
		date := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
		fake.SetFault(autoretouchtest.EndpointBalance, "org-1", retryAfterFault(http.StatusTooManyRequests, date))
		client := newTestClient(t, fake.URL)

		got, err := client.Balance(testContext(t), "org-1")

		if err != nil || got != 6820 {
			t.Errorf("Balance = %d, %v, expected 6820 because a past date asks for no wait", got, err)
		}
		if n := fake.Requests(autoretouchtest.EndpointBalance); n != 2 {
			t.Errorf("fake received %d requests, expected 2", n)
		}
	})
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{name: "absent", value: ""},
		{name: "seconds", value: "7", want: 7 * time.Second, wantOK: true},
		{name: "zero", value: "0", want: 0, wantOK: true},
		{name: "date", value: "Wed, 01 May 2024 12:02:00 GMT", want: 2 * time.Minute, wantOK: true},
		{name: "past date", value: "Wed, 01 May 2024 11:00:00 GMT", want: 0, wantOK: true},
		{name: "far date", value: "Fri, 31 Dec 9999 23:59:59 GMT", want: maxRetryAfter, wantOK: true},
		{name: "negative", value: "-5"},
		{name: "below int64", value: "-99999999999999999999"},
		{name: "decimal", value: "1.5"},
		{name: "garbage", value: "soon"},
		{name: "huge", value: "86400000", want: maxRetryAfter, wantOK: true},
		{name: "beyond int64", value: "99999999999999999999", want: maxRetryAfter, wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			if tc.value != "" {
				header.Set("Retry-After", tc.value)
			}

			got, ok := retryAfter(header, now)

			if ok != tc.wantOK {
				t.Fatalf("retryAfter(%q) ok = %v, expected %v", tc.value, ok, tc.wantOK)
			}
			if got != tc.want {
				t.Errorf("retryAfter(%q) = %v, expected %v", tc.value, got, tc.want)
			}
		})
	}
}

// tokenSequence is test input, not a fake of the client: credentials that
// return the next token of a list once the current one is invalidated, as a
// refresh token renews an access token.
type tokenSequence struct {
	mu          sync.Mutex
	tokens      []string
	current     int
	invalidated []string
}

func (s *tokenSequence) AccessToken(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[s.current], nil
}

func (s *tokenSequence) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, token)
	if token == s.tokens[s.current] && s.current < len(s.tokens)-1 {
		s.current++
	}
}

func TestUnauthorizedRenewsOnce(t *testing.T) {
	cases := []struct {
		name          string
		acceptedToken string
		wantErr       bool
	}{
		{name: "renewed token accepted", acceptedToken: "token-B"},
		{name: "renewed token rejected", acceptedToken: "token-C", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.RevokeToken(autoretouchtest.DefaultToken)
			fake.AcceptToken(tc.acceptedToken, time.Time{})
			credentials := &tokenSequence{tokens: []string{"token-A", "token-B"}}
			client := newTestClient(t, fake.URL, func(o *Options) { o.Credentials = credentials })

			got, err := client.Balance(testContext(t), "org-1")

			if n := fake.Requests(autoretouchtest.EndpointBalance); n != 2 {
				t.Errorf("fake received %d requests, expected 2: the first and one retry with the renewed token", n)
			}
			credentials.mu.Lock()
			invalidated := credentials.invalidated
			credentials.mu.Unlock()
			if len(invalidated) != 1 || invalidated[0] != "token-A" {
				t.Errorf("invalidated tokens %v, expected only the rejected token-A", invalidated)
			}
			if tc.wantErr {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
					t.Errorf("Balance returned %v (%T), expected an *APIError with status 401", err, err)
				}
				return
			}
			if err != nil || got != 6820 {
				t.Errorf("Balance = %d, %v, expected 6820 with the renewed token", got, err)
			}
		})
	}
}
