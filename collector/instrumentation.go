package collector

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// APIMetrics are the exporter's own counts of the requests it sends. They
// live on a persistent registry, apart from the per-scrape metrics, so that
// counters keep counting across scrapes.
type APIMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewAPIMetrics registers the request metrics on reg. The histogram is
// created for each of endpoints at once, so that dashboards show it before
// the first request.
func NewAPIMetrics(reg prometheus.Registerer, endpoints ...string) *APIMetrics {
	m := &APIMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: apiRequestsSpec.name,
			Help: apiRequestsSpec.help,
		}, apiRequestsSpec.labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: apiRequestDurationSpec.name,
			Help: apiRequestDurationSpec.help,
			// From a fast loopback response to the client's 30 s header timeout.
			Buckets:                        []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
			NativeHistogramBucketFactor:    1.1,
			NativeHistogramMaxBucketNumber: 100,
		}, apiRequestDurationSpec.labels),
	}
	reg.MustRegister(m.requests, m.duration)

	for _, endpoint := range endpoints {
		m.duration.WithLabelValues(endpoint)
	}
	return m
}

// ObserveRequest counts one HTTP attempt. Status 0 means no response arrived.
// Its signature matches autoretouch.Options.ObserveRequest.
func (m *APIMetrics) ObserveRequest(endpoint string, status int, duration time.Duration) {
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(endpoint, code).Inc()
	m.duration.WithLabelValues(endpoint).Observe(duration.Seconds())
}
