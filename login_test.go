package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autoretouch/autoretouch_exporter/internal/testsupport"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
	"github.com/autoretouch/autoretouch_exporter/autoretouch/autoretouchtest"
)

// capturePrompt returns what printPrompt writes to standard output.
func capturePrompt(t *testing.T, prompt autoretouch.DevicePrompt) string {
	t.Helper()
	reader, writer, err := os.Pipe()
	if err != nil {
		t.Fatalf("creating a pipe: %v", err)
	}
	stdout := os.Stdout
	os.Stdout = writer
	printPrompt(prompt)
	os.Stdout = stdout
	_ = writer.Close()

	output, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("reading the prompt: %v", err)
	}
	return string(output)
}

func TestPrintPromptEscapesControlCharacters(t *testing.T) {
	cases := []struct {
		name string
		text string
		want string
	}{
		{"plain", "ABCD-EFGH", "ABCD-EFGH"},
		{"non-ASCII letters", "Café-Ünïcode", "Café-Ünïcode"},
		{"CSI clear screen", "AB\x1b[2JCD", `AB\x1b[2JCD`},
		{"OSC 8 hyperlink", "\x1b]8;;https://evil.example\x07X\x1b]8;;\x07", `\x1b]8;;https://evil.example\aX\x1b]8;;\a`},
		{"carriage return", "real\rfake", `real\rfake`},
		{"newline", "AB\nCD", `AB\nCD`},
		{"delete", "AB\x7fCD", `AB\x7fCD`},
		{"C1 CSI", "AB\u009b2JCD", `AB\u009b2JCD`},
		{"right-to-left override", "AB\u202eDC", `AB\u202eDC`},
		{"invalid UTF-8", "AB\xff\xfeCD", `AB\xff\xfeCD`},
		{"replacement character", "AB\uFFFDCD", "AB\uFFFDCD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for field, prompt := range map[string]autoretouch.DevicePrompt{
				"user code":        {VerificationURI: "https://auth.example/activate", UserCode: c.text},
				"complete URI":     {VerificationURIComplete: "https://auth.example/activate?code=" + c.text, UserCode: "X"},
				"verification URI": {VerificationURI: "https://auth.example/" + c.text, UserCode: "X"},
			} {
				output := capturePrompt(t, prompt)
				if !strings.Contains(output, c.want) {
					t.Errorf("%s %q: output does not contain %q:\n%s", field, c.text, c.want, output)
				}
				for _, r := range output {
					if r != '\n' && (r < ' ' || r == 0x7f || (0x80 <= r && r < 0xa0) || r == '\u202e') {
						t.Errorf("%s %q: output contains the control character %U:\n%q", field, c.text, r, output)
					}
				}
			}
		})
	}
}

// runLoginCommand runs the login command against auth, with path as the
// token file, and returns its standard output, standard error and exit
// error. onPrompt, when not nil, runs once the prompt is printed.
func runLoginCommand(t *testing.T, auth *autoretouchtest.AuthServer, path string, onPrompt func()) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exporterBinary, "login",
		"--autoretouch.api-url=http://"+testsupport.LoopbackAddress(t),
		"--autoretouch.auth-url="+auth.URL,
		"--autoretouch.client-id="+autoretouchtest.DefaultClientID,
		"--autoretouch.refresh-token-file="+path,
	)
	stderr := &testsupport.SyncBuffer{}
	cmd.Stderr = stderr
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("connecting to the login's output: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the login: %v", err)
	}

	var stdout strings.Builder
	scanner := bufio.NewScanner(stdoutPipe)
	for scanner.Scan() {
		stdout.WriteString(scanner.Text() + "\n")
		if onPrompt != nil && strings.Contains(scanner.Text(), "Waiting for confirmation") {
			onPrompt()
			onPrompt = nil
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the login did not end within 60s; output:\n%s%s", &stdout, stderr)
	}
	return stdout.String(), stderr.String(), err
}

func TestLoginRejectsUnwritableTokenPath(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		path    string
		want    []string
		prepare func(t *testing.T, path string)
		notWant string
	}{
		{name: "directory", path: dir, want: []string{dir, "is a directory", filepath.Join(dir, "refresh-token")}},
		{name: "named pipe", path: filepath.Join(dir, "pipe"), want: []string{filepath.Join(dir, "pipe"), "named pipe", "regular file"},
			prepare: func(t *testing.T, path string) {
				if _, err := exec.LookPath("mkfifo"); err != nil {
					t.Skip("no mkfifo command")
				}
				if output, err := exec.Command("mkfifo", path).CombinedOutput(); err != nil {
					t.Fatalf("mkfifo %s: %v\n%s", path, err, output)
				}
			}},
		{name: "missing directory", path: filepath.Join(dir, "missing", "refresh-token"), want: []string{filepath.Join(dir, "missing"), "does not exist"}, notWant: ".autoretouch-login"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newRefreshEnv(t, "unused")
			env.auth.SetDeviceFlow(autoretouchtest.DeviceFlow{Interval: 1, ExpiresIn: 60})
			if c.prepare != nil {
				c.prepare(t, c.path)
			}

			stdout, stderr, err := runLoginCommand(t, env.auth, c.path, nil)
			if err == nil {
				t.Errorf("login exited 0; output:\n%s%s", stdout, stderr)
			}
			if got := env.auth.Requests(autoretouchtest.RequestDeviceCode); got != 0 {
				t.Errorf("login requested %d device codes, want none before the path is checked", got)
			}
			for _, want := range c.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("error does not contain %q:\n%s", want, stderr)
				}
			}
			if c.notWant != "" && strings.Contains(stderr, c.notWant) {
				t.Errorf("error contains %q:\n%s", c.notWant, stderr)
			}
		})
	}
}

// TestLoginKeepsTokenWhenWriteFails makes the token file's path a directory
// while the login waits for confirmation, so that only the final rename
// fails, and checks that the granted token survives in the temporary file.
func TestLoginKeepsTokenWhenWriteFails(t *testing.T) {
	env := newRefreshEnv(t, "unused")
	env.auth.SetDeviceFlow(autoretouchtest.DeviceFlow{Interval: 1, ExpiresIn: 60, PendingPolls: 2})
	dir := t.TempDir()
	path := filepath.Join(dir, "refresh-token")

	stdout, stderr, err := runLoginCommand(t, env.auth, path, func() {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Errorf("creating a directory at the token path: %v", err)
		}
	})
	if err == nil {
		t.Fatalf("login exited 0 with a directory at the token path; output:\n%s%s", stdout, stderr)
	}

	keptFiles, _ := filepath.Glob(filepath.Join(dir, ".autoretouch-token-*"))
	if len(keptFiles) != 1 {
		t.Fatalf("temporary token files = %q, want one; output:\n%s%s", keptFiles, stdout, stderr)
	}
	if !strings.Contains(stderr, keptFiles[0]) {
		t.Errorf("error does not name the file that keeps the token, %s:\n%s", keptFiles[0], stderr)
	}
	info, err := os.Stat(keptFiles[0])
	if err != nil {
		t.Fatalf("stat %s: %v", keptFiles[0], err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("kept token file mode = %o, want 600", mode)
	}
	content, err := os.ReadFile(keptFiles[0])
	if err != nil {
		t.Fatalf("reading %s: %v", keptFiles[0], err)
	}
	token := strings.TrimSpace(string(content))
	if !env.auth.ValidRefreshToken(token) {
		t.Errorf("kept file does not contain a refresh token the fake granted")
	}
	if strings.Contains(stdout+stderr, token) {
		t.Errorf("login printed the refresh token:\n%s%s", stdout, stderr)
	}
}
