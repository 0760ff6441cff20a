// Package salesforcetest is a fake Salesforce for tests and demos: the
// OAuth 2.0 token endpoint (client credentials and JWT bearer flows), the
// REST query endpoint for exactly the SOQL queries the salesforce provider
// makes, and PermissionSetAssignment insert and delete, in Salesforce's
// wire format (error answers are JSON arrays of {"message", "errorCode"}).
// State is kept in memory.
//
// Every user has a profile (DefaultProfile unless SetProfile says
// otherwise) whose own permission set is listed among the user's
// assignments, as Salesforce lists it. Profiles, permission sets and
// groups hold system permissions (AddProfilePermissions, AddPermissions),
// which the provider's privilege query reads for the user its token acts
// as: the token's identity URL ("id") names the assertion's subject in the
// JWT bearer flow, and the Run As user (SetIntegrationUser, by default
// DefaultIntegrationUser) in the client credentials flow.
//
// It does not import "testing", so a demo binary may ship it: failures
// (a request it does not understand, a query of another shape) are
// reported through the Failf function given to NewServer, typically
// t.Errorf, and answered as Salesforce would (404, or 400
// MALFORMED_QUERY).
//
//	srv := salesforcetest.NewServer(t.Errorf)
//	defer srv.Close()
//	srv.SetClientCredentials("client-id", "secret")
//	srv.AddUser("alice@acme.example")
//	srv.AddPermissionSet("Payments_Admin")
//	p, _ := salesforce.New(salesforce.Config{LoginURL: srv.URL(), ClientID: "client-id", ClientSecret: "secret"})
//
// Where the fake simplifies: text comparisons in queries are
// case-insensitive, as SOQL's are; record IDs are 18 characters with the
// right key prefix (005 users, 0PS permission sets, 0PG groups, 0Pa
// assignments) but no checksum; tokens never expire unless ExpireTokens
// is called. A Server is safe for concurrent use.
package salesforcetest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// versionPath matches /services/data/vXX.X/… and captures what follows.
var versionPath = regexp.MustCompile(`^/services/data/v[0-9]{2,3}\.0(/.*)$`)

// Fault makes matching requests fail; see Server.Inject.
type Fault struct {
	// Method matches the request method; "" matches every method.
	Method string
	// Path matches the start of the URL path after /services/data/vXX.X
	// ("/query", "/sobjects/PermissionSetAssignment"), or
	// "/services/oauth2/token"; "" matches every path.
	Path string
	// Status is the HTTP status to answer.
	Status int
	// Code and Message fill the error array (for the token endpoint, the
	// "error" and "error_description" fields).
	Code, Message string
	// Times is how many requests fail; 0 means one.
	Times int
}

// Recorded is one request the server received.
type Recorded struct {
	Method string
	// Path is the URL path, with the API version.
	Path  string
	Query url.Values
	Body  string
	// Header holds the request headers, Authorization included.
	Header http.Header
}

type user struct {
	id       string
	username string
	active   bool
	profile  *profile
	// profileAssignment is the Id of the assignment of the profile's
	// permission set, which Salesforce lists among the user's
	// PermissionSetAssignment records.
	profileAssignment string
}

// profile is a profile and the permission set it owns, which holds its
// system permissions.
type profile struct {
	id, name, permSet string
}

// permSet is what the fake knows of a permission set beyond its Id: the
// regular ones AddPermissionSet makes, a group's aggregate one, and a
// profile's own.
type permSet struct {
	name, label string
	profile     *profile // owning profile, or nil
	group       string   // DeveloperName of the group it aggregates, or ""
	perms       map[string]bool
}

// DefaultIntegrationUser is the username of the user the client
// credentials flow runs as until SetIntegrationUser names another.
const DefaultIntegrationUser = "integration@salesforcetest.example"

// DefaultProfile is the profile of the users AddUser adds; it has API
// Enabled and nothing broad.
const DefaultProfile = "Standard User"

// orgID is the fake org's Id, in identity URLs.
const orgID = "00D000000000001EAA"

// systemPermissions are the PermissionSet fields the fake knows: the
// privilege query may select these and no others.
var systemPermissions = map[string]bool{
	"PermissionsApiEnabled":                   true,
	"PermissionsAssignPermissionSets":         true,
	"PermissionsViewSetup":                    true,
	"PermissionsModifyAllData":                true,
	"PermissionsViewAllData":                  true,
	"PermissionsManageUsers":                  true,
	"PermissionsManageInternalUsers":          true,
	"PermissionsCustomizeApplication":         true,
	"PermissionsAuthorApex":                   true,
	"PermissionsManageProfilesPermissionsets": true,
	"PermissionsModifyMetadata":               true,
	"PermissionsViewAllUsers":                 true,
	"PermissionsManageRoles":                  true,
}

type assignment struct {
	id, assignee, permissionSet, group string
}

// Server is a fake Salesforce org.
type Server struct {
	srv   *httptest.Server
	failf func(format string, args ...any)

	mu           sync.Mutex
	seq          int
	clientID     string
	clientSecret string
	jwtKeys      map[string]*rsa.PublicKey // client ID -> key
	audience     string
	tokens       map[string]bool
	users        map[string]*user  // lower-case username -> user
	permSets     map[string]string // lower-case name -> id
	groups       map[string]string // lower-case developer name -> id
	groupSets    map[string]string // group id -> id of its aggregate permission set
	assignments  map[string]*assignment
	profiles     map[string]*profile // lower-case name -> profile
	sets         map[string]*permSet // permission set id -> details
	integration  *user               // the client credentials flow's Run As user
	identityURL  string              // overrides the token's "id" when set
	faults       []*Fault
	requests     []Recorded
	pageSize     int
	pages        map[string][]json.RawMessage // query locator -> remaining records
}

// NewServer starts a fake Salesforce. failf reports requests the fake does
// not understand; nil panics instead, which suits no one but makes a
// forgotten argument loud.
func NewServer(failf func(format string, args ...any)) *Server {
	if failf == nil {
		failf = func(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
	}
	s := &Server{
		failf:       failf,
		jwtKeys:     map[string]*rsa.PublicKey{},
		tokens:      map[string]bool{},
		users:       map[string]*user{},
		permSets:    map[string]string{},
		groups:      map[string]string{},
		groupSets:   map[string]string{},
		assignments: map[string]*assignment{},
		profiles:    map[string]*profile{},
		sets:        map[string]*permSet{},
		pages:       map[string][]json.RawMessage{},
		pageSize:    2000,
	}
	s.givePerms(s.profileNamed(DefaultProfile).permSet, []string{"PermissionsApiEnabled"})
	s.integration = s.addUser(DefaultIntegrationUser)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.audience = s.srv.URL
	return s
}

// URL is the server's base URL: the login URL and the instance URL.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// SetClientCredentials makes the token endpoint accept the client
// credentials flow with this consumer key and secret.
func (s *Server) SetClientCredentials(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientID, s.clientSecret = clientID, secret
}

// SetJWTKey makes the token endpoint accept JWT bearer assertions issued by
// clientID and signed with the private key of pub, for any active user.
func (s *Server) SetJWTKey(clientID string, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwtKeys[clientID] = pub
}

// SetAudience sets the aud a JWT assertion must carry; URL() by default.
func (s *Server) SetAudience(aud string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audience = aud
}

// SetPageSize sets how many records a query answers at once; the rest
// comes through nextRecordsUrl. Default 2000, as Salesforce's.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = max(n, 1)
}

// ExpireTokens invalidates every access token issued so far, as a session
// timeout or a revoked session would: the next API call answers 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// TokensIssued counts the access tokens issued so far.
func (s *Server) TokensIssued() int {
	return s.Count("POST", "/services/oauth2/token")
}

func (s *Server) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%015d", prefix, s.seq)
}

// AddUser adds an active user with DefaultProfile and returns its Id.
func (s *Server) AddUser(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUser(username).id
}

func (s *Server) addUser(username string) *user {
	u := &user{id: s.newID("005"), username: username, active: true,
		profile: s.profileNamed(DefaultProfile), profileAssignment: s.newID("0Pa")}
	s.users[strings.ToLower(username)] = u
	return u
}

// profileNamed returns the profile with this name, creating it (and the
// permission set it owns) when new.
func (s *Server) profileNamed(name string) *profile {
	if p := s.profiles[strings.ToLower(name)]; p != nil {
		return p
	}
	p := &profile{id: s.newID("00e"), name: name, permSet: s.newID("0PS")}
	s.profiles[strings.ToLower(name)] = p
	// Salesforce names a profile's permission set after the profile's Id.
	s.sets[p.permSet] = &permSet{name: "X" + p.id, label: p.id, profile: p, perms: map[string]bool{}}
	return p
}

func (s *Server) givePerms(permSetID string, perms []string) {
	for _, perm := range perms {
		if !systemPermissions[perm] {
			s.failf("salesforcetest: unknown system permission %q (a PermissionSet field like PermissionsModifyAllData)", perm)
			continue
		}
		s.sets[permSetID].perms[perm] = true
	}
}

// SetIntegrationUser makes username, an existing user, the connected
// app's "Run As" user: the user the client credentials flow's tokens act
// as, whom the token's identity URL names. By default it is
// DefaultIntegrationUser, which NewServer adds. (The JWT bearer flow's
// tokens act as the assertion's subject.)
func (s *Server) SetIntegrationUser(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(username)]
	if u == nil {
		s.failf("salesforcetest: SetIntegrationUser: no user %q", username)
		return
	}
	s.integration = u
}

// SetIdentityURL makes the token endpoint answer this identity URL (the
// "id" field) instead of the one naming the token's user; "" restores it.
// It lets a test see what a client does with a malformed one.
func (s *Server) SetIdentityURL(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identityURL = raw
}

// SetProfile gives the user the named profile, creating it when new.
func (s *Server) SetProfile(username, profile string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(username)]
	if u == nil {
		s.failf("salesforcetest: SetProfile: no user %q", username)
		return
	}
	u.profile = s.profileNamed(profile)
}

// AddProfilePermissions turns on system permissions, named by their
// PermissionSet field (PermissionsModifyAllData), in the profile,
// creating it when new.
func (s *Server) AddProfilePermissions(profile string, perms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.givePerms(s.profileNamed(profile).permSet, perms)
}

// AddPermissions turns on system permissions, named by their
// PermissionSet field (PermissionsManageUsers), in the permission set
// (or, when group is true, in the group's aggregate permission set, as if
// one of its permission sets had them).
func (s *Server) AddPermissions(name string, group bool, perms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.permSets[strings.ToLower(name)]
	if group {
		id = s.groupSets[s.groups[strings.ToLower(name)]]
	}
	if id == "" {
		s.failf("salesforcetest: AddPermissions: no permission set or group %q", name)
		return
	}
	s.givePerms(id, perms)
}

// SetActive activates or deactivates a user.
func (s *Server) SetActive(username string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(username)]; u != nil {
		u.active = active
	}
}

// AddPermissionSet adds a permission set with this API name (its label
// is the name with spaces for underscores) and returns its Id.
func (s *Server) AddPermissionSet(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("0PS")
	s.permSets[strings.ToLower(name)] = id
	s.sets[id] = &permSet{name: name, label: strings.ReplaceAll(name, "_", " "), perms: map[string]bool{}}
	return id
}

// AddPermissionSetGroup adds a permission set group with this API name
// (DeveloperName) and returns its Id.
func (s *Server) AddPermissionSetGroup(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("0PG")
	s.groups[strings.ToLower(name)] = id
	agg := s.newID("0PS") // the group's aggregate permission set
	s.groupSets[id] = agg
	s.sets[agg] = &permSet{name: "X" + id, label: id, group: name, perms: map[string]bool{}}
	return id
}

// Assign assigns the permission set (or, when group is true, the group)
// to the user, as an administrator would by hand, and returns the
// assignment's Id.
func (s *Server) Assign(username, name string, group bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(username)]
	if u == nil {
		s.failf("salesforcetest: Assign: no user %q", username)
		return ""
	}
	a := &assignment{id: s.newID("0Pa"), assignee: u.id}
	if group {
		a.group = s.groups[strings.ToLower(name)]
		a.permissionSet = s.groupSets[a.group]
	} else {
		a.permissionSet = s.permSets[strings.ToLower(name)]
	}
	if a.permissionSet == "" {
		s.failf("salesforcetest: Assign: no permission set or group %q", name)
		return ""
	}
	s.assignments[a.id] = a
	return a.id
}

// Assignees returns the usernames the permission set (or group) is
// directly assigned to, sorted.
func (s *Server) Assignees(name string, group bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.assignments {
		if s.matches(a, name, group) {
			out = append(out, s.usernameOf(a.assignee))
		}
	}
	sort.Strings(out)
	return out
}

// AssignmentCount is the number of assignments of every permission set.
func (s *Server) AssignmentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.assignments)
}

// Inject makes the next f.Times requests matching f fail.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Count counts the requests with this method whose path, after the
// version prefix, starts with path.
func (s *Server) Count(method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(apiPath(r.Path), path) {
			n++
		}
	}
	return n
}

// apiPath strips /services/data/vXX.X from a path.
func apiPath(p string) string {
	if m := versionPath.FindStringSubmatch(p); m != nil {
		return m[1]
	}
	return p
}

func (s *Server) usernameOf(id string) string {
	for _, u := range s.users {
		if u.id == id {
			return u.username
		}
	}
	return ""
}

// matches reports whether a is a direct assignment of the named permission
// set or group.
func (s *Server) matches(a *assignment, name string, group bool) bool {
	if group {
		id, ok := s.groups[strings.ToLower(name)]
		return ok && a.group == id
	}
	id, ok := s.permSets[strings.ToLower(name)]
	return ok && a.group == "" && a.permissionSet == id
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Header: r.Header.Clone()})

	if r.URL.Path == "/services/oauth2/token" {
		if f := s.fault(r.Method, r.URL.Path); f != nil {
			writeJSON(w, f.Status, map[string]string{"error": f.Code, "error_description": f.Message})
			return
		}
		s.token(w, r, body)
		return
	}
	m := versionPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.failf("salesforcetest: unexpected request %s %s", r.Method, r.URL.Path)
		writeErrors(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	path := m[1]
	if !known(r.Method, path) {
		s.failf("salesforcetest: unexpected request %s %s", r.Method, r.URL.Path)
		writeErrors(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	if !s.authorized(r) {
		writeErrors(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	if f := s.fault(r.Method, path); f != nil {
		writeErrors(w, f.Status, f.Code, f.Message)
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/query":
		s.query(w, r.URL.Query().Get("q"))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/query/"):
		s.nextPage(w, strings.TrimPrefix(path, "/query/"))
	case r.Method == http.MethodPost && path == "/sobjects/PermissionSetAssignment":
		s.insert(w, r, body)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, "/sobjects/PermissionSetAssignment/"):
		s.delete(w, strings.TrimPrefix(path, "/sobjects/PermissionSetAssignment/"))
	}
}

// known reports whether the fake serves method and path (after the version).
func known(method, path string) bool {
	switch {
	case method == http.MethodGet && (path == "/query" || strings.HasPrefix(path, "/query/")):
	case method == http.MethodPost && path == "/sobjects/PermissionSetAssignment":
	case method == http.MethodDelete && strings.HasPrefix(path, "/sobjects/PermissionSetAssignment/"):
	default:
		return false
	}
	return true
}

// fault returns the first fault matching the request, counting it down.
func (s *Server) fault(method, path string) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.HasPrefix(path, f.Path) {
			f.Times--
			if f.Times <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.tokens[tok]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErrors answers Salesforce's REST error format: a JSON array.
func writeErrors(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, []map[string]any{{"message": message, "errorCode": code, "fields": []string{}}})
}

// token implements POST /services/oauth2/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		s.failf("salesforcetest: %s /services/oauth2/token, want POST", r.Method)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "must use HTTP POST"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.failf("salesforcetest: token request is not form-encoded")
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad request"})
		return
	}
	var as *user
	switch form.Get("grant_type") {
	case "client_credentials":
		if s.clientID == "" || form.Get("client_id") != s.clientID || form.Get("client_secret") != s.clientSecret {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client", "error_description": "invalid client credentials"})
			return
		}
		as = s.integration
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		var msg string
		if as, msg = s.checkAssertion(form.Get("assertion")); msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": msg})
			return
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "grant type not supported"})
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "00Dfake!" + hex.EncodeToString(b[:])
	s.tokens[tok] = true
	identity := s.srv.URL + "/id/" + orgID + "/" + as.id
	if s.identityURL != "" {
		identity = s.identityURL
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok,
		"instance_url": s.srv.URL,
		"id":           identity,
		"token_type":   "Bearer",
		"scope":        "api",
		"issued_at":    strconv.FormatInt(time.Now().UnixMilli(), 10),
		"signature":    base64.StdEncoding.EncodeToString(b[:]),
	})
}

// checkAssertion verifies a JWT bearer assertion as Salesforce does: RS256
// signature by the connected app's certificate, iss the consumer key, aud
// the login server, sub an active user, exp in the future and at most
// five minutes ahead. It returns the user, or why it is refused.
func (s *Server) checkAssertion(jwt string) (*user, string) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, "invalid assertion"
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, "invalid assertion"
	}
	if header.Alg != "RS256" {
		return nil, "invalid assertion"
	}
	pub := s.jwtKeys[claims.Iss]
	if pub == nil {
		return nil, "invalid client credentials"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, "invalid assertion"
	}
	if claims.Aud != s.audience {
		return nil, "audience is invalid"
	}
	now := time.Now().Unix()
	if claims.Exp <= now || claims.Exp > now+300 {
		return nil, "expired authorization code"
	}
	u := s.users[strings.ToLower(claims.Sub)]
	if u == nil || !u.active {
		return nil, "user hasn't approved this consumer"
	}
	return u, ""
}

// SOQL literal: a quoted string with backslash escapes.
const literal = `'((?:[^'\\]|\\.)*)'`

// The queries the provider makes, and no others.
var (
	userQ        = regexp.MustCompile(`^SELECT Id FROM User WHERE Username = ` + literal + ` AND IsActive = true$`)
	permSetQ     = regexp.MustCompile(`^SELECT Id FROM PermissionSet WHERE Name = ` + literal + ` AND IsOwnedByProfile = false$`)
	groupQ       = regexp.MustCompile(`^SELECT Id FROM PermissionSetGroup WHERE DeveloperName = ` + literal + `$`)
	assignmentQ  = regexp.MustCompile(`^SELECT Id FROM PermissionSetAssignment WHERE Assignee\.Username = ` + literal + ` AND (PermissionSet\.Name|PermissionSetGroup\.DeveloperName) = ` + literal + `$`)
	privilegesQ  = regexp.MustCompile(`^SELECT Assignee\.Username, PermissionSet\.Name, PermissionSet\.Label, PermissionSet\.IsOwnedByProfile, PermissionSet\.Profile\.Name, PermissionSetGroup\.DeveloperName((?:, PermissionSet\.Permissions[A-Za-z]+)+) FROM PermissionSetAssignment WHERE AssigneeId = ` + literal + `$`)
	holdersQ     = regexp.MustCompile(`^SELECT Assignee\.Username FROM PermissionSetAssignment WHERE (PermissionSet\.Name|PermissionSetGroup\.DeveloperName) = ` + literal + ` ORDER BY Assignee\.Username$`)
	soqlUnescape = map[byte]string{'n': "\n", 'r': "\r", 't': "\t", 'b': "\b", 'f': "\f", '"': `"`, '\'': `'`, '\\': `\`}
)

// unquote decodes the inside of a SOQL literal; ok is false for an escape
// SOQL does not know.
func unquote(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", false
		}
		r, ok := soqlUnescape[s[i]]
		if !ok {
			return "", false
		}
		b.WriteString(r)
	}
	return b.String(), true
}

type attributes struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

func (s *Server) record(typ, id string, fields map[string]any) json.RawMessage {
	rec := map[string]any{"attributes": attributes{Type: typ, URL: "/services/data/v60.0/sobjects/" + typ + "/" + id}}
	for k, v := range fields {
		rec[k] = v
	}
	b, _ := json.Marshal(rec)
	return b
}

// query implements GET /query for the provider's queries.
func (s *Server) query(w http.ResponseWriter, q string) {
	lits := func(m []string) ([]string, bool) {
		var out []string
		for _, v := range m {
			u, ok := unquote(v)
			if !ok {
				return nil, false
			}
			out = append(out, u)
		}
		return out, true
	}
	var recs []json.RawMessage
	bad := func() {
		writeErrors(w, http.StatusBadRequest, "MALFORMED_QUERY", "unexpected token in query")
	}
	switch {
	case userQ.MatchString(q):
		v, ok := lits(userQ.FindStringSubmatch(q)[1:2])
		if !ok {
			bad()
			return
		}
		if u := s.users[strings.ToLower(v[0])]; u != nil && u.active {
			recs = append(recs, s.record("User", u.id, map[string]any{"Id": u.id}))
		}
	case permSetQ.MatchString(q):
		v, ok := lits(permSetQ.FindStringSubmatch(q)[1:2])
		if !ok {
			bad()
			return
		}
		if id, found := s.permSets[strings.ToLower(v[0])]; found {
			recs = append(recs, s.record("PermissionSet", id, map[string]any{"Id": id}))
		}
	case groupQ.MatchString(q):
		v, ok := lits(groupQ.FindStringSubmatch(q)[1:2])
		if !ok {
			bad()
			return
		}
		if id, found := s.groups[strings.ToLower(v[0])]; found {
			recs = append(recs, s.record("PermissionSetGroup", id, map[string]any{"Id": id}))
		}
	case assignmentQ.MatchString(q):
		m := assignmentQ.FindStringSubmatch(q)
		v, ok := lits([]string{m[1], m[3]})
		if !ok {
			bad()
			return
		}
		group := m[2] == "PermissionSetGroup.DeveloperName"
		for _, a := range s.sortedAssignments() {
			if strings.EqualFold(s.usernameOf(a.assignee), v[0]) && s.matches(a, v[1], group) {
				recs = append(recs, s.record("PermissionSetAssignment", a.id, map[string]any{"Id": a.id}))
			}
		}
	case holdersQ.MatchString(q):
		m := holdersQ.FindStringSubmatch(q)
		v, ok := lits(m[2:3])
		if !ok {
			bad()
			return
		}
		group := m[1] == "PermissionSetGroup.DeveloperName"
		var names []string
		for _, a := range s.sortedAssignments() {
			if s.matches(a, v[0], group) {
				names = append(names, s.usernameOf(a.assignee))
			}
		}
		sort.Strings(names)
		for _, n := range names {
			u := s.users[strings.ToLower(n)]
			recs = append(recs, s.record("PermissionSetAssignment", "", map[string]any{
				"Assignee": json.RawMessage(s.record("User", u.id, map[string]any{"Username": u.username})),
			}))
		}
	case privilegesQ.MatchString(q):
		m := privilegesQ.FindStringSubmatch(q)
		v, ok := lits(m[2:3])
		if !ok {
			bad()
			return
		}
		var fields []string
		for _, f := range strings.Split(strings.TrimPrefix(m[1], ", "), ", ") {
			f = strings.TrimPrefix(f, "PermissionSet.")
			if !systemPermissions[f] {
				s.failf("salesforcetest: query selects unknown field PermissionSet.%s", f)
				writeErrors(w, http.StatusBadRequest, "INVALID_FIELD", "No such column '"+f+"' on entity 'PermissionSet'")
				return
			}
			fields = append(fields, f)
		}
		recs = s.privileges(v[0], fields)
	default:
		s.failf("salesforcetest: unexpected SOQL query %q", q)
		bad()
		return
	}
	s.answerPage(w, recs)
}

// privileges answers the privilege query: the user's assignments, the
// profile's own permission set first, each with the permission set's
// names, owner, group and the selected system permissions.
func (s *Server) privileges(userID string, fields []string) []json.RawMessage {
	var u *user
	for _, c := range s.users {
		if c.id == userID {
			u = c
		}
	}
	if u == nil {
		return nil
	}
	rec := func(assignmentID, permSetID string) json.RawMessage {
		ps := s.sets[permSetID]
		psFields := map[string]any{"Name": ps.name, "Label": ps.label, "IsOwnedByProfile": ps.profile != nil, "Profile": nil}
		if ps.profile != nil {
			psFields["Profile"] = s.record("Profile", ps.profile.id, map[string]any{"Name": ps.profile.name})
		}
		for _, f := range fields {
			psFields[f] = ps.perms[f]
		}
		var group any
		if ps.group != "" {
			gid := s.groups[strings.ToLower(ps.group)]
			group = s.record("PermissionSetGroup", gid, map[string]any{"DeveloperName": ps.group})
		}
		return s.record("PermissionSetAssignment", assignmentID, map[string]any{
			"Assignee":           s.record("User", u.id, map[string]any{"Username": u.username}),
			"PermissionSet":      s.record("PermissionSet", permSetID, psFields),
			"PermissionSetGroup": group,
		})
	}
	out := []json.RawMessage{rec(u.profileAssignment, u.profile.permSet)}
	for _, a := range s.sortedAssignments() {
		if a.assignee == u.id {
			out = append(out, rec(a.id, a.permissionSet))
		}
	}
	return out
}

func (s *Server) sortedAssignments() []*assignment {
	out := make([]*assignment, 0, len(s.assignments))
	for _, a := range s.assignments {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// answerPage answers the first page of recs, keeping the rest behind a
// query locator.
func (s *Server) answerPage(w http.ResponseWriter, recs []json.RawMessage) {
	total := len(recs)
	res := map[string]any{"totalSize": total, "done": true}
	if len(recs) > s.pageSize {
		locator := s.newID("01g")
		s.pages[locator] = recs[s.pageSize:]
		recs = recs[:s.pageSize]
		res["done"] = false
		res["nextRecordsUrl"] = "/services/data/v60.0/query/" + locator + "-" + strconv.Itoa(s.pageSize)
	}
	if recs == nil {
		recs = []json.RawMessage{}
	}
	res["records"] = recs
	writeJSON(w, http.StatusOK, res)
}

// nextPage implements GET /query/{locator}-{n}.
func (s *Server) nextPage(w http.ResponseWriter, ref string) {
	locator, _, _ := strings.Cut(ref, "-")
	recs, ok := s.pages[locator]
	if !ok {
		writeErrors(w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	delete(s.pages, locator)
	s.answerPage(w, recs)
}

// insert implements POST /sobjects/PermissionSetAssignment.
func (s *Server) insert(w http.ResponseWriter, r *http.Request, body []byte) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		s.failf("salesforcetest: insert without a JSON Content-Type")
		writeErrors(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type not supported")
		return
	}
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		writeErrors(w, http.StatusBadRequest, "JSON_PARSER_ERROR", "cannot parse the body")
		return
	}
	for k := range fields {
		if k != "AssigneeId" && k != "PermissionSetId" && k != "PermissionSetGroupId" {
			s.failf("salesforcetest: insert with unexpected field %q", k)
			writeErrors(w, http.StatusBadRequest, "INVALID_FIELD", "No such column '"+k+"' on sobject of type PermissionSetAssignment")
			return
		}
	}
	a := &assignment{assignee: fields["AssigneeId"], group: fields["PermissionSetGroupId"], permissionSet: fields["PermissionSetId"]}
	if s.usernameOf(a.assignee) == "" {
		writeErrors(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
		return
	}
	switch {
	case a.group != "" && a.permissionSet != "":
		writeErrors(w, http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "Specify either a permission set or a permission set group")
		return
	case a.group != "":
		a.permissionSet = s.groupSets[a.group]
		if a.permissionSet == "" {
			writeErrors(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
			return
		}
	default:
		known := false
		for _, id := range s.permSets {
			known = known || id == a.permissionSet
		}
		if !known {
			writeErrors(w, http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
			return
		}
	}
	for _, b := range s.assignments {
		if b.assignee == a.assignee && b.permissionSet == a.permissionSet {
			writeErrors(w, http.StatusBadRequest, "DUPLICATE_VALUE",
				fmt.Sprintf("Duplicate PermissionSetAssignment. Assignee: %s; Permission Set: %s", a.assignee, a.permissionSet))
			return
		}
	}
	a.id = s.newID("0Pa")
	s.assignments[a.id] = a
	writeJSON(w, http.StatusCreated, map[string]any{"id": a.id, "success": true, "errors": []string{}})
}

// delete implements DELETE /sobjects/PermissionSetAssignment/{id}.
func (s *Server) delete(w http.ResponseWriter, id string) {
	if _, ok := s.assignments[id]; !ok {
		writeErrors(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	delete(s.assignments, id)
	w.WriteHeader(http.StatusNoContent)
}
