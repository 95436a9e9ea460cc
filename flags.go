package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// The upper bounds that autoretouch.New accepts for Options.PageSize and
// Options.Concurrency; both start at 1. The flags check them first, so that
// the error names the flag. TestFlagRangesMatchClient fails when the
// client's bounds change.
const (
	maxPageSize    = 1000
	maxConcurrency = 512
)

// parsedValue is a kingpin.Value whose errors name the flag and the value.
// kingpin v2.4.0 returns a value's parse error without the flag's name, and
// its IntVar parses a float and truncates it, so that 2.9 becomes 2.
type parsedValue[T any] struct {
	flag   string
	target *T
	// parse returns the value, or an error that names what to use instead.
	parse func(string) (T, error)
}

func (v *parsedValue[T]) Set(s string) error {
	parsed, err := v.parse(s)
	if err != nil {
		return fmt.Errorf("invalid --%s %q: %w", v.flag, s, err)
	}
	*v.target = parsed
	return nil
}

func (v *parsedValue[T]) String() string { return fmt.Sprint(*v.target) }

// addIntFlag declares a flag that accepts only a decimal integer from
// minimum to maximum.
func addIntFlag(app *kingpin.Application, name, help string, defaultValue int, target *int, minimum, maximum int) {
	parse := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < minimum || n > maximum {
			return 0, fmt.Errorf("use an integer from %d to %d", minimum, maximum)
		}
		return n, nil
	}
	app.Flag(name, help).Default(strconv.Itoa(defaultValue)).
		SetValue(&parsedValue[int]{flag: name, target: target, parse: parse})
}

// addDurationFlag declares a flag that accepts what time.ParseDuration
// accepts. validateConfig checks the range.
func addDurationFlag(app *kingpin.Application, name, help, defaultValue string, target *time.Duration) {
	parse := func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("use a number with a unit, such as 30s, 500ms or 15m")
		}
		return d, nil
	}
	app.Flag(name, help).Default(defaultValue).
		SetValue(&parsedValue[time.Duration]{flag: name, target: target, parse: parse})
}

// addEnumFlag declares a flag that accepts only one of options.
func addEnumFlag(app *kingpin.Application, name, help, defaultValue string, target *string, options ...string) {
	parse := func(s string) (string, error) {
		for _, option := range options {
			if s == option {
				return s, nil
			}
		}
		return "", fmt.Errorf("use one of %s", strings.Join(options, ", "))
	}
	app.Flag(name, help).Default(defaultValue).
		SetValue(&parsedValue[string]{flag: name, target: target, parse: parse})
}

// validateConfig rejects values that parse but cannot work.
func validateConfig(cfg *config) error {
	if cfg.timeout <= 0 {
		return fmt.Errorf("invalid --autoretouch.timeout %s: use a positive duration such as 30s", cfg.timeout)
	}
	if cfg.timeoutOffset < 0 {
		return fmt.Errorf("invalid --scrape.timeout-offset %s: use 0 or a positive duration such as 500ms", cfg.timeoutOffset)
	}
	if cfg.workflowsRefresh < 0 {
		return fmt.Errorf("invalid --collector.workflows.refresh-interval %s: use 0 to fetch workflows on every scrape, or a positive duration", cfg.workflowsRefresh)
	}
	if cfg.cacheTTL < 0 {
		return fmt.Errorf("invalid --autoretouch.cache-ttl %s: use 0 to turn the cache off, or a positive duration", cfg.cacheTTL)
	}
	if err := validateMetricsPath(cfg.metricsPath); err != nil {
		return err
	}
	if err := validateNotEmpty(cfg); err != nil {
		return err
	}
	return validateListenAddresses(cfg)
}

// validateMetricsPath accepts "/" and paths such as /metrics or /v1/metrics.
// http.ServeMux reads braces in a pattern as wildcards, and a trailing slash
// as a prefix that matches every path below it. It never routes a request to
// a path with "." or ".." segments. The landing page links to the path
// without escaping it.
func validateMetricsPath(path string) error {
	if path == "/" {
		return nil
	}

	valid := strings.HasPrefix(path, "/")
	if valid {
		for _, segment := range strings.Split(path[1:], "/") {
			if segment == "" || segment == "." || segment == ".." || strings.IndexFunc(segment, isNotPathCharacter) >= 0 {
				valid = false
				break
			}
		}
	}
	if !valid {
		return fmt.Errorf("invalid --web.telemetry-path %q: use / followed by segments of ASCII letters, digits and -._~ separated by /, such as /metrics", path)
	}
	return nil
}

func isNotPathCharacter(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	case r == '-', r == '.', r == '_', r == '~':
		return false
	}
	return true
}

// validateNotEmpty rejects an empty URL or client id. The client packages
// read an empty value as the production default, so that an unset shell
// variable in --autoretouch.api-url=$API would send a test token to the
// real API.
func validateNotEmpty(cfg *config) error {
	flags := []struct {
		name, value, expected string
	}{
		{"autoretouch.api-url", cfg.apiURL, "the base URL of the API, such as " + autoretouch.DefaultAPIURL},
		{"autoretouch.auth-url", cfg.authURL, "the base URL of the OAuth server, such as " + autoretouch.DefaultAuthURL},
		{"autoretouch.client-id", cfg.clientID, "an OAuth client id"},
	}
	for _, flag := range flags {
		if strings.TrimSpace(flag.value) == "" {
			return fmt.Errorf("invalid --%s %q: the value is empty. Set it to %s, or leave out the flag to use the default", flag.name, flag.value, flag.expected)
		}
	}
	return nil
}

// validateListenAddresses rejects an empty --web.listen-address, on which
// exporter-toolkit would listen on a random port on all interfaces. Socket
// activation ignores the addresses.
func validateListenAddresses(cfg *config) error {
	if cfg.webFlags == nil || cfg.webFlags.WebListenAddresses == nil {
		return nil
	}
	if cfg.webFlags.WebSystemdSocket != nil && *cfg.webFlags.WebSystemdSocket {
		return nil
	}
	for _, address := range *cfg.webFlags.WebListenAddresses {
		if strings.TrimSpace(address) == "" {
			return fmt.Errorf("invalid --web.listen-address %q: an empty address listens on a random port on all interfaces. Use host:port, such as 127.0.0.1:9867, or :9867 for all interfaces", address)
		}
	}
	return nil
}
