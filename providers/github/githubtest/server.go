// Package githubtest is a fake GitHub REST API for tests and demos. It
// speaks the paths and JSON shapes go-github uses for team memberships and
// pending team invitations, repository collaborators, repository
// invitations and GitHub App installation tokens, keeps their state in memory, records every request,
// and fails requests on demand (5xx, rate limits, slow answers).
//
// A test starts one with NewServer, seeds it, points the provider at URL()
// (it is also a valid ACCESSBOT_GITHUB_API_URL), and asserts on the state
// (TeamMembers, Collaborators, Invitations) and on the recorded requests
// (Requests, Count):
//
//	srv := githubtest.NewServer(t)
//	srv.AddTeam("acme", "payments-admins")
//	p, _ := github.New(github.Config{Token: "t", APIURL: srv.URL()})
//	srv.FailNext("PUT", "/orgs/acme/teams/payments-admins/memberships/alice", 502, 1)
//
// Teams and repositories must exist (AddTeam, AddRepo, or implicitly
// AddTeamMember, AddCollaborator): like GitHub, the fake answers 404 for
// others. Every login exists and, unless SetOutsider says otherwise, is a
// member of every organization, so grants take effect at once. A request
// to a path the fake does not know fails the test (and is answered 404).
//
// Where GitHub's behaviour is not documented the fake picks one and says so:
// DELETE of a team membership that does not exist answers 404 (GitHub's
// answer for a missing team); DELETE of a repository collaborator answers
// 204 whether or not the user was one, and leaves pending invitations
// alone; PUT of a collaborator who already has a pending invitation updates
// that invitation and answers 201 with it. The fake does not model public
// repositories, organization base permissions or teams' access to
// repositories (SetIndirectPermission stands in for them), nor GraphQL.
//
// A Server is safe for concurrent use.
package githubtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Repository permissions, from least to most powerful, as the collaborator
// API takes them.
var permissions = []string{"pull", "triage", "push", "maintain", "admin"}

// Recorded is one request the server received.
type Recorded struct {
	Method string
	// Path is the URL path, like /orgs/acme/teams/x/memberships/alice.
	Path  string
	Query url.Values
	// Body is the request body (JSON for writes), "" for none.
	Body string
	// Header holds the request headers, Authorization included.
	Header http.Header
}

// Fault describes requests to fail or slow down; see Server.Inject.
type Fault struct {
	// Method matches the request method; "" matches every method.
	Method string
	// Path matches the URL path exactly or, when it ends in "*", as a
	// prefix ("/repos/acme/payments/*"); "" matches every path.
	Path string
	// Status is the status to answer; 0 answers normally after Delay.
	Status int
	// Header is added to the answer.
	Header http.Header
	// Body is the answer's JSON body; default {"message": <status text>}.
	Body string
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// Times is how many matching requests the fault applies to (default 1).
	Times int
}

// Server is the fake GitHub. Create it with NewServer (tests) or Start
// (demos).
type Server struct {
	srv *httptest.Server
	tb  TB // nil when started with Start

	closeOnce sync.Once
	closed    chan struct{}

	mu           sync.Mutex
	teams        map[string]*team // by lower(org/slug)
	repos        map[string]*repo // by lower(owner/name)
	outsiders    map[string]bool  // by lower(login)
	requests     []Recorded
	faults       []*Fault
	tokens       map[string]bool // tokens RequireToken accepts
	requireToken bool
	minted       []string
	appKeys      map[int64]*rsa.PublicKey
	nextID       int64
	unexpected   []string
	credentials  credentials
}

type team struct {
	org, slug string
	members   map[string]*membership // by lower(login)
}

type membership struct {
	login, role, state string // role member|maintainer; state active|pending
}

type repo struct {
	owner, name   string
	collaborators map[string]*collaborator // direct, by lower(login)
	indirect      map[string]*collaborator // through teams or the org, by lower(login)
	invitations   []*invitation
}

type collaborator struct {
	login, perm string
}

type invitation struct {
	id          int64
	login, perm string
	created     time.Time
}

// NewServer starts a fake GitHub for the test and closes it when the test
// ends. Requests to unknown paths, and misuse of the seeding helpers, fail
// the test.
func NewServer(tb TB) *Server {
	tb.Helper()
	s := newServer(tb)
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake GitHub outside tests (accessbot demo). Requests to
// unknown paths are answered 404 and listed by Unexpected. Close it when
// done.
func Start() *Server {
	return newServer(nil)
}

func newServer(tb TB) *Server {
	s := &Server{
		tb:        tb,
		closed:    make(chan struct{}),
		teams:     map[string]*team{},
		repos:     map[string]*repo{},
		outsiders: map[string]bool{},
		tokens:    map[string]bool{},
		appKeys:   map[int64]*rsa.PublicKey{},
		nextID:    1000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orgs/{org}/teams/{team}/memberships/{login}", s.getTeamMembership)
	mux.HandleFunc("PUT /orgs/{org}/teams/{team}/memberships/{login}", s.putTeamMembership)
	mux.HandleFunc("DELETE /orgs/{org}/teams/{team}/memberships/{login}", s.deleteTeamMembership)
	mux.HandleFunc("GET /orgs/{org}/teams/{team}/members", s.listTeamMembers)
	mux.HandleFunc("GET /orgs/{org}/teams/{team}/invitations", s.listTeamInvitations)
	mux.HandleFunc("GET /repos/{owner}/{repo}/collaborators", s.listCollaborators)
	mux.HandleFunc("GET /repos/{owner}/{repo}/collaborators/{login}", s.isCollaborator)
	mux.HandleFunc("PUT /repos/{owner}/{repo}/collaborators/{login}", s.putCollaborator)
	mux.HandleFunc("DELETE /repos/{owner}/{repo}/collaborators/{login}", s.deleteCollaborator)
	mux.HandleFunc("GET /repos/{owner}/{repo}/collaborators/{login}/permission", s.getPermission)
	mux.HandleFunc("GET /repos/{owner}/{repo}/invitations", s.listInvitations)
	mux.HandleFunc("DELETE /repos/{owner}/{repo}/invitations/{id}", s.deleteInvitation)
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.createInstallationToken)
	mux.HandleFunc("GET /app/installations/{id}", s.getInstallation)
	mux.HandleFunc("GET /rate_limit", s.rateLimit)
	mux.HandleFunc("/", s.unknown)
	s.srv = httptest.NewUnstartedServer(s.front(mux))
	s.srv.Start()
	return s
}

// URL returns the API base URL, with a trailing slash.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Close stops the server, first releasing requests held by a Fault's Delay.
// It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// misuse reports a bad call of a helper.
func (s *Server) misuse(format string, args ...any) {
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf("githubtest: "+format, args...)
	}
	panic(fmt.Sprintf("githubtest: "+format, args...))
}

func key(a, b string) string { return strings.ToLower(a + "/" + b) }

func validPerm(p string) bool { return slices.Contains(permissions, p) }

func permRank(p string) int { return slices.Index(permissions, p) + 1 } // 0 for ""

// ---------------------------------------------------------------------------
// Seeding and inspection.

// AddTeam creates an empty team (org and slug).
func (s *Server) AddTeam(org, slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teamLocked(org, slug)
}

func (s *Server) teamLocked(org, slug string) *team {
	k := key(org, slug)
	t := s.teams[k]
	if t == nil {
		t = &team{org: org, slug: slug, members: map[string]*membership{}}
		s.teams[k] = t
	}
	return t
}

// AddTeamMember makes login an active member (role member) of the team,
// creating the team if needed.
func (s *Server) AddTeamMember(org, slug, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teamLocked(org, slug).members[strings.ToLower(login)] = &membership{login: login, role: "member", state: "active"}
}

// AddTeamMaintainer makes login an active maintainer of the team, creating
// the team if needed.
func (s *Server) AddTeamMaintainer(org, slug, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teamLocked(org, slug).members[strings.ToLower(login)] = &membership{login: login, role: "maintainer", state: "active"}
}

// TeamMembers returns the logins of the team's active members, sorted.
func (s *Server) TeamMembers(org, slug string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if t := s.teams[key(org, slug)]; t != nil {
		for _, m := range t.members {
			if m.state == "active" {
				out = append(out, m.login)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TeamMembership returns login's membership of the team: role (member or
// maintainer) and state (active or pending).
func (s *Server) TeamMembership(org, slug, login string) (role, state string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(org, slug)]
	if t == nil {
		return "", "", false
	}
	m := t.members[strings.ToLower(login)]
	if m == nil {
		return "", "", false
	}
	return m.role, m.state, true
}

// AddRepo creates a repository with no collaborators.
func (s *Server) AddRepo(owner, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(owner, name)
}

func (s *Server) repoLocked(owner, name string) *repo {
	k := key(owner, name)
	r := s.repos[k]
	if r == nil {
		r = &repo{owner: owner, name: name, collaborators: map[string]*collaborator{}, indirect: map[string]*collaborator{}}
		s.repos[k] = r
	}
	return r
}

// AddCollaborator makes login a direct collaborator of the repository
// with perm (pull, triage, push, maintain or admin), creating the
// repository if needed.
func (s *Server) AddCollaborator(owner, name, login, perm string) {
	if !validPerm(perm) {
		s.misuse("AddCollaborator: permission %q is not one of %v", perm, permissions)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(owner, name).collaborators[strings.ToLower(login)] = &collaborator{login: login, perm: perm}
}

// SetIndirectPermission gives login perm on the repository through
// something other than a direct collaboration (a team, the organization's
// base permission): it shows in the permission endpoint and in
// collaborator lists without affiliation=direct. An empty perm removes it.
func (s *Server) SetIndirectPermission(owner, name, login, perm string) {
	if perm != "" && !validPerm(perm) {
		s.misuse("SetIndirectPermission: permission %q is not one of %v", perm, permissions)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, name)
	if perm == "" {
		delete(r.indirect, strings.ToLower(login))
		return
	}
	r.indirect[strings.ToLower(login)] = &collaborator{login: login, perm: perm}
}

// Collaborators returns the repository's direct collaborators: login to
// permission (pull, triage, push, maintain, admin).
func (s *Server) Collaborators(owner, name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if r := s.repos[key(owner, name)]; r != nil {
		for _, c := range r.collaborators {
			out[c.login] = c.perm
		}
	}
	return out
}

// Invitations returns the repository's pending invitations: login to
// permission.
func (s *Server) Invitations(owner, name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if r := s.repos[key(owner, name)]; r != nil {
		for _, inv := range r.invitations {
			out[inv.login] = inv.perm
		}
	}
	return out
}

// SetOutsider marks login as outside every organization: adding them to a
// team makes a pending membership (an invitation to the organization), and
// adding them to a repository creates an invitation (201) instead of
// access (204). Accept turns those into access.
func (s *Server) SetOutsider(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outsiders[strings.ToLower(login)] = true
}

// Accept accepts every invitation pending for login, as the user following
// the e-mailed link would: pending team memberships become active and
// repository invitations become direct collaborations.
func (s *Server) Accept(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := strings.ToLower(login)
	for _, t := range s.teams {
		if m := t.members[l]; m != nil && m.state == "pending" {
			m.state = "active"
		}
	}
	for _, r := range s.repos {
		r.invitations = slices.DeleteFunc(r.invitations, func(inv *invitation) bool {
			if strings.ToLower(inv.login) != l {
				return false
			}
			r.collaborators[l] = &collaborator{login: inv.login, perm: inv.perm}
			return true
		})
	}
}

// RequireToken makes API calls succeed only with "Authorization: Bearer
// TOKEN" (or "token TOKEN") for one of the tokens given to RequireToken, or
// for an installation token the server minted; others get 401 Bad
// credentials. Without it any credential is accepted, and none gets 401.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requireToken = true
	s.tokens[token] = true
}

// SetAppKey registers a GitHub App's public key: installation token
// requests whose JWT names appID as issuer must then be signed with the
// matching private key, and JWTs of unregistered apps are refused. Without
// any key, every well-formed, unexpired RS256 JWT is accepted.
func (s *Server) SetAppKey(appID int64, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appKeys[appID] = key
}

// InstallationTokens returns the installation tokens minted so far, oldest
// first.
func (s *Server) InstallationTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.minted)
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests had the method ("" for any) and a path
// starting with pathPrefix.
func (s *Server) Count(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Unexpected returns the requests ("METHOD /path") to paths the fake does
// not serve.
func (s *Server) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unexpected)
}

// ---------------------------------------------------------------------------
// Faults.

// Inject adds a fault: the next f.Times requests matching f.Method and
// f.Path are answered with f.Status (after f.Delay) instead of being
// served. Faults apply in the order they were added, before authentication
// and routing, and change no state.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.Status == 0 && f.Delay == 0 {
		s.misuse("Inject: a fault needs a Status or a Delay")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// FailNext answers the next n requests matching method and path (see
// Fault) with status and GitHub's error JSON, for example 502 three times.
func (s *Server) FailNext(method, path string, status, n int) {
	s.Inject(Fault{Method: method, Path: path, Status: status, Times: n})
}

// DelayNext holds the next n matching requests back for d (or until the
// client gives up) and then serves them normally.
func (s *Server) DelayNext(method, path string, d time.Duration, n int) {
	s.Inject(Fault{Method: method, Path: path, Delay: d, Times: n})
}

// RateLimitNext answers the next n matching requests as GitHub does when
// the primary rate limit is used up: 403 with X-RateLimit-Remaining: 0 and
// X-RateLimit-Reset reset from now. go-github turns it into a
// *github.RateLimitError and, until the reset, refuses further calls
// itself without sending them.
func (s *Server) RateLimitNext(method, path string, reset time.Duration, n int) {
	at := time.Now().Add(reset)
	h := http.Header{}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Used", "5000")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(at.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	s.Inject(Fault{Method: method, Path: path, Status: http.StatusForbidden, Header: h, Times: n,
		Body: `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`})
}

// SecondaryRateLimitNext answers the next n matching requests as GitHub
// does on a secondary (abuse) rate limit: status 403 or 429, Retry-After in
// seconds, and the secondary-rate-limits documentation URL. For 403,
// go-github returns a *github.AbuseRateLimitError; for 429 an
// *github.ErrorResponse.
func (s *Server) SecondaryRateLimitNext(method, path string, status int, retryAfter time.Duration, n int) {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(retryAfter.Round(time.Second)/time.Second)))
	s.Inject(Fault{Method: method, Path: path, Status: status, Header: h, Times: n,
		Body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`})
}

// takeFault returns the first fault matching r, counting it down.
func (s *Server) takeFault(method, path string) *Fault {
	for i, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		if !pathMatches(f.Path, path) {
			continue
		}
		c := *f
		f.Times--
		if f.Times <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &c
	}
	return nil
}

// pathMatches reports whether path matches pattern: "" matches every path,
// "prefix*" every path starting with prefix, anything else only itself.
func pathMatches(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return path == pattern
}

// ---------------------------------------------------------------------------
// HTTP plumbing.

// front records the request, applies faults, reports unknown paths, checks
// authentication, and hands the request to the routes.
func (s *Server) front(next *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(strings.NewReader(string(body)))

		s.mu.Lock()
		s.requests = append(s.requests, Recorded{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Header: r.Header.Clone(),
		})
		f := s.takeFault(r.Method, r.URL.Path)
		s.mu.Unlock()

		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-GitHub-Media-Type", "github.v3; format=json")
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "4999")
		h.Set("X-RateLimit-Used", "1")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")

		if f != nil {
			if f.Delay > 0 {
				t := time.NewTimer(f.Delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				case <-s.closed:
					t.Stop()
				}
			}
			if f.Status != 0 {
				for k, v := range f.Header {
					h[http.CanonicalHeaderKey(k)] = slices.Clone(v)
				}
				b := f.Body
				if b == "" {
					b = errorBody(http.StatusText(f.Status))
				}
				w.WriteHeader(f.Status)
				io.WriteString(w, b)
				return
			}
		}

		if _, pattern := next.Handler(r); pattern == "/" {
			s.unknown(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/app/") && !s.authorized(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks an API call's credentials, answering 401 when they
// fail.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if tok == "" || !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		writeError(w, http.StatusUnauthorized, "Requires authentication")
		return false
	}
	s.mu.Lock()
	ok := !s.requireToken || s.tokens[tok] || slices.Contains(s.minted, tok)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return false
	}
	return true
}

func (s *Server) unknown(w http.ResponseWriter, r *http.Request) {
	what := r.Method + " " + r.URL.Path
	s.mu.Lock()
	s.unexpected = append(s.unexpected, what)
	s.mu.Unlock()
	if s.tb != nil {
		s.tb.Errorf("githubtest: unexpected request %s: the fake GitHub does not serve it", what)
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

func errorBody(msg string) string {
	b, _ := json.Marshal(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
	return string(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	io.WriteString(w, errorBody(msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(status)
	w.Write(b)
}

// decodeBody decodes an optional JSON body into v, answering 400 on
// malformed JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, _ := io.ReadAll(r.Body)
	if len(strings.TrimSpace(string(b))) == 0 {
		return true
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// paginate returns the page of items the request asks for (per_page,
// default 30, at most 100; page from 1) and sets GitHub's Link header.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max(1, (len(items)+per-1)/per)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, r.Host, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(min(page-1, last), "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := min((page-1)*per, len(items))
	end := min(start+per, len(items))
	return items[start:end]
}

// ---------------------------------------------------------------------------
// JSON shapes, as GitHub sends them (trimmed to the stable fields).

func userID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(login)))
	return int64(h.Sum32()%1_000_000_000) + 1
}

func (s *Server) user(login string) map[string]any {
	base := s.srv.URL
	return map[string]any{
		"login":      login,
		"id":         userID(login),
		"node_id":    base64.StdEncoding.EncodeToString([]byte("04:User" + strconv.FormatInt(userID(login), 10))),
		"avatar_url": "https://avatars.githubusercontent.com/u/" + strconv.FormatInt(userID(login), 10),
		"url":        base + "/users/" + login,
		"html_url":   "https://github.com/" + login,
		"type":       "User",
		"site_admin": false,
	}
}

// roleName is the collaborator role_name of a permission.
func roleName(perm string) string {
	switch perm {
	case "pull":
		return "read"
	case "push":
		return "write"
	}
	return perm // triage, maintain, admin, ""
}

// legacyPermission is the permission endpoint's legacy "permission" field.
func legacyPermission(perm string) string {
	switch perm {
	case "admin":
		return "admin"
	case "maintain", "push":
		return "write"
	case "triage", "pull":
		return "read"
	}
	return "none"
}

// permissionsMap is GitHub's per-collaborator permissions object.
func permissionsMap(perm string) map[string]bool {
	r := permRank(perm)
	m := map[string]bool{}
	for i, p := range permissions {
		m[p] = r > i
	}
	return m
}

func (s *Server) collaboratorJSON(login, perm string) map[string]any {
	u := s.user(login)
	u["permissions"] = permissionsMap(perm)
	u["role_name"] = roleName(perm)
	return u
}

func (s *Server) membershipJSON(t *team, m *membership) map[string]any {
	return map[string]any{
		"url":   fmt.Sprintf("%s/orgs/%s/teams/%s/memberships/%s", s.srv.URL, t.org, t.slug, m.login),
		"role":  m.role,
		"state": m.state,
	}
}

func (s *Server) invitationJSON(r *repo, inv *invitation) map[string]any {
	// Invitations name permissions like role_name does (read, write…).
	return map[string]any{
		"id":      inv.id,
		"node_id": base64.StdEncoding.EncodeToString([]byte("RepositoryInvitation" + strconv.FormatInt(inv.id, 10))),
		"repository": map[string]any{
			"id":        userID(r.owner + "/" + r.name),
			"name":      r.name,
			"full_name": r.owner + "/" + r.name,
			"owner":     s.user(r.owner),
			"private":   true,
			"url":       fmt.Sprintf("%s/repos/%s/%s", s.srv.URL, r.owner, r.name),
		},
		"invitee":     s.user(inv.login),
		"inviter":     s.user("accessbot[bot]"),
		"permissions": roleName(inv.perm),
		"created_at":  inv.created.UTC().Format(time.RFC3339),
		"expired":     false,
		"url":         fmt.Sprintf("%s/user/repository_invitations/%d", s.srv.URL, inv.id),
		"html_url":    fmt.Sprintf("https://github.com/%s/%s/invitations", r.owner, r.name),
	}
}

// effective returns login's permission on r: the higher of the direct and
// the indirect one.
func (r *repo) effective(login string) string {
	l := strings.ToLower(login)
	best := ""
	for _, c := range []*collaborator{r.collaborators[l], r.indirect[l]} {
		if c != nil && permRank(c.perm) > permRank(best) {
			best = c.perm
		}
	}
	return best
}

// ---------------------------------------------------------------------------
// Teams.

// getTeamMembership serves GET /orgs/{org}/teams/{team}/memberships/{login}.
func (s *Server) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(r.PathValue("org"), r.PathValue("team"))]
	if t == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	m := t.members[strings.ToLower(r.PathValue("login"))]
	if m == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.membershipJSON(t, m))
}

// putTeamMembership serves PUT /orgs/{org}/teams/{team}/memberships/{login}:
// it adds the user (pending for an outsider) or changes their role, as
// GitHub does: a maintainer PUT with role member is demoted.
func (s *Server) putTeamMembership(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Role string `json:"role"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Role == "" {
		body.Role = "member"
	}
	if body.Role != "member" && body.Role != "maintainer" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(r.PathValue("org"), r.PathValue("team"))]
	if t == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	login := r.PathValue("login")
	l := strings.ToLower(login)
	m := t.members[l]
	if m == nil {
		m = &membership{login: login, state: "active"}
		if s.outsiders[l] {
			m.state = "pending"
		}
		t.members[l] = m
	}
	m.role = body.Role
	writeJSON(w, http.StatusOK, s.membershipJSON(t, m))
}

// deleteTeamMembership serves DELETE
// /orgs/{org}/teams/{team}/memberships/{login}; 404 when there is no
// membership.
func (s *Server) deleteTeamMembership(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(r.PathValue("org"), r.PathValue("team"))]
	l := strings.ToLower(r.PathValue("login"))
	if t == nil || t.members[l] == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	delete(t.members, l)
	w.WriteHeader(http.StatusNoContent)
}

// listTeamMembers serves GET /orgs/{org}/teams/{team}/members: active
// members, filtered by ?role=member|maintainer|all.
func (s *Server) listTeamMembers(w http.ResponseWriter, r *http.Request) {
	role := r.URL.Query().Get("role")
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(r.PathValue("org"), r.PathValue("team"))]
	if t == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var ms []*membership
	for _, m := range t.members {
		if m.state == "active" && (role == "" || role == "all" || role == m.role) {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b *membership) int { return strings.Compare(strings.ToLower(a.login), strings.ToLower(b.login)) })
	out := []map[string]any{}
	for _, m := range paginate(w, r, ms) {
		out = append(out, s.user(m.login))
	}
	writeJSON(w, http.StatusOK, out)
}

// listTeamInvitations serves GET /orgs/{org}/teams/{team}/invitations: the
// pending memberships, as GitHub lists the organization invitations made
// through the team. The fake keeps no invitation IDs for them; it derives
// one from the login.
func (s *Server) listTeamInvitations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.teams[key(r.PathValue("org"), r.PathValue("team"))]
	if t == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var ms []*membership
	for _, m := range t.members {
		if m.state == "pending" {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b *membership) int { return strings.Compare(strings.ToLower(a.login), strings.ToLower(b.login)) })
	out := []map[string]any{}
	for _, m := range paginate(w, r, ms) {
		out = append(out, map[string]any{
			"id":                  userID(m.login),
			"login":               m.login,
			"email":               nil,
			"role":                "direct_member",
			"inviter":             s.user("accessbot[bot]"),
			"team_count":          1,
			"invitation_team_url": fmt.Sprintf("%s/organizations/%s/invitations/%d/teams", s.srv.URL, t.org, userID(m.login)),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// ---------------------------------------------------------------------------
// Repository collaborators and invitations.

func (s *Server) repoFor(w http.ResponseWriter, r *http.Request) *repo {
	rp := s.repos[key(r.PathValue("owner"), r.PathValue("repo"))]
	if rp == nil {
		writeError(w, http.StatusNotFound, "Not Found")
	}
	return rp
}

// listCollaborators serves GET /repos/{owner}/{repo}/collaborators with
// ?affiliation=direct|outside|all.
func (s *Server) listCollaborators(w http.ResponseWriter, r *http.Request) {
	aff := r.URL.Query().Get("affiliation")
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	logins := map[string]string{} // lower → display
	for l, c := range rp.collaborators {
		if aff == "outside" && !s.outsiders[l] {
			continue
		}
		logins[l] = c.login
	}
	if aff == "" || aff == "all" {
		for l, c := range rp.indirect {
			logins[l] = c.login
		}
	}
	keys := make([]string, 0, len(logins))
	for l := range logins {
		keys = append(keys, l)
	}
	slices.Sort(keys)
	out := []map[string]any{}
	for _, l := range paginate(w, r, keys) {
		out = append(out, s.collaboratorJSON(logins[l], rp.effective(l)))
	}
	writeJSON(w, http.StatusOK, out)
}

// isCollaborator serves GET /repos/{owner}/{repo}/collaborators/{login}:
// 204 when the user has any access, 404 otherwise.
func (s *Server) isCollaborator(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	if rp.effective(r.PathValue("login")) == "" {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putCollaborator serves PUT /repos/{owner}/{repo}/collaborators/{login}:
// an existing collaborator's permission is set (204, also when lowered, as
// on GitHub); an organization member is added (204); an outsider gets an
// invitation (201 with it), or their pending invitation is updated.
func (s *Server) putCollaborator(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Permission string `json:"permission"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Permission == "" {
		body.Permission = "push"
	}
	if !validPerm(body.Permission) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"message":           "Validation Failed",
			"errors":            []map[string]string{{"resource": "Repository", "field": "permission", "code": "invalid"}},
			"documentation_url": "https://docs.github.com/rest/collaborators/collaborators#add-a-repository-collaborator",
		})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	login := r.PathValue("login")
	l := strings.ToLower(login)
	if c := rp.collaborators[l]; c != nil {
		c.perm = body.Permission
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !s.outsiders[l] {
		rp.collaborators[l] = &collaborator{login: login, perm: body.Permission}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for _, inv := range rp.invitations {
		if strings.ToLower(inv.login) == l {
			inv.perm = body.Permission
			writeJSON(w, http.StatusCreated, s.invitationJSON(rp, inv))
			return
		}
	}
	s.nextID++
	inv := &invitation{id: s.nextID, login: login, perm: body.Permission, created: time.Now()}
	rp.invitations = append(rp.invitations, inv)
	writeJSON(w, http.StatusCreated, s.invitationJSON(rp, inv))
}

// deleteCollaborator serves DELETE /repos/{owner}/{repo}/collaborators/{login}:
// 204 whether or not the user was a collaborator, as on GitHub. Pending
// invitations are left alone.
func (s *Server) deleteCollaborator(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	delete(rp.collaborators, strings.ToLower(r.PathValue("login")))
	w.WriteHeader(http.StatusNoContent)
}

// getPermission serves GET
// /repos/{owner}/{repo}/collaborators/{login}/permission.
func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	login := r.PathValue("login")
	perm := rp.effective(login)
	writeJSON(w, http.StatusOK, map[string]any{
		"permission": legacyPermission(perm),
		"role_name":  roleName(perm),
		"user":       s.collaboratorJSON(login, perm),
	})
}

// listInvitations serves GET /repos/{owner}/{repo}/invitations.
func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	out := []map[string]any{}
	for _, inv := range paginate(w, r, rp.invitations) {
		out = append(out, s.invitationJSON(rp, inv))
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteInvitation serves DELETE /repos/{owner}/{repo}/invitations/{id}.
func (s *Server) deleteInvitation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoFor(w, r)
	if rp == nil {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(rp.invitations, func(inv *invitation) bool { return inv.id == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	rp.invitations = slices.Delete(rp.invitations, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// ---------------------------------------------------------------------------
// GitHub App installation tokens.

// createInstallationToken serves POST /app/installations/{id}/access_tokens:
// it checks the app's JWT (Authorization: Bearer) and mints a token valid
// for an hour.
func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	if _, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	scheme, jwt, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || jwt == "" {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg := s.checkJWT(jwt); msg != "" {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	// A token may be narrowed to repositories and permissions; GitHub
	// refuses permissions the installation was not granted.
	var ask TokenRequest
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)); len(body) > 0 {
		if err := json.Unmarshal(body, &ask); err != nil {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
	}
	granted := s.credentials.permissions
	if granted == nil {
		granted = map[string]string{"members": "write", "administration": "write", "metadata": "read"}
	}
	for name := range ask.Permissions {
		if granted[name] == "" {
			writeError(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.")
			return
		}
	}
	s.credentials.tokenRequests = append(s.credentials.tokenRequests, ask)
	perms, selection := granted, "all"
	if len(ask.Permissions) > 0 {
		perms = ask.Permissions
	}
	if len(ask.Repositories) > 0 {
		selection = "selected"
	}
	s.nextID++
	tok := fmt.Sprintf("ghs_fake%032d", s.nextID)
	s.minted = append(s.minted, tok)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":                tok,
		"expires_at":           time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions":          perms,
		"repository_selection": selection,
	})
}

// checkJWT validates an app JWT as GitHub does, returning "" when it is
// acceptable and GitHub's complaint otherwise. Called with s.mu held.
func (s *Server) checkJWT(jwt string) string {
	const undecodable = "A JSON web token could not be decoded"
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return undecodable
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat int64           `json:"iat"`
		Exp int64           `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return undecodable
	}
	if header.Alg != "RS256" {
		return undecodable
	}
	iss, err := strconv.ParseInt(strings.Trim(string(claims.Iss), `"`), 10, 64)
	if err != nil {
		return "'Issuer' claim ('iss') must be an Integer"
	}
	now := time.Now().Unix()
	if claims.Exp <= now {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	if claims.Exp-claims.Iat > 600+60 {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	if len(s.appKeys) == 0 {
		return ""
	}
	key := s.appKeys[iss]
	if key == nil {
		return "Integration not found"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return undecodable
	}
	return ""
}
