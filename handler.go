package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/autoretouch/autoretouch_exporter/collector"
)

// metricsHandler serves one scrape per request. Each request gets a fresh
// registry for the AutoRetouch metrics, bound to a context that ends before
// Prometheus gives up on the scrape, and the persistent registry of the
// exporter's own metrics is gathered beside it.
type metricsHandler struct {
	collector     *collector.Collector
	self          prometheus.Gatherer
	timeoutOffset time.Duration
	maxTimeout    time.Duration
	logger        log.Logger
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	timeout := scrapeTimeout(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), h.timeoutOffset, h.maxTimeout)
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	scrapeRegistry := prometheus.NewRegistry()
	scrapeRegistry.MustRegister(h.collector.WithContext(ctx))

	// The scrape goes first, so that the request counters on the
	// persistent registry already include the requests it made.
	handler := promhttp.HandlerFor(prometheus.Gatherers{scrapeRegistry, h.self}, promhttp.HandlerOpts{
		ErrorLog:      promhttpLogger{h.logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
	handler.ServeHTTP(w, r)
}

// scrapeTimeout returns how long a scrape may take: the timeout Prometheus
// sends in its header minus offset, so that the response arrives in time,
// capped by maxTimeout. Without a valid header, it returns maxTimeout.
func scrapeTimeout(header string, offset, maxTimeout time.Duration) time.Duration {
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || !(seconds > 0) || seconds > 1e6 {
		return maxTimeout
	}

	timeout := time.Duration(seconds * float64(time.Second))
	if timeout > offset {
		timeout -= offset
	}
	return min(timeout, maxTimeout)
}

// promhttpLogger passes promhttp's error messages to the go-kit logger.
type promhttpLogger struct{ logger log.Logger }

func (l promhttpLogger) Println(v ...any) {
	_ = level.Error(l.logger).Log("msg", "serving metrics failed", "err", v)
}
