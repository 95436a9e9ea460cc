package autoretouch

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
)

const (
	endpointBalance = "balance"

	// maxBalanceBody bounds the balance body, which is a bare integer.
	maxBalanceBody = 256

	// maxExactBalance is the largest magnitude a float64, and so a
	// Prometheus sample, holds exactly (2^53).
	maxExactBalance = 1 << 53
)

// Balance returns an organization's credit balance. One credit is one euro
// cent, excluding VAT. The API returns a bare integer such as 6820, and any
// other body is an *InvalidResponseError rather than a guessed number.
func (c *Client) Balance(ctx context.Context, orgID string) (int64, error) {
	query := url.Values{"organization": {orgID}}
	resp, err := c.get(ctx, endpointBalance, "/v1/organization/balance", query, maxBalanceBody)
	if err != nil {
		return 0, err
	}

	balance, err := ParseBalance(resp.body)
	if err != nil {
		return 0, resp.hideToken(err)
	}
	return balance, nil
}

// ParseBalance parses a balance body: an optionally signed decimal integer
// with surrounding white space, whatever the Content-Type. Decimals, quoted
// strings, null and integers beyond ±2^53 are rejected, because a float64
// sample could not hold them exactly.
func ParseBalance(body []byte) (int64, error) {
	text := string(bytes.TrimSpace(body))
	if text == "" {
		return 0, &InvalidResponseError{Endpoint: endpointBalance, Reason: "empty balance", Excerpt: excerpt(body)}
	}

	value, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, &InvalidResponseError{Endpoint: endpointBalance, Reason: "balance is not an integer", Excerpt: excerpt(body)}
	}
	if value > maxExactBalance || value < -maxExactBalance {
		return 0, &InvalidResponseError{Endpoint: endpointBalance, Reason: fmt.Sprintf("balance beyond ±%d", int64(maxExactBalance)), Excerpt: excerpt(body)}
	}
	return value, nil
}
