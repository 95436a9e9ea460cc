package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// parseFlags parses args as the command line, without running anything.
func parseFlags(args ...string) (*config, error) {
	app, cfg := newApp()
	_, err := app.Parse(args)
	return cfg, err
}

func TestParseFlagsAccepts(t *testing.T) {
	cases := map[string][]string{
		"defaults":                 {},
		"smallest page size":       {"--autoretouch.page-size=1"},
		"largest page size":        {"--autoretouch.page-size=1000"},
		"largest concurrency":      {"--autoretouch.concurrency=512"},
		"root telemetry path":      {"--web.telemetry-path=/"},
		"nested telemetry path":    {"--web.telemetry-path=/v1/metrics-a.b_c~D9"},
		"zero duration":            {"--autoretouch.cache-ttl=0"},
		"several listen addresses": {"--web.listen-address=127.0.0.1:9867", "--web.listen-address=[::1]:9867"},
		"login":                    {"login", "--autoretouch.refresh-token-file=token"},
	}
	if runtime.GOOS == "linux" {
		cases["empty address with socket activation"] = []string{"--web.systemd-socket", "--web.listen-address="}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseFlags(args...); err != nil {
				t.Errorf("parsing %q: %v", args, err)
			}
		})
	}
}

func TestParseFlagsIntegers(t *testing.T) {
	cfg, err := parseFlags()
	if err != nil {
		t.Fatalf("parsing no flags: %v", err)
	}
	if cfg.pageSize != autoretouch.DefaultPageSize {
		t.Errorf("default page size = %d, want %d", cfg.pageSize, autoretouch.DefaultPageSize)
	}
	if cfg.concurrency != autoretouch.DefaultConcurrency {
		t.Errorf("default concurrency = %d, want %d", cfg.concurrency, autoretouch.DefaultConcurrency)
	}

	cfg, err = parseFlags("--autoretouch.page-size=7", "--autoretouch.concurrency=+3")
	if err != nil {
		t.Fatalf("parsing integers: %v", err)
	}
	if cfg.pageSize != 7 {
		t.Errorf("page size = %d, want 7", cfg.pageSize)
	}
	if cfg.concurrency != 3 {
		t.Errorf("concurrency = %d, want 3", cfg.concurrency)
	}
}

// TestParseFlagsRejectsEmptyListenAddress parses in the process instead of
// running the binary, because a binary without this check would listen on a
// random port on all interfaces.
func TestParseFlagsRejectsEmptyListenAddress(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--web.listen-address="}, `--web.listen-address ""`},
		{[]string{"--web.listen-address=127.0.0.1:9867", "--web.listen-address= "}, `--web.listen-address " "`},
	}
	for _, c := range cases {
		_, err := parseFlags(c.args...)
		if err == nil {
			t.Errorf("parsing %q succeeded, want an error", c.args)
			continue
		}
		for _, want := range []string{c.want, "host:port"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error for %q does not contain %q: %v", c.args, want, err)
			}
		}
	}
}

// TestFlagRangesMatchClient fails when autoretouch.New changes the ranges
// it accepts, which the flags repeat.
func TestFlagRangesMatchClient(t *testing.T) {
	newClient := func(pageSize, concurrency int) error {
		_, err := autoretouch.New(autoretouch.Options{
			APIURL:      "http://127.0.0.1:1",
			Credentials: autoretouch.StaticToken("token"),
			PageSize:    pageSize,
			Concurrency: concurrency,
		})
		return err
	}

	if err := newClient(1, 1); err != nil {
		t.Errorf("client rejects page size 1 and concurrency 1, which the flags accept: %v", err)
	}
	if err := newClient(maxPageSize, maxConcurrency); err != nil {
		t.Errorf("client rejects page size %d and concurrency %d, which the flags accept: %v", maxPageSize, maxConcurrency, err)
	}
	if err := newClient(maxPageSize+1, 1); err == nil {
		t.Errorf("client accepts page size %d: raise maxPageSize", maxPageSize+1)
	}
	if err := newClient(1, maxConcurrency+1); err == nil {
		t.Errorf("client accepts concurrency %d: raise maxConcurrency", maxConcurrency+1)
	}
}
