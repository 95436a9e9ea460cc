package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
	accessEnv, accessEnvSet := os.LookupEnv(envAccessToken)
	refreshEnv, refreshEnvSet := os.LookupEnv(envRefreshToken)
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
			return nil, "", err
		}
		return tokenFile, "access token file " + file.value, nil
	}

	if env.value == "" {
		return nil, "", fmt.Errorf("%s is set but empty: set it to an access token or unset it", env.name)
	}
	return autoretouch.StaticToken(env.value), "access token in environment variable " + env.name, nil
}

func refreshCredentials(cfg *config, sources []credentialSource, logger log.Logger, observe func(string, int, time.Duration)) (autoretouch.Credentials, string, error) {
	file, env := sources[0], sources[1]

	var source autoretouch.RefreshTokenSource
	if file.isSet {
		secretFile, err := autoretouch.NewSecretFile(file.value)
		if err != nil {
			return nil, "", err
		}
		source = secretFile
	} else {
		if env.value == "" {
			return nil, "", fmt.Errorf("%s is set but empty: set it to a refresh token or unset it", env.name)
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

// errNoRefreshTokenFile is returned by login without a file to write.
var errNoRefreshTokenFile = errors.New("login needs --autoretouch.refresh-token-file: the file to write the refresh token to")
