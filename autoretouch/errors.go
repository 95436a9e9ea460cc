package autoretouch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxExcerptBytes bounds the part of a response body that an error quotes, so
// that an HTML error page or a huge body cannot flood a log line.
const maxExcerptBytes = 120

// APIError is a response from the API with a status outside 2xx.
type APIError struct {
	Endpoint string
	Status   int
	// Excerpt is the start of the body, sanitised for a log line.
	Excerpt string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: unexpected HTTP status %d: %s", e.Endpoint, e.Status, e.Excerpt)
}

// InvalidResponseError is a 2xx response whose body is not what the API
// documents, such as a balance that is not an integer.
type InvalidResponseError struct {
	Endpoint string
	Reason   string
	Excerpt  string
}

func (e *InvalidResponseError) Error() string {
	return fmt.Sprintf("%s: invalid response: %s: %s", e.Endpoint, e.Reason, e.Excerpt)
}

// RequestError is a request that got no HTTP response: the connection failed,
// timed out or was cancelled.
type RequestError struct {
	Endpoint string
	Err      error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("%s: request failed: %v", e.Endpoint, e.Err)
}

func (e *RequestError) Unwrap() error { return e.Err }

// RateLimitedError is returned without sending a request while the API has
// asked the client to wait (a 429 or 503 with Retry-After) and the wait does
// not fit inside the caller's deadline.
type RateLimitedError struct {
	Endpoint string
	Until    time.Time
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s: not sent because the API asked to wait until %s", e.Endpoint, e.Until.UTC().Format(time.RFC3339))
}

// StatusCode returns the HTTP status behind err, or 0 when err carries none.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// errorExcerpt returns the error and message of a Spring Boot error body,
// which the API documents, because its timestamp comes first and would fill
// a plain excerpt. Any other body gets a plain excerpt.
func errorExcerpt(body []byte, secrets ...string) string {
	var spring struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &spring) != nil || (spring.Error == "" && spring.Message == "") {
		return excerpt(body, secrets...)
	}

	summary := spring.Error
	if spring.Message != "" {
		summary = strings.TrimPrefix(summary+": "+spring.Message, ": ")
	}
	return excerpt([]byte(summary), secrets...)
}

// excerpt returns the start of body as a single printable line, with every
// occurrence of the secrets replaced, because an API or a proxy may echo the
// Authorization header back in an error page.
func excerpt(body []byte, secrets ...string) string {
	text := strings.ToValidUTF8(string(body), "\uFFFD")
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "<secret>")
		}
	}

	var b strings.Builder
	lastSpace := true
	for _, r := range text {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			if !lastSpace {
				b.WriteByte(' ')
			}
			lastSpace = true
			continue
		}
		b.WriteRune(r)
		lastSpace = false
	}

	out := strings.TrimSpace(b.String())
	if out == "" {
		return "(empty body)"
	}
	if len(out) > maxExcerptBytes {
		cut := maxExcerptBytes
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return fmt.Sprintf("%q", out)
}

// trimSecretPrefix removes the longest start of secret that ends body, as
// left where a read limit cut an echoed secret short.
func trimSecretPrefix(body []byte, secret string) []byte {
	for n := min(len(secret)-1, len(body)); n > 0; n-- {
		if bytes.HasSuffix(body, []byte(secret[:n])) {
			return body[:len(body)-n]
		}
	}
	return body
}
