package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TokenRenewer is the state of refresh-token credentials that the auth
// metrics read. *autoretouch.RefreshCredentials implements it.
type TokenRenewer interface {
	// Expiry returns when the current access token expires, or the zero
	// time when there is none.
	Expiry() time.Time
	// RenewalFailures returns how many renewals have failed since start.
	RenewalFailures() uint64
}

// AuthCollector exposes the state of the access token that refresh-token
// credentials renew. It belongs on the persistent registry, because its
// counter must not reset between scrapes.
type AuthCollector struct {
	renewer  TokenRenewer
	expiry   *prometheus.Desc
	failures *prometheus.Desc
}

// NewAuthCollector returns a collector for renewer.
func NewAuthCollector(renewer TokenRenewer) *AuthCollector {
	return &AuthCollector{
		renewer:  renewer,
		expiry:   authTokenExpirySpec.desc(),
		failures: authRenewalFailuresSpec.desc(),
	}
}

// Describe sends the collector's descriptors.
func (a *AuthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- a.expiry
	ch <- a.failures
}

// Collect sends the failure count, and the expiry when a token exists.
func (a *AuthCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(a.failures, prometheus.CounterValue, float64(a.renewer.RenewalFailures()))

	if expiry := a.renewer.Expiry(); !expiry.IsZero() {
		ch <- prometheus.MustNewConstMetric(a.expiry, prometheus.GaugeValue, float64(expiry.UnixNano())/1e9)
	}
}
