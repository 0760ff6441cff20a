package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// Name is the provider's name in the policy (provider: salesforce) and the
// key of its identities.
const Name = "salesforce"

// Defaults.
const (
	DefaultLoginURL   = "https://login.salesforce.com"
	DefaultAPIVersion = "60.0"
	// DefaultTimeout bounds one HTTP attempt when Config.HTTPClient is nil.
	DefaultTimeout = 30 * time.Second
)

// Environment variables, for configuration errors and the package doc.
const (
	envLoginURL         = "ACCESSBOT_SALESFORCE_LOGIN_URL"
	envClientID         = "ACCESSBOT_SALESFORCE_CLIENT_ID"
	envClientSecret     = "ACCESSBOT_SALESFORCE_CLIENT_SECRET"
	envClientSecretFile = "ACCESSBOT_SALESFORCE_CLIENT_SECRET_FILE"
	envUsername         = "ACCESSBOT_SALESFORCE_USERNAME"
	envPrivateKeyFile   = "ACCESSBOT_SALESFORCE_PRIVATE_KEY_FILE"
	envAudience         = "ACCESSBOT_SALESFORCE_AUDIENCE"
	envAPIVersion       = "ACCESSBOT_SALESFORCE_API_VERSION"
)

// Config says how to reach and authenticate to Salesforce. Two OAuth 2.0
// flows are supported, and exactly one must be configured:
//
//   - client credentials: ClientID and ClientSecret (or ClientSecretFile);
//     the connected app's "Run As" user is the integration user.
//   - JWT bearer: ClientID, Username and PrivateKeyFile; the certificate of
//     the key is uploaded to the connected app, and Username is the
//     integration user.
type Config struct {
	// LoginURL is the authorization server (ACCESSBOT_SALESFORCE_LOGIN_URL):
	// https://login.salesforce.com, https://test.salesforce.com for a
	// sandbox, or the org's My Domain URL (which the client credentials
	// flow requires). Empty means DefaultLoginURL.
	LoginURL string
	// ClientID is the connected app's consumer key
	// (ACCESSBOT_SALESFORCE_CLIENT_ID).
	ClientID string
	// ClientSecret is the consumer secret
	// (ACCESSBOT_SALESFORCE_CLIENT_SECRET), or ClientSecretFile the file
	// holding it (ACCESSBOT_SALESFORCE_CLIENT_SECRET_FILE); surrounding
	// white space in the file is ignored.
	ClientSecret     string
	ClientSecretFile string
	// Username (ACCESSBOT_SALESFORCE_USERNAME) and PrivateKeyFile
	// (ACCESSBOT_SALESFORCE_PRIVATE_KEY_FILE, PEM, RSA) configure the JWT
	// bearer flow.
	Username       string
	PrivateKeyFile string
	// Audience overrides the JWT's aud claim
	// (ACCESSBOT_SALESFORCE_AUDIENCE); by default it is derived from
	// LoginURL: https://login.salesforce.com for a production My Domain,
	// https://test.salesforce.com for a sandbox one.
	Audience string
	// APIVersion is the REST API version (ACCESSBOT_SALESFORCE_API_VERSION),
	// like "60.0"; empty means DefaultAPIVersion.
	APIVersion string
	// HTTPClient, when set, supplies the transport and the per-attempt
	// timeout. Default: http.DefaultTransport with DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock for JWT expiry and token lifetimes; time.Now if nil.
	Now func() time.Time
}

// Provider assigns Salesforce permission sets and permission set groups.
// It is safe for concurrent use.
type Provider struct {
	auth    *authenticator
	client  *http.Client
	version string
	// secret is the client secret, removed from every error as a second
	// line of defence (no error is built from it in the first place).
	secret string
}

var (
	_ approvals.Provider     = (*Provider)(nil)
	_ approvals.HolderLister = (*Provider)(nil)
)

var versionPattern = regexp.MustCompile(`^[0-9]{2,3}\.0$`)

// New returns a provider for cfg. It reads the secret and key files but
// makes no request: bad credentials show up as permanent errors on the
// first call.
func New(cfg Config) (*Provider, error) {
	jwtFlow := cfg.Username != "" || cfg.PrivateKeyFile != ""
	secretFlow := cfg.ClientSecret != "" || cfg.ClientSecretFile != ""
	var missing []string
	if cfg.ClientID == "" {
		missing = append(missing, envClientID)
	}
	switch {
	case jwtFlow && secretFlow:
		return nil, fmt.Errorf("salesforce: configure either the client credentials flow (%s) or the JWT bearer flow (%s, %s), not both",
			envClientSecret, envUsername, envPrivateKeyFile)
	case !jwtFlow && !secretFlow:
		return nil, fmt.Errorf("salesforce: no credentials: set %s and %s (client credentials flow), or %s, %s and %s (JWT bearer flow)",
			envClientID, envClientSecret, envClientID, envUsername, envPrivateKeyFile)
	case cfg.ClientSecret != "" && cfg.ClientSecretFile != "":
		return nil, fmt.Errorf("salesforce: set %s or %s, not both", envClientSecret, envClientSecretFile)
	case jwtFlow:
		if cfg.Username == "" {
			missing = append(missing, envUsername)
		}
		if cfg.PrivateKeyFile == "" {
			missing = append(missing, envPrivateKeyFile)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("salesforce: incomplete configuration: set %s", strings.Join(missing, ", "))
	}

	raw := cfg.LoginURL
	if raw == "" {
		raw = DefaultLoginURL
	}
	login, err := url.Parse(raw)
	if err != nil || (login.Scheme != "https" && login.Scheme != "http") || login.Host == "" || login.User != nil {
		return nil, fmt.Errorf("salesforce: %s must be an absolute https URL like %s or https://acme.my.salesforce.com", envLoginURL, DefaultLoginURL)
	}
	login.Path, login.RawPath, login.RawQuery, login.Fragment = "", "", "", ""

	version := strings.TrimPrefix(cfg.APIVersion, "v")
	if version == "" {
		version = DefaultAPIVersion
	}
	if !versionPattern.MatchString(version) {
		return nil, fmt.Errorf("salesforce: %s %q is not an API version like %s", envAPIVersion, cfg.APIVersion, DefaultAPIVersion)
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	// Never follow a redirect: a bearer token must go only to the instance
	// the token endpoint named, and the token endpoint is not redirected.
	client := &http.Client{Transport: hc.Transport, Timeout: hc.Timeout, Jar: hc.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &authenticator{
		tokenURL:    login.String() + "/services/oauth2/token",
		loginScheme: login.Scheme,
		clientID:    cfg.ClientID,
		client:      client,
		now:         now,
	}
	p := &Provider{auth: a, client: client, version: "v" + version}
	if jwtFlow {
		data, err := os.ReadFile(cfg.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("salesforce: read %s: %w", envPrivateKeyFile, err)
		}
		key, err := parsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("salesforce: %s %s: %v", envPrivateKeyFile, cfg.PrivateKeyFile, err)
		}
		a.username, a.key = cfg.Username, key
		a.audience = cfg.Audience
		if a.audience == "" {
			a.audience = audienceFor(login)
		}
	} else {
		secret := cfg.ClientSecret
		if cfg.ClientSecretFile != "" {
			data, err := os.ReadFile(cfg.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("salesforce: read %s: %w", envClientSecretFile, err)
			}
			secret = strings.TrimSpace(string(data))
			if secret == "" {
				return nil, fmt.Errorf("salesforce: %s %s is empty", envClientSecretFile, cfg.ClientSecretFile)
			}
		}
		a.secret, p.secret = secret, secret
	}
	return p, nil
}

// Name returns "salesforce".
func (p *Provider) Name() string { return Name }

// call makes one REST call to the instance, under /services/data/vXX.X
// unless path is absolute (a nextRecordsUrl), and decodes a 2xx answer
// into out (when not nil). A 401 drops the token and the call is made
// once more with a new one.
func (p *Provider) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	if !strings.HasPrefix(path, "/services/") {
		path = "/services/data/" + p.version + path
	}
	for attempt := 0; ; attempt++ {
		tok, err := p.auth.get(ctx)
		if err != nil {
			return err
		}
		status, data, err := p.do(ctx, tok, method, path, query, body)
		if err != nil {
			return err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			p.auth.invalidate(tok)
			continue
		}
		if status < 200 || status > 299 {
			code, msg := errorBody(data)
			return classifyAPI(&APIError{Method: method, Path: path, Status: status, Code: code, Message: msg})
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return &apiError{msg: fmt.Sprintf("%s %s: cannot decode the answer: %v", method, path, err)}
			}
		}
		return nil
	}
}

// do sends one request and reads the answer.
func (p *Provider) do(ctx context.Context, tok *token, method, path string, query url.Values, body any) (int, []byte, error) {
	u := *tok.instance
	u.Path = path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, &apiError{msg: method + " " + path + ": " + cause(err)}
	}
	req.Header.Set("Authorization", "Bearer "+tok.access)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, networkError(method+" "+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, networkError(method+" "+path, err)
	}
	return resp.StatusCode, data, nil
}

// fail prefixes err with the provider's name, adds a hint to a permanent
// failure and removes the secret, keeping the classification.
func (p *Provider) fail(err error) error {
	if err == nil {
		return nil
	}
	var te *approvals.TransientError
	retry := errors.As(err, &te)
	inner := withHint(err)
	if retry {
		inner = te.Err
	}
	msg := "salesforce: " + inner.Error()
	if p.secret != "" {
		msg = strings.ReplaceAll(msg, p.secret, "[redacted]")
	}
	e := &apiError{msg: msg, cause: inner}
	if retry {
		return &approvals.TransientError{Err: e, RetryAfter: te.RetryAfter}
	}
	return e
}

// queryResult is the answer of /query and of a nextRecordsUrl.
type queryResult struct {
	TotalSize      int               `json:"totalSize"`
	Done           bool              `json:"done"`
	NextRecordsURL string            `json:"nextRecordsUrl"`
	Records        []json.RawMessage `json:"records"`
}

// query runs a SOQL query and returns every record, following
// nextRecordsUrl.
//
// API docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
func (p *Provider) query(ctx context.Context, soql string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	var res queryResult
	if err := p.call(ctx, http.MethodGet, "/query", url.Values{"q": {soql}}, nil, &res); err != nil {
		return nil, err
	}
	all = append(all, res.Records...)
	for !res.Done && res.NextRecordsURL != "" {
		next := res.NextRecordsURL
		if !strings.HasPrefix(next, "/services/data/") || strings.Contains(next, "?") {
			return nil, &apiError{msg: "GET /query: unexpected nextRecordsUrl in the answer"}
		}
		res = queryResult{}
		if err := p.call(ctx, http.MethodGet, next, nil, nil, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Records...)
	}
	return all, nil
}

// idRecord is a record of a "SELECT Id" query.
type idRecord struct {
	ID string `json:"Id"`
}

// ids runs a SELECT Id query and returns the IDs.
func (p *Provider) ids(ctx context.Context, soql string) ([]string, error) {
	recs, err := p.query(ctx, soql)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		var rec idRecord
		if err := json.Unmarshal(r, &rec); err != nil || !validID(rec.ID) {
			return nil, &apiError{msg: "GET /query: a record without a valid Id in the answer"}
		}
		out = append(out, rec.ID)
	}
	return out, nil
}

// idPattern matches Salesforce record IDs (15 or 18 characters). IDs go
// into URL paths and SOQL, so an answer's IDs are checked too.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)

func validID(id string) bool { return idPattern.MatchString(id) }

// parse decodes the settings and checks the username of a call. Its errors
// are permanent.
func parse(raw json.RawMessage, username string) (Settings, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return Settings{}, err
	}
	if !validUsername(username) {
		return Settings{}, fmt.Errorf("salesforce: %q is not a Salesforce username (check the identities in the policy: a username looks like an email address)", username)
	}
	return s, nil
}

// validUsername accepts what Salesforce accepts as a username (an email
// address form, at most 80 characters) closely enough to refuse obvious
// mistakes; quoting, not this check, is what keeps it out of the SOQL.
func validUsername(u string) bool {
	if len(u) == 0 || len(u) > 80 || !strings.Contains(u, "@") {
		return false
	}
	for _, r := range u {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// Grant assigns the permission set (or group) to the user whose username
// is the identity: it looks up the active user and the permission set by
// SOQL, then inserts a PermissionSetAssignment. An assignment already
// there (DUPLICATE_VALUE, a retry after a timeout) counts as success.
//
// API docs: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionsetassignment.htm
//
// API docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm
func (p *Provider) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	users, err := p.ids(ctx, userQuery(req.Identity))
	if err != nil {
		return approvals.GrantResult{}, p.fail(err)
	}
	if len(users) != 1 {
		return approvals.GrantResult{}, fmt.Errorf("salesforce: no active user with username %q (check the identities in the policy)", req.Identity)
	}
	targets, err := p.ids(ctx, targetQuery(s))
	if err != nil {
		return approvals.GrantResult{}, p.fail(err)
	}
	if len(targets) != 1 {
		return approvals.GrantResult{}, fmt.Errorf("salesforce: no %s (check the API name in the policy)", s)
	}
	body := map[string]string{"AssigneeId": users[0]}
	if s.PermissionSetGroup != "" {
		body["PermissionSetGroupId"] = targets[0]
	} else {
		body["PermissionSetId"] = targets[0]
	}
	var created struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
	}
	err = p.call(ctx, http.MethodPost, "/sobjects/PermissionSetAssignment", nil, body, &created)
	if err != nil && !isCode(err, codeDuplicateValue) {
		return approvals.GrantResult{}, p.fail(err)
	}
	return approvals.GrantResult{}, nil
}

// Revoke deletes the user's assignment of the permission set (or group).
// It finds it by (assignee, permission set) and deletes what it finds; an
// assignment already gone (none found, or 404 on delete) counts as
// success.
//
// Revoke can only tell an assignment by whom it is for, not by who made it.
// It deletes only what the grant made because of the order approvals.Service
// keeps: a request is refused as "already held" when Holds finds the
// assignment before granting, so an assignment there at expiry is the one
// the grant inserted. If someone assigns the same permission set by hand
// while a grant is active, the expiry removes it too; the README says so.
//
// API docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_delete_record.htm
func (p *Provider) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return err
	}
	ids, err := p.ids(ctx, assignmentQuery(s, req.Identity))
	if err != nil {
		return p.fail(err)
	}
	for _, id := range ids {
		err := p.call(ctx, http.MethodDelete, "/sobjects/PermissionSetAssignment/"+id, nil, nil, nil)
		var e *APIError
		if err != nil && !(errors.As(err, &e) && e.Status == http.StatusNotFound) && !isCode(err, codeEntityIsDeleted, codeNotFound) {
			return p.fail(err)
		}
	}
	return nil
}

// Holds reports whether the user has a direct assignment of the permission
// set (or group), whoever made it: the one thing Revoke would delete.
// Holding the permission set through a permission set group does not
// count (a direct assignment next to the group's is harmless, and its
// revoke leaves the group's alone); nor does a profile granting the same
// permissions.
func (p *Provider) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return false, err
	}
	ids, err := p.ids(ctx, assignmentQuery(s, req.Identity))
	if err != nil {
		return false, p.fail(err)
	}
	return len(ids) > 0, nil
}

// Holders lists the usernames of every user with a direct assignment of
// the permission set (or group), active or not, for drift detection.
func (p *Provider) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	recs, err := p.query(ctx, holdersQuery(s))
	if err != nil {
		return nil, p.fail(err)
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range recs {
		var rec struct {
			Assignee *struct {
				Username string `json:"Username"`
			} `json:"Assignee"`
		}
		if err := json.Unmarshal(r, &rec); err != nil {
			return nil, p.fail(&apiError{msg: "GET /query: cannot decode an assignment in the answer"})
		}
		if rec.Assignee == nil || rec.Assignee.Username == "" || seen[rec.Assignee.Username] {
			continue
		}
		seen[rec.Assignee.Username] = true
		out = append(out, rec.Assignee.Username)
	}
	return out, nil
}
