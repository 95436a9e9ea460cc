package autoretouch

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// racyWindow is how long after a file's modification time another write can
// leave the same time stamp, as on file systems with 1 s or 2 s time stamps.
// A token read within that window is reread on every call until the window
// has passed, so a same-size rewrite cannot hide behind an unchanged stat.
const racyWindow = 2 * time.Second

// SecretFile is a file that contains one token. It is reread whenever the
// path leads to another file, or the file's size or modification time
// changes. Kubernetes updates a mounted secret by swapping a symlink.
type SecretFile struct {
	path string

	mu    sync.Mutex
	value string
	// info is the file the value was read from, as stat saw it before the
	// read, or nil when stat failed.
	info   os.FileInfo
	readAt time.Time
	stale  bool
}

// NewSecretFile reads the file once, so that a wrong path fails at startup
// with an error that names it.
func NewSecretFile(path string) (*SecretFile, error) {
	f := &SecretFile{path: path}
	if _, err := f.Read(); err != nil {
		return nil, err
	}
	return f, nil
}

// Read returns the token in the file. When the file is missing or empty for
// a moment, as while a secret is being replaced, it returns the last token
// it read, and an error only when it never read one.
func (f *SecretFile) Read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	now := time.Now()
	info, statErr := os.Stat(f.path)
	if statErr != nil {
		info = nil
	}
	if f.unchanged(info) {
		return f.value, nil
	}

	value, err := ReadSecretFile(f.path)
	if err != nil {
		if f.value != "" {
			return f.value, nil
		}
		return "", err
	}

	f.value = value
	f.stale = false
	f.info = info
	f.readAt = now
	return f.value, nil
}

// unchanged reports whether info shows the same file, with the same size and
// modification time, that the cached value was read from, and whether that
// time is old enough that a later write would have changed it.
func (f *SecretFile) unchanged(info os.FileInfo) bool {
	if info == nil || f.info == nil || f.stale || f.value == "" {
		return false
	}
	return os.SameFile(info, f.info) &&
		info.ModTime().Equal(f.info.ModTime()) &&
		info.Size() == f.info.Size() &&
		info.ModTime().Before(f.readAt.Add(-racyWindow))
}

// Invalidate makes the next Read reread the file.
func (f *SecretFile) Invalidate() {
	f.mu.Lock()
	f.stale = true
	f.mu.Unlock()
}

// Write replaces the file's token. It writes a temporary file of mode 0600 in
// the same directory and renames it over the file, so that no reader sees a
// half-written token. It fails on a read-only mount such as a Kubernetes
// secret.
func (f *SecretFile) Write(token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()

	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".token-*")
	if err != nil {
		return fmt.Errorf("writing token file %q: %w", f.path, err)
	}
	defer os.Remove(tmp.Name())

	_, writeErr := tmp.WriteString(token + "\n")
	syncErr := tmp.Sync()
	closeErr := tmp.Close()
	for _, err := range []error{writeErr, syncErr, closeErr, os.Chmod(tmp.Name(), 0o600), os.Rename(tmp.Name(), f.path)} {
		if err != nil {
			return fmt.Errorf("writing token file %q: %w", f.path, err)
		}
	}

	f.value = token
	f.stale = true
	return nil
}

// RefreshToken returns the token in the file, so that a SecretFile is a
// RefreshTokenSource.
func (f *SecretFile) RefreshToken() (string, error) { return f.Read() }

// Describe names the file.
func (f *SecretFile) Describe() string { return "file " + f.path }

// EnvSecret is a token taken from an environment variable at startup.
type EnvSecret struct {
	Name  string
	Value string
}

// RefreshToken returns the value, so that an EnvSecret is a
// RefreshTokenSource.
func (e EnvSecret) RefreshToken() (string, error) { return e.Value, nil }

// Describe names the variable.
func (e EnvSecret) Describe() string { return "environment variable " + e.Name }
