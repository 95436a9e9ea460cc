// Command autoretouch_exporter exposes the credit balances and members of
// every AutoRetouch organization that its credentials can see, for
// Prometheus.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/collector"
)

const (
	programName = "autoretouch_exporter"

	// defaultListenAddress uses a port that no other exporter on the
	// Prometheus default port allocations wiki page had taken.
	defaultListenAddress = ":9867"

	// envAccessToken and envRefreshToken name the variables that may hold
	// an access token or a refresh token.
	envAccessToken  = "AUTORETOUCH_TOKEN"
	envRefreshToken = "AUTORETOUCH_REFRESH_TOKEN"
)

// config is everything the command line sets.
type config struct {
	webFlags         *web.FlagConfig
	metricsPath      string
	apiURL           string
	tokenFile        string
	refreshTokenFile string
	authURL          string
	clientID         string
	pageSize         int
	concurrency      int
	timeout          time.Duration
	timeoutOffset    time.Duration
	cacheTTL         time.Duration
	workflows        bool
	workflowsRefresh time.Duration
	logLevel         string
	logFormat        string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run parses args and runs the command they name. It returns the exit
// status.
func run(args []string) int {
	app, cfg := newApp()
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return 2
	}

	if command == "login" {
		return runLogin(cfg)
	}
	return serve(cfg)
}

// serve exposes the metrics until a signal arrives.
func serve(cfg *config) int {
	logger, slogger := newLogger(os.Stderr, cfg.logLevel, cfg.logFormat)
	_ = level.Info(logger).Log("msg", "starting "+programName, "version", version.Info(), "build_context", version.BuildContext())

	selfRegistry := prometheus.NewRegistry()
	selfRegistry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(programName),
	)
	endpoints := []string{"organizations", "balance"}
	if cfg.workflows {
		endpoints = append(endpoints, "workflows")
	}
	apiMetrics := collector.NewAPIMetrics(selfRegistry, endpoints...)

	credentials, source, err := loadCredentials(cfg, log.With(logger, "component", "auth"), apiMetrics.ObserveRequest)
	if err != nil {
		_ = level.Error(logger).Log("msg", "no usable credentials", "err", err)
		return 1
	}
	if renewer, ok := credentials.(collector.TokenRenewer); ok {
		selfRegistry.MustRegister(collector.NewAuthCollector(renewer))
	}

	client, err := autoretouch.New(autoretouch.Options{
		APIURL:         cfg.apiURL,
		Credentials:    credentials,
		PageSize:       cfg.pageSize,
		Concurrency:    cfg.concurrency,
		UserAgent:      userAgent(),
		Logger:         log.With(logger, "component", "client"),
		ObserveRequest: apiMetrics.ObserveRequest,
	})
	if err != nil {
		_ = level.Error(logger).Log("msg", "invalid API client configuration", "err", err)
		return 1
	}
	_ = level.Info(logger).Log("msg", "configured AutoRetouch API", "api_url", cfg.apiURL, "credentials", source, "page_size", cfg.pageSize, "concurrency", cfg.concurrency, "timeout", cfg.timeout, "cache_ttl", cfg.cacheTTL, "workflows", cfg.workflows, "workflows_refresh_interval", cfg.workflowsRefresh)

	coll := collector.New(client, collector.Options{
		Logger:           log.With(logger, "component", "collector"),
		Timeout:          cfg.timeout,
		CacheTTL:         cfg.cacheTTL,
		Workflows:        cfg.workflows,
		WorkflowsRefresh: cfg.workflowsRefresh,
	})

	mux, err := newMux(cfg, coll, selfRegistry, logger)
	if err != nil {
		_ = level.Error(logger).Log("msg", "building the landing page failed", "err", err)
		return 1
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = level.Info(logger).Log("msg", "shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdownCtx)
	}()

	if err := web.ListenAndServe(server, cfg.webFlags, slogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = level.Error(logger).Log("msg", "serving HTTP failed", "err", err)
		return 1
	}
	_ = level.Info(logger).Log("msg", "stopped")
	return 0
}

// newApp declares the command line.
func newApp() (*kingpin.Application, *config) {
	cfg := &config{}
	app := kingpin.New(programName, "Prometheus exporter for the credit balances and members of AutoRetouch organizations.")
	app.Version(version.Print(programName))
	app.HelpFlag.Short('h')

	cfg.webFlags = kingpinflag.AddFlags(app, defaultListenAddress)
	app.Flag("web.telemetry-path", "Path under which to expose metrics: / followed by segments of ASCII letters, digits and -._~ separated by /.").
		Default("/metrics").StringVar(&cfg.metricsPath)

	app.Flag("autoretouch.api-url", "Base URL of the AutoRetouch API.").
		Default(autoretouch.DefaultAPIURL).StringVar(&cfg.apiURL)
	app.Flag("autoretouch.refresh-token-file", "File containing an AutoRetouch refresh token, which the exporter trades for access tokens. It is reread when it changes. Alternatively set the environment variable "+envRefreshToken+" to the token. The login command writes this file.").
		PlaceHolder("FILE").StringVar(&cfg.refreshTokenFile)
	app.Flag("autoretouch.token-file", "File containing an AutoRetouch access token, which expires after 24 hours; prefer a refresh token. It is reread when it changes. Alternatively set the environment variable "+envAccessToken+" to the token.").
		PlaceHolder("FILE").StringVar(&cfg.tokenFile)
	app.Flag("autoretouch.auth-url", "Base URL of the AutoRetouch OAuth server.").
		Default(autoretouch.DefaultAuthURL).StringVar(&cfg.authURL)
	app.Flag("autoretouch.client-id", "OAuth client id used with the refresh token. The default is AutoRetouch's public client.").
		Default(autoretouch.DefaultClientID).StringVar(&cfg.clientID)
	addIntFlag(app, "autoretouch.page-size", "Organizations requested per page of the listing (the API's limit parameter), from 1 to "+strconv.Itoa(maxPageSize)+".",
		autoretouch.DefaultPageSize, &cfg.pageSize, 1, maxPageSize)
	addIntFlag(app, "autoretouch.concurrency", "Maximum number of API requests in flight during a scrape, from 1 to "+strconv.Itoa(maxConcurrency)+".",
		autoretouch.DefaultConcurrency, &cfg.concurrency, 1, maxConcurrency)
	addDurationFlag(app, "autoretouch.timeout", "Maximum duration of one scrape's API calls. A shorter X-Prometheus-Scrape-Timeout-Seconds header, minus --scrape.timeout-offset, takes precedence.",
		"30s", &cfg.timeout)
	addDurationFlag(app, "scrape.timeout-offset", "Time subtracted from Prometheus' scrape timeout, so that the answer arrives before Prometheus gives up.",
		"500ms", &cfg.timeoutOffset)
	addDurationFlag(app, "autoretouch.cache-ttl", "Serve the last successful scrape for up to this long instead of calling the API again; 0 turns the cache off.",
		"0s", &cfg.cacheTTL)

	app.Flag("collector.workflows", "Expose each workflow's execution price, at one more API request per organization every --collector.workflows.refresh-interval. --no-collector.workflows turns it off.").
		Default("true").BoolVar(&cfg.workflows)
	addDurationFlag(app, "collector.workflows.refresh-interval", "How long an organization's workflow prices are reused before they are fetched again; 0 fetches them on every scrape. Prices change rarely, and fetching them on every scrape doubles its API requests.",
		"15m", &cfg.workflowsRefresh)

	addEnumFlag(app, "log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]",
		"info", &cfg.logLevel, "debug", "info", "warn", "error")
	addEnumFlag(app, "log.format", "Output format of log messages. One of: [logfmt, json]",
		"logfmt", &cfg.logFormat, "logfmt", "json")

	app.Command("serve", "Serve the metrics (the default command).").Default()
	app.Command("login", "Log in with the OAuth device flow and write a refresh token to --autoretouch.refresh-token-file.")

	app.Validate(func(*kingpin.Application) error { return validateConfig(cfg) })
	return app, cfg
}

// userAgent names the exporter and its version in every request, so that
// AutoRetouch can tell its traffic apart. A build without ldflags has no
// version and sends "dev".
func userAgent() string {
	if version.Version == "" {
		return programName + "/dev"
	}
	return programName + "/" + version.Version
}

// newMux routes the metrics path and the landing page.
func newMux(cfg *config, coll *collector.Collector, selfRegistry *prometheus.Registry, logger log.Logger) (*http.ServeMux, error) {
	metrics := &metricsHandler{
		collector:     coll,
		self:          selfRegistry,
		timeoutOffset: cfg.timeoutOffset,
		maxTimeout:    cfg.timeout,
		logger:        logger,
	}

	mux := http.NewServeMux()
	mux.Handle(cfg.metricsPath, promhttp.InstrumentMetricHandler(selfRegistry, metrics))
	if cfg.metricsPath == "/" {
		return mux, nil
	}

	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        programName,
		Description: "Prometheus exporter for AutoRetouch credit balances",
		Version:     version.Info(),
		Profiling:   "false",
		Links: []web.LandingLinks{
			{Address: cfg.metricsPath, Text: "Metrics"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}
