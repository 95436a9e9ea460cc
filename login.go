package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// runLogin runs the OAuth device flow and writes the refresh token it grants
// to --autoretouch.refresh-token-file. It prints the verification URL and the
// user code, never the token.
func runLogin(cfg *config) int {
	if cfg.refreshTokenFile == "" {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, errNoRefreshTokenFile)
		return 2
	}
	if err := checkWritableDir(cfg.refreshTokenFile); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	token, err := autoretouch.DeviceLogin(ctx, cfg.authURL, cfg.clientID, nil, printPrompt)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: login failed: %v\n", programName, err)
		return 1
	}

	if err := writeSecretFile(cfg.refreshTokenFile, token); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", programName, err)
		return 1
	}
	fmt.Printf("Logged in. Wrote the refresh token to %s (mode 0600).\n", cfg.refreshTokenFile)
	return 0
}

func printPrompt(prompt autoretouch.DevicePrompt) {
	fmt.Println("To let the exporter read your organizations, open this page in a browser:")
	if prompt.VerificationURIComplete != "" {
		fmt.Printf("\n    %s\n\n", prompt.VerificationURIComplete)
	} else {
		fmt.Printf("\n    %s\n\n", prompt.VerificationURI)
	}
	fmt.Printf("and check that it shows the code %s.\n", prompt.UserCode)
	if !prompt.Expiry.IsZero() {
		fmt.Printf("The code expires at %s. Waiting for confirmation...\n", prompt.Expiry.Local().Format(time.Kitchen))
	}
}

// checkWritableDir fails before the login starts when the token could not be
// written afterwards, so that nobody confirms a login for nothing.
func checkWritableDir(path string) error {
	probe, err := os.CreateTemp(filepath.Dir(path), ".autoretouch-login-*")
	if err != nil {
		return fmt.Errorf("cannot write the refresh token file %s: %w", path, err)
	}
	name := probe.Name()
	_ = probe.Close()
	return os.Remove(name)
}

// writeSecretFile replaces path with a file of mode 0600 that contains
// value. It writes a temporary file and renames it, so that a reader such as
// a running exporter never sees a half-written token.
func writeSecretFile(path, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".autoretouch-token-*")
	if err != nil {
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())

	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	return nil
}
