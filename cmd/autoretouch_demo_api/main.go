// Command autoretouch_demo_api serves the fake AutoRetouch API with a few
// sample organizations whose balances drain as if they were processing
// images, and are topped up when they run low. With --exporter it also runs
// the exporter against it, so that the demo needs no AutoRetouch account.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// sampleOrganizations drain at different speeds, so that the dashboard and
// the low-credit alert have something to show within minutes.
var sampleOrganizations = []struct {
	org autoretouchtest.Organization
	// spendPerTick is the most credits one tick spends.
	spendPerTick int64
	topUp        int64
}{
	{
		org: autoretouchtest.Organization{
			ID: "9f5c2d7b-8b21-4a33-9e5f-4e1b7a01c9d4", Name: "Example Studio", Balance: 68200,
			Members: []autoretouchtest.Member{
				{ID: "auth0|demo-ada", GivenName: "Ada", FamilyName: "Example", Email: "ada@example.com", Roles: []string{"admin"}},
				{ID: "auth0|demo-grace", GivenName: "Grace", FamilyName: "Example", Email: "grace@example.com", Roles: []string{"operator"}},
			},
		},
		spendPerTick: 400, topUp: 50000,
	},
	{
		org: autoretouchtest.Organization{
			ID: "3b1f8e0a-5c6d-4e7f-8a9b-0c1d2e3f4a5b", Name: "Fashion Shop GmbH", Balance: 9000,
			Members: []autoretouchtest.Member{
				{ID: "auth0|demo-linus", GivenName: "Linus", FamilyName: "Example", Email: "linus@example.com", Roles: []string{"admin", "operator"}},
			},
		},
		spendPerTick: 150, topUp: 20000,
	},
	{
		org: autoretouchtest.Organization{
			ID: "c7d8e9f0-1a2b-4c3d-8e4f-5a6b7c8d9e0f", Name: "Café \"Ünïcødé\" 📷", Balance: 250000,
			Members: []autoretouchtest.Member{
				{ID: "auth0|demo-margaret", GivenName: "Margaret", FamilyName: "Example", Email: "margaret@example.com", Roles: []string{"admin"}},
				{ID: "auth0|demo-ken", GivenName: "Ken", FamilyName: "Example", Email: "ken@example.com", Roles: []string{"operator"}},
				{ID: "auth0|demo-barbara", GivenName: "Barbara", FamilyName: "Example", Email: "barbara@example.com", Roles: []string{"operator", "billing"}},
			},
		},
		spendPerTick: 30, topUp: 0,
	},
}

// sampleWorkflows have prices from a cheap background removal to an
// expensive manual retouch.
var sampleWorkflows = []autoretouchtest.Workflow{
	{ID: "5d0c7a1e-2f3b-4c5d-9e6f-7a8b9c0d1e2f", Name: "Packshot on white", ExecutionPrice: 10},
	{ID: "6e1d8b2f-3a4c-4d5e-8f7a-8b9c0d1e2f3a", Name: "On-model retouch", ExecutionPrice: 400},
}

func main() {
	app := kingpin.New("autoretouch_demo_api", "Fake AutoRetouch API with sample organizations whose balances drain, for demos and tests.")
	listenAddress := app.Flag("listen-address", "Address to serve the fake API on.").Default("127.0.0.1:8080").String()
	token := app.Flag("token", "Access token the fake API accepts.").Default("demo-token").String()
	tick := app.Flag("tick", "Interval between two rounds of spending.").Default("5s").Duration()
	exporterPath := app.Flag("exporter", "Path of an autoretouch_exporter binary to run against the fake API.").PlaceHolder("PATH").String()
	exporterAddress := app.Flag("exporter.listen-address", "Address the exporter started with --exporter listens on.").Default("127.0.0.1:9867").String()
	kingpin.MustParse(app.Parse(os.Args[1:]))

	if err := run(*listenAddress, *token, *tick, *exporterPath, *exporterAddress); err != nil {
		fmt.Fprintf(os.Stderr, "autoretouch_demo_api: %v\n", err)
		os.Exit(1)
	}
}

func run(listenAddress, token string, tick time.Duration, exporterPath, exporterAddress string) error {
	if tick <= 0 {
		return fmt.Errorf("invalid --tick %s: use a positive duration such as 5s", tick)
	}
	listener, err := net.Listen("tcp", listenAddress)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listenAddress, err)
	}

	server := autoretouchtest.NewServerOnListener(listener)
	defer server.Close()
	server.AcceptToken(token, time.Time{})
	server.RevokeToken(autoretouchtest.DefaultToken)
	for _, sample := range sampleOrganizations {
		server.AddOrganization(sample.org)
		server.SetWorkflows(sample.org.ID, sampleWorkflows)
	}
	fmt.Printf("Fake AutoRetouch API on %s (access token %q)\n", server.URL, token)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go spend(ctx, server, tick)

	if exporterPath == "" {
		<-ctx.Done()
		return nil
	}
	return runExporter(ctx, exporterPath, exporterAddress, server.URL, token)
}

// spend takes a random part of each organization's spending rate every
// tick, and tops an organization up when its balance falls below zero.
func spend(ctx context.Context, server *autoretouchtest.Server, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}

		for _, sample := range sampleOrganizations {
			balance := server.AddCredits(sample.org.ID, -rand.Int64N(sample.spendPerTick+1))
			if balance < 0 && sample.topUp > 0 {
				server.AddCredits(sample.org.ID, sample.topUp)
			}
		}
	}
}

// runExporter runs the exporter against the fake API until ctx ends or the
// exporter exits.
func runExporter(ctx context.Context, path, listenAddress, apiURL, token string) error {
	cmd := exec.CommandContext(ctx, path,
		"--web.listen-address="+listenAddress,
		"--autoretouch.api-url="+apiURL,
	)
	cmd.Env = append(os.Environ(), "AUTORETOUCH_TOKEN="+token)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the exporter %s: %w", path, err)
	}
	fmt.Printf("Metrics: http://%s/metrics\n", listenAddress)

	err := cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the exporter exited: %w", err)
	}
	return nil
}
