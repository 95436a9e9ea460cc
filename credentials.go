package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/go-kit/log"

	"github.com/autoretouch/autoretouch_exporter/autoretouch"
)

// credentialSource is one place a token may come from.
type credentialSource struct {
	name  string
	value string
	isSet bool
}

// loadCredentials returns the credentials the configuration names, and a
// description of their source for the log that never contains a secret.
// Exactly one of the four sources must be set.
func loadCredentials(cfg *config, logger log.Logger, observe func(string, int, time.Duration)) (autoretouch.Credentials, string, error) {
	// A token pasted with a trailing newline or into quotes with spaces is
	// still the token.
	accessEnv, accessEnvSet := os.LookupEnv(envAccessToken)
	accessEnv = strings.TrimSpace(accessEnv)
	refreshEnv, refreshEnvSet := os.LookupEnv(envRefreshToken)
	refreshEnv = strings.TrimSpace(refreshEnv)
	access := []credentialSource{
		{name: "--autoretouch.token-file", value: cfg.tokenFile, isSet: cfg.tokenFile != ""},
		{name: envAccessToken, value: accessEnv, isSet: accessEnvSet},
	}
	refresh := []credentialSource{
		{name: "--autoretouch.refresh-token-file", value: cfg.refreshTokenFile, isSet: cfg.refreshTokenFile != ""},
		{name: envRefreshToken, value: refreshEnv, isSet: refreshEnvSet},
	}

	accessSet, refreshSet := setSources(access), setSources(refresh)
	switch {
	case len(accessSet) > 0 && len(refreshSet) > 0:
		return nil, "", fmt.Errorf("both an access token (%s) and a refresh token (%s) are given: drop the access token, because the refresh token renews access tokens by itself", strings.Join(accessSet, ", "), strings.Join(refreshSet, ", "))
	case len(accessSet) > 1:
		return nil, "", fmt.Errorf("both --autoretouch.token-file and %s are set: unset one of them", envAccessToken)
	case len(refreshSet) > 1:
		return nil, "", fmt.Errorf("both --autoretouch.refresh-token-file and %s are set: unset one of them", envRefreshToken)
	case len(refreshSet) == 1:
		return refreshCredentials(cfg, refresh, logger, observe)
	case len(accessSet) == 1:
		return accessCredentials(access)
	default:
		return nil, "", fmt.Errorf("no credentials: set --autoretouch.refresh-token-file or %s to a refresh token (see the login command), or --autoretouch.token-file or %s to an access token", envRefreshToken, envAccessToken)
	}
}

func setSources(sources []credentialSource) []string {
	var names []string
	for _, source := range sources {
		if source.isSet {
			names = append(names, source.name)
		}
	}
	return names
}

func accessCredentials(sources []credentialSource) (autoretouch.Credentials, string, error) {
	file, env := sources[0], sources[1]
	if file.isSet {
		tokenFile, err := autoretouch.NewTokenFile(file.value)
		if err != nil {
			return nil, "", tokenFileError(file, err)
		}
		return tokenFile, "access token file " + file.value, nil
	}

	if err := checkEnvToken(env, "an access token"); err != nil {
		return nil, "", err
	}
	return autoretouch.StaticToken(env.value), "access token in environment variable " + env.name, nil
}

func refreshCredentials(cfg *config, sources []credentialSource, logger log.Logger, observe func(string, int, time.Duration)) (autoretouch.Credentials, string, error) {
	file, env := sources[0], sources[1]

	var source autoretouch.RefreshTokenSource
	if file.isSet {
		secretFile, err := autoretouch.NewSecretFile(file.value)
		if err != nil {
			return nil, "", tokenFileError(file, err)
		}
		source = secretFile
	} else {
		if err := checkEnvToken(env, "a refresh token"); err != nil {
			return nil, "", err
		}
		source = autoretouch.EnvSecret{Name: env.name, Value: env.value}
	}

	credentials, err := autoretouch.NewRefreshCredentials(autoretouch.RefreshOptions{
		AuthURL:        cfg.authURL,
		ClientID:       cfg.clientID,
		Source:         source,
		UserAgent:      userAgent(),
		Logger:         logger,
		ObserveRequest: observe,
	})
	if err != nil {
		return nil, "", err
	}
	return credentials, "refresh token in " + source.Describe(), nil
}

// tokenFileError prefixes err, from reading the token file that source
// names, with the flag and the path, and adds what to check.
func tokenFileError(source credentialSource, err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("invalid %s %s: the file does not exist: check the path", source.name, source.value)
	case errors.As(err, &pathErr):
		return fmt.Errorf("invalid %s %s: reading the file failed: %w: check the path, and that the exporter's user may read the file", source.name, source.value, pathErr.Err)
	default:
		return fmt.Errorf("invalid %s %s: %w", source.name, source.value, err)
	}
}

// checkEnvToken rejects an environment variable that is empty, or has white
// space or control characters inside the token, which no token has. kind
// names the token for the message, which never contains the value.
func checkEnvToken(source credentialSource, kind string) error {
	if source.value == "" {
		return fmt.Errorf("%s is set but empty: set it to %s or unset it", source.name, kind)
	}
	if strings.IndexFunc(source.value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%s contains white space or control characters inside the token: set it to exactly one token", source.name)
	}
	return nil
}

// errNoRefreshTokenFile is returned by login without a file to write.
var errNoRefreshTokenFile = errors.New("login needs --autoretouch.refresh-token-file: the file to write the refresh token to")
