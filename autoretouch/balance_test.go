package autoretouch

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// acceptedBalances are bodies ParseBalance accepts, with their value.
var acceptedBalances = []struct {
	name string
	body string
	want int64
}{
	{name: "documented", body: "6820", want: 6820},
	{name: "negative", body: "-5", want: -5},
	{name: "white space", body: " 42\n", want: 42},
	{name: "zero", body: "0", want: 0},
	{name: "max exact", body: "9007199254740992", want: 1 << 53},
	{name: "min exact", body: "-9007199254740992", want: -(1 << 53)},
}

// rejectedBalances are bodies ParseBalance rejects.
var rejectedBalances = []struct {
	name string
	body string
}{
	{name: "null", body: "null"},
	{name: "empty", body: ""},
	{name: "white space only", body: " \r\n"},
	{name: "quoted", body: `"6820"`},
	{name: "decimal", body: "12.5"},
	{name: "exponent", body: "1e3"},
	{name: "beyond 2^53", body: "9007199254740993"},
	{name: "below -2^53", body: "-9007199254740993"},
	{name: "beyond int64", body: "99999999999999999999"},
	{name: "html", body: "<html><body>Bad Gateway</body></html>"},
	{name: "object", body: `{"balance":1}`},
	{name: "two numbers", body: "1 2"},
	{name: "hex", body: "0x10"},
	{name: "underscore", body: "1_000"},
	{name: "sign only", body: "-"},
}

func TestParseBalance(t *testing.T) {
	for _, tc := range acceptedBalances {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBalance([]byte(tc.body))

			if err != nil {
				t.Fatalf("ParseBalance(%q) failed: %v", tc.body, err)
			}
			if got != tc.want {
				t.Errorf("ParseBalance(%q) = %d, expected %d", tc.body, got, tc.want)
			}
		})
	}
	for _, tc := range rejectedBalances {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseBalance([]byte(tc.body))

			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("ParseBalance(%q) = %d, %v, expected an *InvalidResponseError", tc.body, got, err)
			}
			if invalid.Endpoint != endpointBalance {
				t.Errorf("error names endpoint %q, expected %q", invalid.Endpoint, endpointBalance)
			}
		})
	}
}

// newBalanceFake returns a fake with one organization, org-1, holding 6820
// credits.
func newBalanceFake(t *testing.T) *autoretouchtest.Server {
	t.Helper()
	fake := newFake(t)
	fake.AddOrganization(autoretouchtest.Organization{ID: "org-1", Balance: 6820})
	return fake
}

func TestBalance(t *testing.T) {
	fake := newBalanceFake(t)
	client := newTestClient(t, fake.URL)

	got, err := client.Balance(testContext(t), "org-1")

	if err != nil {
		t.Fatalf("Balance failed: %v", err)
	}
	if got != 6820 {
		t.Errorf("balance is %d, expected the fake's 6820", got)
	}
}

func TestBalanceFaultBodies(t *testing.T) {
	for _, tc := range acceptedBalances {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Body: tc.body})
			client := newTestClient(t, fake.URL)

			got, err := client.Balance(testContext(t), "org-1")

			if err != nil {
				t.Fatalf("Balance with body %q failed: %v", tc.body, err)
			}
			if got != tc.want {
				t.Errorf("Balance with body %q = %d, expected %d", tc.body, got, tc.want)
			}
		})
	}
	for _, tc := range rejectedBalances {
		if tc.body == "" {
			// The fake serves the real balance for a fault without a body.
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Body: tc.body})
			client := newTestClient(t, fake.URL)

			got, err := client.Balance(testContext(t), "org-1")

			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("Balance with body %q = %d, %v, expected an *InvalidResponseError", tc.body, got, err)
			}
			if n := fake.Requests(autoretouchtest.EndpointBalance); n != 1 {
				t.Errorf("fake received %d balance requests, expected 1 because an invalid body is not retried", n)
			}
		})
	}
}

func TestBalanceBodyLimit(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{name: "at limit", body: "7" + strings.Repeat(" ", maxBalanceBody-1)},
		{name: "over limit", body: "7" + strings.Repeat(" ", maxBalanceBody), wantErr: true},
		{name: "huge", body: strings.Repeat("9", 1<<20), wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", autoretouchtest.Fault{Body: tc.body})
			client := newTestClient(t, fake.URL)

			got, err := client.Balance(testContext(t), "org-1")

			if !tc.wantErr {
				if err != nil || got != 7 {
					t.Errorf("Balance with a %d byte body = %d, %v, expected 7", len(tc.body), got, err)
				}
				return
			}
			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("Balance with a %d byte body = %d, %v, expected an *InvalidResponseError", len(tc.body), got, err)
			}
			if !strings.Contains(invalid.Reason, strconv.Itoa(maxBalanceBody)) {
				t.Errorf("reason %q does not name the limit %d", invalid.Reason, maxBalanceBody)
			}
		})
	}
}

func TestBalanceStalls(t *testing.T) {
	cases := []struct {
		name  string
		fault autoretouchtest.Fault
	}{
		{name: "no answer", fault: autoretouchtest.Fault{Stall: true}},
		{name: "half body", fault: autoretouchtest.Fault{StallMidBody: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newBalanceFake(t)
			fake.SetFault(autoretouchtest.EndpointBalance, "org-1", tc.fault)
			client := newTestClient(t, fake.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()

			start := time.Now()
			_, err := client.Balance(ctx, "org-1")
			elapsed := time.Since(start)

			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Balance returned %v, expected the context deadline", err)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Balance returned after %v, expected soon after the 300 ms deadline", elapsed)
			}
			if n := fake.Requests(autoretouchtest.EndpointBalance); n != 1 {
				t.Errorf("fake received %d balance requests, expected 1 because nothing is retried after the deadline", n)
			}
		})
	}
}

// canonicalInteger is what ParseBalance may accept once white space is
// trimmed: an optional sign and decimal digits.
var canonicalInteger = regexp.MustCompile(`^[+-]?[0-9]+$`)

func FuzzParseBalance(f *testing.F) {
	for _, tc := range acceptedBalances {
		f.Add([]byte(tc.body))
	}
	for _, tc := range rejectedBalances {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte("+7"))
	f.Add([]byte("007"))
	f.Add([]byte("\u00a042\u0085"))

	limit := big.NewInt(maxExactBalance)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseBalance(body)

		if err != nil {
			var invalid *InvalidResponseError
			if !errors.As(err, &invalid) {
				t.Fatalf("ParseBalance(%q) error %v is a %T, expected an *InvalidResponseError", body, err, err)
			}
			return
		}
		text := string(bytes.TrimSpace(body))
		if !canonicalInteger.MatchString(text) {
			t.Fatalf("ParseBalance accepted %q, which is not a decimal integer", body)
		}
		exact, ok := new(big.Int).SetString(text, 10)
		if !ok {
			t.Fatalf("big.Int cannot parse %q, which ParseBalance accepted", text)
		}
		if exact.CmpAbs(limit) > 0 {
			t.Errorf("ParseBalance accepted %s, beyond ±2^53", text)
		}
		if !exact.IsInt64() || exact.Int64() != got {
			t.Errorf("ParseBalance(%q) = %d, expected %s", body, got, exact)
		}
		if back, err := ParseBalance([]byte(strconv.FormatInt(got, 10))); err != nil || back != got {
			t.Errorf("round trip of %d gave %d, %v", got, back, err)
		}
	})
}
