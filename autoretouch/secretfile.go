package autoretouch

import (
	"os"
	"sync"
	"time"
)

// secretFileMaxAge bounds how long a SecretFile trusts its modification
// time and size, because a file rewritten within the file system's timestamp
// granularity with a token of the same length shows neither change.
const secretFileMaxAge = time.Second

// SecretFile is a file that contains one token, reread whenever the file is
// replaced or its modification time or size changes, and at least every
// second. A Kubernetes secret update swaps the file behind a symlink.
type SecretFile struct {
	path string

	mu    sync.Mutex
	value string
	info  os.FileInfo
	read  time.Time
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

	info, statErr := os.Stat(f.path)
	unchanged := statErr == nil && f.info != nil && os.SameFile(info, f.info) &&
		info.ModTime().Equal(f.info.ModTime()) && info.Size() == f.info.Size()
	if f.value != "" && unchanged && time.Since(f.read) < secretFileMaxAge {
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
	f.read = time.Now()
	f.info = info
	return f.value, nil
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
