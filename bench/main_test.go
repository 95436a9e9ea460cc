// Package bench measures how long one scrape of the exporter takes, how many
// requests it sends and what it allocates, against the fake AutoRetouch API
// with an added latency per request. It compares the exporter with the
// lower bound that any client with the same concurrency limit must respect,
// and with a client that sends one request at a time.
//
// The fake API runs in a child process (this test binary, started again), so
// that the allocations and the heap measured here are the exporter's alone.
//
//	go test ./bench/                                        quick checks only
//	go test -run '^$' -bench . -benchmem ./bench/           Go benchmarks, for benchstat
//	BENCH_TABLE=1 go test -run TestBenchTable -v -timeout 30m ./bench/
//	                                                        the table in docs/benchmarks.md
package bench

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeAPIChildEnv) == "1" {
		os.Exit(serveFakeAPI(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}
