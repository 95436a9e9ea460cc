package autoretouch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Credentials supply the access token sent as "Authorization: Bearer" with
// every API request.
type Credentials interface {
	// AccessToken returns the token for the next request.
	AccessToken(ctx context.Context) (string, error)
	// Invalidate reports that the API rejected token with 401, so that the
	// next AccessToken call renews or rereads it before returning a token.
	Invalidate(token string)
}

// StaticToken is an access token that never changes, such as one taken from
// an environment variable.
type StaticToken string

// AccessToken returns the token, or an error when it is empty.
func (t StaticToken) AccessToken(context.Context) (string, error) {
	if t == "" {
		return "", errors.New("the access token is empty")
	}
	return string(t), nil
}

// Invalidate does nothing, because a static token has no way to renew.
func (StaticToken) Invalidate(string) {}

// TokenFile reads an access token from a file and rereads it whenever the
// file changes, so that a rotated Kubernetes secret is used by the next
// request without a restart.
type TokenFile struct {
	file *SecretFile
}

// NewTokenFile reads the token once, so that a wrong path fails at startup
// with an error that names it.
func NewTokenFile(path string) (*TokenFile, error) {
	file, err := NewSecretFile(path)
	if err != nil {
		return nil, err
	}
	return &TokenFile{file: file}, nil
}

// AccessToken returns the token in the file. When the file is missing or
// empty for a moment, as it is while a secret is being replaced, it returns
// the last token it read.
func (f *TokenFile) AccessToken(context.Context) (string, error) {
	return f.file.Read()
}

// Invalidate makes the next AccessToken call reread the file.
func (f *TokenFile) Invalidate(string) {
	f.file.Invalidate()
}

// maxSecretFileSize bounds a token file. JWT access tokens are about 1 KiB
// and refresh tokens far less, so a larger file is a wrong path.
const maxSecretFileSize = 16 << 10

// ReadSecretFile returns the trimmed content of a regular file that holds one
// token. It rejects other files, such as a FIFO that would block or a device
// that never ends, files over 16 KiB, and content that is not one token of
// printable ASCII. The error names the path, never the content.
func ReadSecretFile(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w: check the path", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("token file %q is not a regular file: point to the file that contains the token", path)
	}
	if info.Size() > maxSecretFileSize {
		return "", fmt.Errorf("token file %q has %d bytes, more than a token's %d: point to the file that contains only the token", path, info.Size(), maxSecretFileSize)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w: check the path and its permissions", err)
	}
	return ParseToken(string(data), fmt.Sprintf("token file %q", path))
}

// ParseToken trims white space and a UTF-8 byte order mark around a token,
// and rejects an empty token or one with characters other than printable
// ASCII, which could never be sent in an Authorization header. source names
// where the token came from, for the error; the token is never part of it.
func ParseToken(raw, source string) (string, error) {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "\uFEFF"))
	if token == "" {
		return "", fmt.Errorf("%s is empty: write the token into it", source)
	}
	for _, r := range token {
		if r < 0x21 || r > 0x7e {
			return "", fmt.Errorf("%s contains white space, a control character or a non-ASCII character inside the token: it must contain exactly one token", source)
		}
	}
	return token, nil
}
