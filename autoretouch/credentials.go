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

// ReadSecretFile returns the trimmed content of a file that holds one token.
// The error names the path, never the content.
func ReadSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}

	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("token file %q is empty: write the token into it", path)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("token file %q contains white space inside the token: it must contain exactly one token", path)
	}
	return token, nil
}
