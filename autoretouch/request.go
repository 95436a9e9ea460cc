package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-kit/log/level"
)

const (
	// maxErrorBody bounds what is read of a non-2xx body, for its excerpt.
	maxErrorBody = 4 << 10

	// maxRetryAfter caps a Retry-After value, so that a wrong header cannot
	// silence the exporter for days.
	maxRetryAfter = time.Hour

	baseBackoff = 200 * time.Millisecond
	maxBackoff  = 5 * time.Second
)

// response is one HTTP attempt's outcome.
type response struct {
	status int
	header http.Header
	body   []byte
	// token is the access token the attempt sent, so that a 401 can
	// invalidate exactly that one.
	token string
}

// get sends GET requests for one call until one succeeds or the call fails.
// It is the only retry layer. It retries connection errors, 429, 502, 503
// and 504 with a jittered back-off. It waits out a Retry-After on 429 and 503
// when the wait fits inside ctx's deadline. After a 401 it renews the access
// token once and retries once. Other statuses fail at once. It
// returns the 2xx response.
func (c *Client) get(ctx context.Context, endpoint, path string, query url.Values, maxBody int64) (*response, error) {
	u := c.apiURL.JoinPath(path)
	u.RawQuery = query.Encode()
	renewedToken := false

	for attempt := 1; ; attempt++ {
		if err := c.waitWhilePaused(ctx, endpoint); err != nil {
			return nil, err
		}

		resp, err := c.send(ctx, endpoint, u, maxBody)
		if err != nil {
			var reqErr *RequestError
			if !errors.As(err, &reqErr) || ctx.Err() != nil || attempt >= c.maxAttempts {
				return nil, err
			}
			if !c.sleepBackoff(ctx, attempt) {
				return nil, err
			}
			c.logDebug("msg", "retrying request", "endpoint", endpoint, "attempt", attempt+1, "err", err)
			continue
		}

		// Only a complete response counts: 206 Partial Content or another 2xx
		// could carry a fragment that parses as a number.
		if resp.status == http.StatusOK || resp.status == http.StatusNonAuthoritativeInfo {
			return resp, nil
		}
		apiErr := &APIError{Endpoint: endpoint, Status: resp.status, Excerpt: errorExcerpt(resp.body, resp.token)}

		if resp.status == http.StatusUnauthorized && !renewedToken {
			renewedToken = true
			attempt--
			c.credentials.Invalidate(resp.token)
			c.logDebug("msg", "access token rejected, renewing it and retrying once", "endpoint", endpoint)
			continue
		}

		if resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable {
			// A wait of 0, or a date in the past, is a plain retry with
			// back-off, so that it cannot make a burst of requests.
			if wait, ok := retryAfter(resp.header, time.Now()); ok && wait > 0 {
				c.pause(endpoint, resp.status, wait)
				if attempt >= c.maxAttempts {
					return nil, apiErr
				}
				continue
			}
		}
		if !retryableStatus(resp.status) || attempt >= c.maxAttempts {
			return nil, apiErr
		}
		if !c.sleepBackoff(ctx, attempt) {
			return nil, apiErr
		}
		c.logDebug("msg", "retrying request", "endpoint", endpoint, "attempt", attempt+1, "status", resp.status)
	}
}

// send makes one HTTP attempt while holding a request slot. It returns a
// *RequestError when no complete response arrived.
func (c *Client) send(ctx context.Context, endpoint string, u *url.URL, maxBody int64) (*response, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, &RequestError{Endpoint: endpoint, Err: err}
	}
	defer c.release()

	token, err := c.credentials.AccessToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: no access token: %w", endpoint, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: building request: %w", endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	start := time.Now()
	httpResp, err := c.httpClient.Do(req)
	if err != nil {
		c.observe(endpoint, 0, time.Since(start))
		return nil, &RequestError{Endpoint: endpoint, Err: unwrapURLError(err)}
	}
	defer drainAndClose(httpResp.Body)

	limit := maxBody
	if httpResp.StatusCode < 200 || httpResp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	body, truncated, err := readLimited(httpResp.Body, limit)
	c.observe(endpoint, httpResp.StatusCode, time.Since(start))
	if err != nil {
		return nil, &RequestError{Endpoint: endpoint, Err: fmt.Errorf("reading body: %w", unwrapURLError(err))}
	}
	if truncated {
		// The cut can split an echoed token, and excerpt only hides whole
		// occurrences.
		body = trimSecretPrefix(body, token)
	}
	if truncated && httpResp.StatusCode >= 200 && httpResp.StatusCode < 300 {
		return nil, &InvalidResponseError{
			Endpoint: endpoint,
			Reason:   fmt.Sprintf("body larger than %d bytes", maxBody),
			Excerpt:  excerpt(body, token),
		}
	}

	return &response{status: httpResp.StatusCode, header: httpResp.Header, body: body, token: token}, nil
}

// hideToken replaces the excerpt of an *InvalidResponseError about r's body
// with one that hides the access token, because a proxy may return 200 with
// a page that echoes the request's headers.
func (r *response) hideToken(err error) error {
	var invalid *InvalidResponseError
	if errors.As(err, &invalid) {
		invalid.Excerpt = excerpt(r.body, r.token)
	}
	return err
}

// readLimited reads at most limit bytes and reports whether more followed.
func readLimited(r io.Reader, limit int64) ([]byte, bool, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return body[:limit], true, nil
	}
	return body, false, nil
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// method and URL, and keeps the cause.
func unwrapURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date.
func retryAfter(header http.Header, now time.Time) (time.Duration, bool) {
	value := header.Get("Retry-After")
	if value == "" {
		return 0, false
	}

	var wait time.Duration
	// On overflow ParseInt returns the largest or smallest int64 with
	// ErrRange, so a huge number of seconds is capped, not ignored.
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if seconds < 0 {
			return 0, false
		}
		wait = time.Duration(min(seconds, int64(maxRetryAfter/time.Second))) * time.Second
	} else if date, err := http.ParseTime(value); err == nil {
		wait = max(date.Sub(now), 0)
	} else {
		return 0, false
	}

	return min(wait, maxRetryAfter), true
}

// pause makes every request of this client wait, or fail at once, until the
// time the API asked for has passed.
func (c *Client) pause(endpoint string, status int, wait time.Duration) {
	until := time.Now().Add(wait)

	c.pauseMu.Lock()
	extended := until.After(c.pausedUntil)
	if extended {
		c.pausedUntil = until
	}
	c.pauseMu.Unlock()

	if extended {
		_ = level.Warn(c.logger).Log("msg", "API asked to wait, sending no requests until then", "endpoint", endpoint, "status", status, "retry_after", wait, "until", until.UTC().Format(time.RFC3339))
	}
}

// waitWhilePaused returns at once when no pause is in force. Otherwise it
// waits for the pause to end when that fits inside ctx's deadline, and
// returns a *RateLimitedError when it does not.
func (c *Client) waitWhilePaused(ctx context.Context, endpoint string) error {
	until := c.PausedUntil()
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}

	deadline, ok := ctx.Deadline()
	if !ok || until.After(deadline) {
		return &RateLimitedError{Endpoint: endpoint, Until: until}
	}
	return sleep(ctx, wait)
}

// sleepBackoff waits a jittered, exponentially growing time before attempt
// number attempt+1, and returns false without waiting when the wait would
// end after ctx's deadline.
func (c *Client) sleepBackoff(ctx context.Context, attempt int) bool {
	ceiling := min(baseBackoff<<(attempt-1), maxBackoff)
	wait := ceiling/2 + rand.N(ceiling/2+1)

	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
		return false
	}
	return sleep(ctx, wait) == nil
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
