package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

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
	if err := checkTokenFileWritable(cfg.refreshTokenFile); err != nil {
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

// printPrompt prints the verification URL and the user code. Both come from
// the auth server, so their control characters are escaped, because an
// escape sequence could clear the screen or show a link that leads elsewhere.
func printPrompt(prompt autoretouch.DevicePrompt) {
	fmt.Println("To let the exporter read your organizations, open this page in a browser:")
	if prompt.VerificationURIComplete != "" {
		fmt.Printf("\n    %s\n\n", escapeControlCharacters(prompt.VerificationURIComplete))
	} else {
		fmt.Printf("\n    %s\n\n", escapeControlCharacters(prompt.VerificationURI))
	}
	fmt.Printf("and check that it shows the code %s.\n", escapeControlCharacters(prompt.UserCode))
	if !prompt.Expiry.IsZero() {
		fmt.Printf("The code expires at %s. Waiting for confirmation...\n", prompt.Expiry.Local().Format(time.Kitchen))
	}
}

// escapeControlCharacters replaces control characters (C0, DEL and C1),
// Unicode format characters such as the bidirectional overrides, and bytes
// that are not UTF-8 with Go escapes such as \x1b or \u202e, so that a
// terminal shows them instead of acting on them.
func escapeControlCharacters(s string) string {
	var out strings.Builder
	for i, r := range s {
		_, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&out, `\x%02x`, s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			quoted := strconv.QuoteRuneToASCII(r)
			out.WriteString(quoted[1 : len(quoted)-1])
		default:
			out.WriteRune(r)
		}
	}
	return out.String()
}

// checkTokenFileWritable fails when the token could not be written to path
// after the login: when path exists and is not a regular file, or its
// directory is missing or not writable. runLogin calls it before the login
// starts, so that no one confirms a login whose token cannot be written.
func checkTokenFileWritable(path string) error {
	info, err := os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		return fmt.Errorf("--autoretouch.refresh-token-file %s is a directory: name a file, such as %s", path, filepath.Join(path, "refresh-token"))
	case err == nil && !info.Mode().IsRegular():
		return fmt.Errorf("--autoretouch.refresh-token-file %s is a %s, not a regular file: name a regular file, or remove %s first", path, fileTypeName(info.Mode()), path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("checking --autoretouch.refresh-token-file %s failed: %w: check the path", path, err)
	}

	dir := filepath.Dir(path)
	probe, err := os.CreateTemp(dir, ".autoretouch-login-*")
	if err != nil {
		// The error names the probe file, which the user never asked for,
		// so only its cause is kept.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the directory %s of --autoretouch.refresh-token-file %s does not exist: create it, or name a file in an existing directory", dir, path)
		}
		return fmt.Errorf("cannot create a file in the directory %s of --autoretouch.refresh-token-file %s: %w: run login as a user who may write there, or name a file in another directory", dir, path, err)
	}
	name := probe.Name()
	_ = probe.Close()
	return os.Remove(name)
}

// fileTypeName names the type of a file that is neither regular nor a
// directory.
func fileTypeName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	default:
		return "special file"
	}
}

// writeSecretFile replaces path with a file of mode 0600 that contains
// value. It writes a temporary file and renames it, so that a reader such as
// a running exporter never sees a half-written token. When a step after the
// token was written fails, it keeps the temporary file and names it in the
// error, because the login that granted the token cannot be repeated
// without the user.
func writeSecretFile(path, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".autoretouch-token-*")
	if err != nil {
		return fmt.Errorf("writing the refresh token file %s: %w", path, err)
	}
	name := tmp.Name()

	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(value + "\n")
	}
	if err != nil {
		_ = tmp.Close()
		_ = os.Remove(name)
		return fmt.Errorf("writing the refresh token file %s: %w: fix the cause and run login again", path, err)
	}

	err = tmp.Sync()
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		return fmt.Errorf("writing the refresh token file %s failed: %w. The refresh token is kept in %s (mode 0600): move that file where the exporter reads it, or pass its path to --autoretouch.refresh-token-file", path, err, name)
	}
	return nil
}
