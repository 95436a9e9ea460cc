package autoretouchtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// DefaultClientID is the OAuth client id a new AuthServer accepts.
const DefaultClientID = "fake-client-id"

// Grant names, for AuthServer.Requests.
const (
	GrantRefreshToken = "refresh_token"
	GrantDeviceCode   = "urn:ietf:params:oauth:grant-type:device_code"
	RequestDeviceCode = "device_code_request"
)

// DeviceFlow sets how the fake responds to the device authorization grant.
type DeviceFlow struct {
	// Interval is the polling interval it requests, in seconds.
	Interval int
	// ExpiresIn is the device code's lifetime in seconds.
	ExpiresIn int
	// PendingPolls is how many polls get authorization_pending before the
	// login counts as confirmed.
	PendingPolls int
	// SlowDownPolls is how many of the polls after those get slow_down.
	SlowDownPolls int
	// NeverConfirm keeps every poll pending, until the device code expires.
	NeverConfirm bool
}

// AuthServer is a fake of AutoRetouch's OAuth server: the device code and
// token endpoints, issuing access tokens that its API Server accepts.
type AuthServer struct {
	// URL is the base URL, such as http://127.0.0.1:41235.
	URL string

	api        *Server
	httpServer *httptest.Server

	mu                 sync.Mutex
	refreshTokens      map[string]bool
	lifetime           time.Duration
	omitExpiresIn      bool
	rotate             bool
	invalidGrantStatus int
	deviceFlow         DeviceFlow
	devices            map[string]*deviceLogin
	requests           map[string]int
}

type deviceLogin struct {
	userCode string
	polls    int
	expiry   time.Time
}

// NewAuthServer starts a fake auth server on a random loopback port whose
// access tokens api accepts. The caller closes it.
func NewAuthServer(api *Server) *AuthServer {
	a := &AuthServer{
		api:                api,
		refreshTokens:      make(map[string]bool),
		lifetime:           24 * time.Hour,
		invalidGrantStatus: http.StatusForbidden,
		deviceFlow:         DeviceFlow{Interval: 1, ExpiresIn: 900},
		devices:            make(map[string]*deviceLogin),
		requests:           make(map[string]int),
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/device/code", a.serveDeviceCode)
	mux.HandleFunc("POST /oauth/token", a.serveToken)
	a.httpServer = httptest.NewServer(mux)
	a.URL = a.httpServer.URL
	return a
}

// Close shuts the server down.
func (a *AuthServer) Close() { a.httpServer.Close() }

// AddRefreshToken makes the server accept a refresh token.
func (a *AuthServer) AddRefreshToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshTokens[token] = true
}

// RevokeRefreshToken makes the server reject a refresh token with invalid_grant.
func (a *AuthServer) RevokeRefreshToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.refreshTokens, token)
}

// ValidRefreshToken reports whether the server accepts token.
func (a *AuthServer) ValidRefreshToken(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refreshTokens[token]
}

// SetAccessTokenLifetime sets the expires_in of new access tokens, rounded
// down to whole seconds as the field is, and at least one second.
func (a *AuthServer) SetAccessTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = max(d.Truncate(time.Second), time.Second)
}

// SetOmitExpiresIn leaves expires_in out of token responses.
func (a *AuthServer) SetOmitExpiresIn(omit bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.omitExpiresIn = omit
}

// SetRotateRefreshTokens makes every renewal return a new refresh token and
// revoke the one it was given.
func (a *AuthServer) SetRotateRefreshTokens(rotate bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rotate = rotate
}

// SetInvalidGrantStatus sets the HTTP status of invalid_grant errors; the
// real server's is not documented, and 400 and 403 are both plausible.
func (a *AuthServer) SetInvalidGrantStatus(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalidGrantStatus = status
}

// SetDeviceFlow replaces how the device authorization grant behaves.
func (a *AuthServer) SetDeviceFlow(flow DeviceFlow) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deviceFlow = flow
}

// Requests returns how many requests of a kind arrived: a grant type such
// as GrantRefreshToken, or RequestDeviceCode.
func (a *AuthServer) Requests(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[kind]
}

func (a *AuthServer) serveDeviceCode(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests[RequestDeviceCode]++
	flow := a.deviceFlow
	a.mu.Unlock()

	if r.PostFormValue("client_id") != DefaultClientID {
		writeOAuthError(w, http.StatusUnauthorized, "unauthorized_client", "Unknown client.")
		return
	}

	deviceCode, userCode := randomToken("device-"), randomToken("")[:8]
	a.mu.Lock()
	a.devices[deviceCode] = &deviceLogin{userCode: userCode, expiry: time.Now().Add(time.Duration(flow.ExpiresIn) * time.Second)}
	a.mu.Unlock()

	verification := a.URL + "/activate"
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               deviceCode,
		"user_code":                 userCode,
		"verification_uri":          verification,
		"verification_uri_complete": verification + "?user_code=" + userCode,
		"expires_in":                flow.ExpiresIn,
		"interval":                  flow.Interval,
	})
}

func (a *AuthServer) serveToken(w http.ResponseWriter, r *http.Request) {
	grant := r.PostFormValue("grant_type")

	a.mu.Lock()
	a.requests[grant]++
	a.mu.Unlock()

	if r.PostFormValue("client_id") != DefaultClientID {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Unknown client.")
		return
	}
	if _, _, ok := r.BasicAuth(); ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The public client has no secret.")
		return
	}

	switch grant {
	case GrantRefreshToken:
		a.serveRefresh(w, r.PostFormValue("refresh_token"))
	case GrantDeviceCode:
		a.serveDevicePoll(w, r.PostFormValue("device_code"))
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type: "+grant)
	}
}

func (a *AuthServer) serveRefresh(w http.ResponseWriter, refreshToken string) {
	a.mu.Lock()
	valid := a.refreshTokens[refreshToken]
	status := a.invalidGrantStatus
	rotate := a.rotate
	newRefresh := ""
	if valid && rotate {
		delete(a.refreshTokens, refreshToken)
		newRefresh = randomToken("refresh-")
		a.refreshTokens[newRefresh] = true
	}
	a.mu.Unlock()

	if !valid {
		writeOAuthError(w, status, "invalid_grant", "Unknown or invalid refresh token.")
		return
	}
	a.writeTokens(w, newRefresh)
}

func (a *AuthServer) serveDevicePoll(w http.ResponseWriter, deviceCode string) {
	a.mu.Lock()
	login, ok := a.devices[deviceCode]
	flow := a.deviceFlow
	var polls int
	if ok {
		login.polls++
		polls = login.polls
	}
	a.mu.Unlock()

	switch {
	case !ok:
		writeOAuthError(w, http.StatusForbidden, "invalid_grant", "Invalid or expired device code.")
	case time.Now().After(login.expiry):
		writeOAuthError(w, http.StatusForbidden, "expired_token", "The device code has expired.")
	case flow.NeverConfirm || polls <= flow.PendingPolls:
		writeOAuthError(w, http.StatusForbidden, "authorization_pending", "User has yet to authorize device code.")
	case polls <= flow.PendingPolls+flow.SlowDownPolls:
		writeOAuthError(w, http.StatusTooManyRequests, "slow_down", "You are polling faster than allowed.")
	default:
		refreshToken := randomToken("refresh-")
		a.mu.Lock()
		delete(a.devices, deviceCode)
		a.refreshTokens[refreshToken] = true
		a.mu.Unlock()
		a.writeTokens(w, refreshToken)
	}
}

// writeTokens issues an access token that the API accepts until it
// expires, with refreshToken when it is not empty.
func (a *AuthServer) writeTokens(w http.ResponseWriter, refreshToken string) {
	a.mu.Lock()
	lifetime := a.lifetime
	omitExpiresIn := a.omitExpiresIn
	a.mu.Unlock()

	accessToken := randomToken("access-")
	a.api.AcceptToken(accessToken, time.Now().Add(lifetime))

	body := map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"scope":        "offline_access",
	}
	if !omitExpiresIn {
		body["expires_in"] = int(lifetime / time.Second)
	}
	if refreshToken != "" {
		body["refresh_token"] = refreshToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func randomToken(prefix string) string {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	return prefix + hex.EncodeToString(buf)
}
