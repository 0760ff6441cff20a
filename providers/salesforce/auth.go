package salesforce

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// jwtLifetime is the validity of a JWT bearer assertion; Salesforce
// refuses assertions that expire more than three minutes ahead.
const jwtLifetime = 3 * time.Minute

// Grant types of the OAuth 2.0 token endpoint.
const (
	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// token is an access token and the instance it is valid for.
type token struct {
	access   string
	instance *url.URL
	// expires is zero when the answer named no lifetime: Salesforce's
	// token endpoint usually does not (a session lasts as long as the
	// org's session timeout says), so such a token is kept until an API
	// call answers 401.
	expires time.Time
	// identity is the identity URL the token endpoint named with the
	// token (its "id"): https://<login host>/id/<org ID>/<user ID>, the
	// user the token acts as. It is checked only when needed (userID), so
	// an org that answers an odd one can still grant.
	identity string
}

// userID returns the ID of the user the token acts as, read from the
// identity URL.
//
// API docs: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm
func (t *token) userID() (string, error) {
	u, err := url.Parse(t.identity)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errMalformedIdentity
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "id" || !validID(parts[1]) || !strings.HasPrefix(parts[1], "00D") ||
		!validID(parts[2]) || !strings.HasPrefix(parts[2], "005") {
		return "", errMalformedIdentity
	}
	return parts[2], nil
}

// errMalformedIdentity is the failure of userID. The identity URL is left
// out: it is not a secret, but an odd answer is best not repeated.
var errMalformedIdentity = &apiError{msg: `POST /services/oauth2/token: the answer's "id" is not an identity URL like https://login.salesforce.com/id/<org ID>/<user ID>, so the integration user is unknown`}

// authenticator gets and caches access tokens. It is safe for concurrent
// use; concurrent callers wait for one token request.
type authenticator struct {
	tokenURL string
	// loginScheme is the scheme of the login URL: the instance URL the
	// token endpoint names must use https unless the login URL does not
	// (a local test server), so a token never travels in clear text to a
	// host the operator did not choose.
	loginScheme string
	clientID    string
	secret      string          // client credentials flow
	username    string          // JWT bearer flow
	key         *rsa.PrivateKey // JWT bearer flow
	audience    string
	client      *http.Client
	now         func() time.Time

	mu  sync.Mutex
	tok *token
}

// get returns a valid token, requesting one when none is cached.
func (a *authenticator) get(ctx context.Context) (*token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && (a.tok.expires.IsZero() || a.now().Before(a.tok.expires)) {
		return a.tok, nil
	}
	tok, err := a.request(ctx)
	if err != nil {
		return nil, err
	}
	a.tok = tok
	return tok, nil
}

// invalidate forgets tok after an API call refused it, unless another
// caller already replaced it.
func (a *authenticator) invalidate(tok *token) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok == tok {
		a.tok = nil
	}
}

// tokenResponse is the token endpoint's answer, success or failure.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	// ID is the identity URL of the user the token acts as.
	ID        string `json:"id"`
	TokenType string `json:"token_type"`
	// ExpiresIn is not sent by every Salesforce org; honoured when present.
	ExpiresIn        json.Number `json:"expires_in"`
	Error            string      `json:"error"`
	ErrorDescription string      `json:"error_description"`
}

// request asks the token endpoint for a new access token.
//
// API docs: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
//
// API docs: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
func (a *authenticator) request(ctx context.Context) (*token, error) {
	form := url.Values{}
	if a.key != nil {
		assertion, err := a.assertion()
		if err != nil {
			return nil, err
		}
		form.Set("grant_type", grantJWTBearer)
		form.Set("assertion", assertion)
	} else {
		form.Set("grant_type", grantClientCredentials)
		form.Set("client_id", a.clientID)
		form.Set("client_secret", a.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &apiError{msg: "token request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, networkError("POST /services/oauth2/token", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, networkError("POST /services/oauth2/token", err)
	}
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("POST /services/oauth2/token: %s", statusText(resp.StatusCode))
		if jerr == nil && tr.Error != "" {
			msg += ": " + tr.Error
			if tr.ErrorDescription != "" {
				msg += ": " + tr.ErrorDescription
			}
		}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, transient(&apiError{msg: msg, status: resp.StatusCode})
		}
		return nil, &apiError{msg: msg + " — " + a.hint(), status: resp.StatusCode}
	}
	if jerr != nil || tr.AccessToken == "" || tr.InstanceURL == "" {
		return nil, &apiError{msg: "POST /services/oauth2/token: the answer has no access_token or instance_url"}
	}
	inst, err := url.Parse(tr.InstanceURL)
	if err != nil || inst.Host == "" || inst.User != nil || (inst.Scheme != "https" && inst.Scheme != a.loginScheme) {
		return nil, &apiError{msg: "POST /services/oauth2/token: the answer's instance_url is not an https URL"}
	}
	inst.Path, inst.RawPath, inst.RawQuery, inst.Fragment = "", "", "", ""
	tok := &token{access: tr.AccessToken, instance: inst, identity: tr.ID}
	if s, err := tr.ExpiresIn.Int64(); err == nil && s > 0 {
		// A minute early, so a call never starts with a token about to lapse.
		tok.expires = a.now().Add(time.Duration(s)*time.Second - time.Minute)
	}
	return tok, nil
}

// hint says what to check when the token endpoint refuses the credentials.
func (a *authenticator) hint() string {
	if a.key != nil {
		return fmt.Sprintf("check %s, %s, %s (the certificate uploaded to the connected app must match it) and that the user is pre-authorized for the connected app",
			envClientID, envUsername, envPrivateKeyFile)
	}
	return fmt.Sprintf("check %s, %s and %s (the client credentials flow needs the My Domain URL and a Run As user on the connected app)",
		envLoginURL, envClientID, envClientSecret)
}

// assertion builds the RS256-signed JWT of the JWT bearer flow: iss is the
// connected app's consumer key, sub the integration user, aud the login
// server. It is built with the standard library: the format is three
// base64url segments and one PKCS #1 v1.5 signature.
func (a *authenticator) assertion() (string, error) {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
	}{a.clientID, a.username, a.audience, a.now().Add(jwtLifetime).Unix()})
	if err != nil {
		return "", err
	}
	signing := header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", &apiError{msg: "sign the JWT assertion: " + err.Error()}
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// parsePrivateKey reads an RSA private key in PEM, PKCS #1 or PKCS #8.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS #1 or PKCS #8 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key (the JWT bearer flow signs with RS256)")
	}
	return rk, nil
}

// audienceFor is the aud claim for a login URL. Salesforce expects the
// login server, not a My Domain: https://login.salesforce.com for
// production and developer orgs, https://test.salesforce.com for sandboxes.
// Any other host (an Experience Cloud site, a test server) is used as is.
func audienceFor(login *url.URL) string {
	host := strings.ToLower(login.Hostname())
	switch {
	case strings.HasSuffix(host, ".sandbox.my.salesforce.com"), host == "test.salesforce.com":
		return "https://test.salesforce.com"
	case strings.HasSuffix(host, ".my.salesforce.com"), host == "login.salesforce.com":
		return "https://login.salesforce.com"
	}
	return strings.TrimSuffix(login.String(), "/")
}
