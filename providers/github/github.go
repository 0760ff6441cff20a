package github

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
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"

	"github.com/accessbot/accessbot/approvals"
)

// Name is the provider's name in the policy (provider: github) and the key
// of its identities.
const Name = "github"

// DefaultTimeout bounds one HTTP attempt when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// DefaultAPIURL is the REST API of github.com.
const DefaultAPIURL = "https://api.github.com/"

// Config says how to reach and authenticate to GitHub. Exactly one of
// Token and the GitHub App triple (AppID, InstallationID, PrivateKeyFile)
// must be set.
type Config struct {
	// Token is a personal access token or any other token sent as
	// "Authorization: Bearer" (ACCESSBOT_GITHUB_TOKEN).
	Token string
	// AppID, InstallationID and PrivateKeyFile configure GitHub App auth
	// (ACCESSBOT_GITHUB_APP_ID, ACCESSBOT_GITHUB_APP_INSTALLATION_ID,
	// ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE): the provider mints short-lived
	// installation tokens with the app's private key (PEM, RSA).
	AppID          int64
	InstallationID int64
	PrivateKeyFile string
	// APIURL is the REST API base URL (ACCESSBOT_GITHUB_API_URL), for GitHub
	// Enterprise Server (https://ghe.example.com/api/v3/) and tests; empty
	// means DefaultAPIURL. It is used as given, plus a trailing slash.
	APIURL string
	// HTTPClient, when set, supplies the transport and the per-attempt
	// timeout; the provider adds authentication on top of its transport.
	// Default: http.DefaultTransport with DefaultTimeout.
	HTTPClient *http.Client
}

// Provider grants GitHub team memberships and repository permissions. It is
// safe for concurrent use.
type Provider struct {
	client *gh.Client
	// secret is the configured token, removed from every error as a second
	// line of defence (no error is built from it in the first place).
	secret string
	// app, with GitHub App auth, reads the installation's own settings
	// (ExcessPrivileges).
	app *appAuth
}

var (
	_ approvals.Provider     = (*Provider)(nil)
	_ approvals.HolderLister = (*Provider)(nil)
)

// Environment variable names, for configuration errors.
const (
	envToken          = "ACCESSBOT_GITHUB_TOKEN"
	envAppID          = "ACCESSBOT_GITHUB_APP_ID"
	envInstallationID = "ACCESSBOT_GITHUB_APP_INSTALLATION_ID"
	envPrivateKeyFile = "ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE"
	envAPIURL         = "ACCESSBOT_GITHUB_API_URL"
)

// New returns a provider for cfg. It makes no request: bad credentials show
// up as permanent errors on the first call.
func New(cfg Config) (*Provider, error) {
	app := cfg.AppID != 0 || cfg.InstallationID != 0 || cfg.PrivateKeyFile != ""
	switch {
	case cfg.Token != "" && app:
		return nil, fmt.Errorf("github: configure either %s or the GitHub App (%s, %s, %s), not both",
			envToken, envAppID, envInstallationID, envPrivateKeyFile)
	case cfg.Token == "" && !app:
		return nil, fmt.Errorf("github: no credentials: set %s, or %s, %s and %s for GitHub App auth",
			envToken, envAppID, envInstallationID, envPrivateKeyFile)
	case app:
		var missing []string
		if cfg.AppID == 0 {
			missing = append(missing, envAppID)
		}
		if cfg.InstallationID == 0 {
			missing = append(missing, envInstallationID)
		}
		if cfg.PrivateKeyFile == "" {
			missing = append(missing, envPrivateKeyFile)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("github: GitHub App auth is incomplete: set %s", strings.Join(missing, ", "))
		}
	}

	base, err := apiURL(cfg.APIURL)
	if err != nil {
		return nil, err
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	transport := hc.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}

	var rt http.RoundTripper
	var installation *appAuth
	if cfg.Token != "" {
		rt = &tokenTransport{token: cfg.Token, host: base.Host, next: transport}
	} else {
		key, err := os.ReadFile(cfg.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("github: read %s: %w", envPrivateKeyFile, err)
		}
		itr, err := ghinstallation.New(transport, cfg.AppID, cfg.InstallationID, key)
		if err != nil {
			return nil, fmt.Errorf("github: %s %s: %v", envPrivateKeyFile, cfg.PrivateKeyFile, err)
		}
		// Installation tokens are minted at the same server as the API
		// calls go to: POST {BaseURL}/app/installations/{id}/access_tokens.
		itr.BaseURL = strings.TrimSuffix(base.String(), "/")
		itr.Client = &http.Client{Transport: transport, Timeout: hc.Timeout}
		if installation, err = newAppAuth(transport, hc.Timeout, base, cfg.AppID, cfg.InstallationID, key); err != nil {
			return nil, err
		}
		installation.tokens.Store(itr)
		rt = installation
		installation.mint = func(opts *gh.InstallationTokenOptions) (*ghinstallation.Transport, error) {
			t, err := ghinstallation.New(transport, cfg.AppID, cfg.InstallationID, key)
			if err != nil {
				return nil, err
			}
			t.BaseURL, t.Client, t.InstallationTokenOptions = itr.BaseURL, itr.Client, opts
			return t, nil
		}
	}

	checkRedirect := hc.CheckRedirect
	if checkRedirect == nil {
		// Credentials are added by the transport on every hop, so never
		// follow a redirect to another host.
		checkRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("%w %s", errRedirect, req.URL.Host)
			}
			return nil
		}
	}
	// The timeout is applied per request by the transport, not as
	// http.Client.Timeout: the client's timer is stopped only when the body
	// it handed out is closed, and go-github replaces an error answer's
	// body with a copy and never closes the original, so each error answer
	// kept a goroutine and its timer for the whole timeout.
	if hc.Timeout > 0 {
		rt = timeoutTransport{next: rt, timeout: hc.Timeout}
	}
	rt = closeErrorBodies{next: rt}
	client := gh.NewClient(&http.Client{Transport: rt, CheckRedirect: checkRedirect, Jar: hc.Jar})
	client.BaseURL = base
	client.UserAgent = "accessbot"
	return &Provider{client: client, secret: cfg.Token, app: installation}, nil
}

// errRedirect refuses a redirect that would carry credentials elsewhere.
var errRedirect = errors.New("refusing redirect to another host")

// apiURL parses the API base URL and gives it the trailing slash go-github
// needs.
func apiURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("github: %s is not a valid URL", envAPIURL)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github: %s %q is not an absolute http(s) URL like https://ghe.example.com/api/v3/", envAPIURL, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("github: %s %q must not carry credentials; use %s or the GitHub App settings", envAPIURL, u.Redacted(), envToken)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// tokenTransport adds "Authorization: Bearer TOKEN" to requests for the API
// host, and to no other.
type tokenTransport struct {
	token string
	host  string
	next  http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(req)
}

// maxErrorBody bounds how much of an error answer is kept.
const maxErrorBody = 1 << 20

// closeErrorBodies makes sure no error answer keeps its connection open.
// ghinstallation returns a failed installation token request as an
// *HTTPError holding the response with its body unread and open "for the
// caller to inspect"; nothing does, so the connection, its goroutines and
// the request's timer stayed until the client's 30-second timeout, for
// every call while GitHub refused. And go-github swaps an error answer's
// body for a copy, so the original is released only if it was read to its
// end. Here every error answer is read (up to maxErrorBody) and closed at
// once, and a copy of what was read is handed on.
type closeErrorBodies struct{ next http.RoundTripper }

func (t closeErrorBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	var hte *ghinstallation.HTTPError
	if err != nil && errors.As(err, &hte) && hte.Response != nil && hte.Response.Body != nil {
		hte.Response.Body = release(hte.Response.Body)
	}
	if err == nil && resp != nil && resp.StatusCode >= 400 && resp.Body != nil {
		resp.Body = release(resp.Body)
	}
	return resp, err
}

// release reads body (up to maxErrorBody; a longer one costs its
// connection, not a wait), closes it, and returns a copy of what it read.
func release(body io.ReadCloser) io.ReadCloser {
	data, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	body.Close()
	return io.NopCloser(bytes.NewReader(data))
}

// timeoutTransport bounds each request, its answer's body included, by
// timeout, and releases the deadline as soon as the body is read to its
// end or closed, or the request fails.
type timeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil || resp == nil || resp.Body == nil {
		cancel()
		return resp, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody calls cancel once its body is read to the end or closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.cancel()
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Name returns "github".
func (p *Provider) Name() string { return Name }

// parse decodes the settings and checks the login of a call. Its errors are
// permanent.
func parse(raw json.RawMessage, login string) (Settings, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return Settings{}, err
	}
	if !validName(login) {
		return Settings{}, fmt.Errorf("github: %q is not a valid GitHub login (check the identities in the policy)", login)
	}
	return s, nil
}

// Grant gives the identity the access the settings name. Team: membership
// with role member; a user outside the organization gets an invitation and
// the membership stays pending until they accept it. Repository: direct
// collaborator with the permission; a user outside the organization gets an
// invitation, reported in GrantResult.Message. Access already there
// (retries after a timeout) is left as it is, so a grant never lowers a
// role or a permission.
//
// API docs: https://docs.github.com/rest/teams/members#add-or-update-team-membership-for-a-user
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#add-a-repository-collaborator
func (p *Provider) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	if s.Team != "" {
		return p.grantTeam(ctx, s, req.Identity)
	}
	return p.grantRepo(ctx, s, req.Identity)
}

func (p *Provider) grantTeam(ctx context.Context, s Settings, login string) (approvals.GrantResult, error) {
	m, err := p.teamMembership(ctx, s, login)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	if m == nil {
		c := call{method: "PUT", path: teamMembershipPath(s, login), kind: kindTeam}
		m, _, err = p.client.Teams.AddTeamMembershipBySlug(ctx, s.Org, s.Team, login, &gh.TeamAddTeamMembershipOptions{Role: "member"})
		if err != nil {
			return approvals.GrantResult{}, p.fail(c, err)
		}
	}
	if m.GetState() == "pending" {
		return approvals.GrantResult{Message: fmt.Sprintf("invitation to join %s sent to %s; team membership starts when it is accepted", s.Org, login)}, nil
	}
	return approvals.GrantResult{}, nil
}

func (p *Provider) grantRepo(ctx context.Context, s Settings, login string) (approvals.GrantResult, error) {
	want, _ := rank(s.Permission)
	have, err := p.repoPermission(ctx, s, login)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	if have >= want {
		return approvals.GrantResult{}, nil
	}
	c := call{method: "PUT", path: fmt.Sprintf("/repos/%s/%s/collaborators/%s", s.Org, s.Repo, login), kind: kindRepo}
	inv, resp, err := p.client.Repositories.AddCollaborator(ctx, s.Org, s.Repo, login, &gh.RepositoryAddCollaboratorOptions{Permission: s.Permission})
	if err != nil {
		var er *gh.ErrorResponse
		if errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnprocessableEntity {
			// Some GitHub versions refuse a second invitation; one that is
			// already pending is the grant we are retrying.
			if ids, lerr := p.invitations(ctx, s, login); lerr == nil && len(ids) > 0 {
				return approvals.GrantResult{Message: invitationMessage(login)}, nil
			}
		}
		return approvals.GrantResult{}, p.fail(c, err)
	}
	if resp.StatusCode == http.StatusCreated || inv.GetID() != 0 {
		return approvals.GrantResult{Message: invitationMessage(login)}, nil
	}
	return approvals.GrantResult{}, nil
}

func invitationMessage(login string) string {
	return fmt.Sprintf("invitation sent to %s; access starts when it is accepted", login)
}

// Revoke removes the access the settings name. Team: the membership
// (active or pending). Repository: first every pending invitation of the
// identity, then the direct collaborator, in that order so that an
// invitation accepted in between is still removed. Access already gone
// (404) counts as success.
//
// API docs: https://docs.github.com/rest/teams/members#remove-team-membership-for-a-user
//
// API docs: https://docs.github.com/rest/collaborators/invitations#delete-a-repository-invitation
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#remove-a-repository-collaborator
func (p *Provider) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return err
	}
	login := req.Identity
	if s.Team != "" {
		c := call{method: "DELETE", path: teamMembershipPath(s, login), kind: kindTeam}
		_, err := p.client.Teams.RemoveTeamMembershipBySlug(ctx, s.Org, s.Team, login)
		if err != nil && !isNotFound(err) {
			return p.fail(c, err)
		}
		return nil
	}

	ids, err := p.invitations(ctx, s, login)
	if err != nil {
		return err
	}
	for _, id := range ids {
		c := call{method: "DELETE", path: fmt.Sprintf("/repos/%s/%s/invitations/%d", s.Org, s.Repo, id), kind: kindRepo}
		if _, err := p.client.Repositories.DeleteInvitation(ctx, s.Org, s.Repo, id); err != nil && !isNotFound(err) {
			return p.fail(c, err)
		}
	}
	c := call{method: "DELETE", path: fmt.Sprintf("/repos/%s/%s/collaborators/%s", s.Org, s.Repo, login), kind: kindRepo}
	if _, err := p.client.Repositories.RemoveCollaborator(ctx, s.Org, s.Repo, login); err != nil && !isNotFound(err) {
		return p.fail(c, err)
	}
	return nil
}

// Holds reports whether revoking the access at expiry would take away
// something the identity already has, which is when a request must be
// refused as "already held":
//
//   - Team: any membership, active or pending. Pending means the user was
//     invited to the organization through the team; the DELETE at expiry
//     would cancel that invitation too. Members of a child team count, as
//     GitHub reports them as members.
//   - Repository: the user's effective permission (direct, through a team
//     or the organization's base permission) is at least the requested one;
//     or the user is already a direct collaborator with a lower permission
//     (the revoke removes the collaborator, and with it what they had
//     before); or an invitation to the repository is pending for them.
//
// After a grant, Holds is true, also while its invitation is pending.
//
// API docs: https://docs.github.com/rest/teams/members#get-team-membership-for-a-user
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user
func (p *Provider) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return false, err
	}
	login := req.Identity
	if s.Team != "" {
		m, err := p.teamMembership(ctx, s, login)
		return m != nil, err
	}
	want, _ := rank(s.Permission)
	have, err := p.repoPermission(ctx, s, login)
	if err != nil {
		return false, err
	}
	if have >= want {
		return true, nil
	}
	if have > 0 {
		direct, err := p.isDirectCollaborator(ctx, s, login)
		if err != nil || direct {
			return direct, err
		}
	}
	ids, err := p.invitations(ctx, s, login)
	return len(ids) > 0, err
}

// Holders lists who holds the access, for drift detection. Team: the
// members (GitHub includes child teams' members) and the users invited to
// the organization through the team, whose membership is pending.
// Repository: the direct collaborators whose permission is at least the
// requested one, and the users with a pending invitation of at least that
// permission; access through teams or the organization's base permission
// is not the resource's to revoke. Pending invitations are listed because
// Holds counts them and Revoke cancels them: a grant to a user outside the
// organization is listed from the moment it is made.
//
// API docs: https://docs.github.com/rest/teams/members#list-team-members
//
// API docs: https://docs.github.com/rest/teams/members#list-pending-team-invitations
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#list-repository-collaborators
//
// API docs: https://docs.github.com/rest/collaborators/invitations#list-repository-invitations
func (p *Provider) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	var logins []string
	if s.Team != "" {
		c := call{method: "GET", path: fmt.Sprintf("/orgs/%s/teams/%s/members", s.Org, s.Team), kind: kindTeam}
		opts := &gh.TeamListTeamMembersOptions{Role: "all", ListOptions: gh.ListOptions{PerPage: 100}}
		for {
			users, resp, err := p.client.Teams.ListTeamMembersBySlug(ctx, s.Org, s.Team, opts)
			if err != nil {
				return nil, p.fail(c, err)
			}
			for _, u := range users {
				logins = append(logins, u.GetLogin())
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
		c = call{method: "GET", path: fmt.Sprintf("/orgs/%s/teams/%s/invitations", s.Org, s.Team), kind: kindTeam}
		invOpts := &gh.ListOptions{PerPage: 100}
		for {
			invs, resp, err := p.client.Teams.ListPendingTeamInvitationsBySlug(ctx, s.Org, s.Team, invOpts)
			if err != nil {
				return nil, p.fail(c, err)
			}
			for _, inv := range invs {
				if inv.GetLogin() != "" { // an invitation by e-mail names no account
					logins = append(logins, inv.GetLogin())
				}
			}
			if resp.NextPage == 0 {
				return dedupeLogins(logins), nil
			}
			invOpts.Page = resp.NextPage
		}
	}
	want, _ := rank(s.Permission)
	err = p.eachDirectCollaborator(ctx, s, func(u *gh.User) bool {
		if userRank(u) >= want {
			logins = append(logins, u.GetLogin())
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	err = p.eachInvitation(ctx, s, func(inv *gh.RepositoryInvitation) {
		if r, _ := rank(inv.GetPermissions()); inv.Invitee != nil && r >= want {
			logins = append(logins, inv.Invitee.GetLogin())
		}
	})
	if err != nil {
		return nil, err
	}
	return dedupeLogins(logins), nil
}

// dedupeLogins drops repeated logins (compared case-insensitively, as
// GitHub compares them), keeping the first spelling of each.
func dedupeLogins(logins []string) []string {
	seen := make(map[string]bool, len(logins))
	out := logins[:0]
	for _, l := range logins {
		if k := strings.ToLower(l); !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	return out
}

func teamMembershipPath(s Settings, login string) string {
	return fmt.Sprintf("/orgs/%s/teams/%s/memberships/%s", s.Org, s.Team, login)
}

// teamMembership returns the user's membership, or nil when there is none.
//
// API docs: https://docs.github.com/rest/teams/members#get-team-membership-for-a-user
func (p *Provider) teamMembership(ctx context.Context, s Settings, login string) (*gh.Membership, error) {
	c := call{method: "GET", path: teamMembershipPath(s, login), kind: kindTeam}
	m, _, err := p.client.Teams.GetTeamMembershipBySlug(ctx, s.Org, s.Team, login)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, p.fail(c, err)
	}
	return m, nil
}

// permissionLevel is GitHub's answer to the repository permission request.
// go-github v60's RepositoryPermissionLevel lacks role_name, which is the
// only field telling triage and maintain apart from read and write.
type permissionLevel struct {
	// Permission is the legacy level: admin, write, read or none.
	Permission string `json:"permission"`
	// RoleName is admin, maintain, write, triage, read, a custom role, or "".
	RoleName string   `json:"role_name"`
	User     *gh.User `json:"user"`
}

// repoPermission returns the rank of the user's effective permission on
// the repository (0: none).
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user
func (p *Provider) repoPermission(ctx context.Context, s Settings, login string) (int, error) {
	path := fmt.Sprintf("repos/%s/%s/collaborators/%s/permission", s.Org, s.Repo, login)
	c := call{method: "GET", path: "/" + path, kind: kindRepo}
	req, err := p.client.NewRequest("GET", path, nil)
	if err != nil {
		return 0, p.fail(c, err)
	}
	var pl permissionLevel
	if _, err := p.client.Do(ctx, req, &pl); err != nil {
		return 0, p.fail(c, err)
	}
	if r, ok := rank(pl.RoleName); ok && pl.RoleName != "" {
		return r, nil
	}
	if pl.User != nil && len(pl.User.Permissions) > 0 {
		return permissionsRank(pl.User.Permissions), nil
	}
	r, _ := rank(pl.Permission)
	return r, nil
}

// userRank returns the rank of a collaborator's permission: from role_name
// when it is a base role, else from the permissions map (custom roles).
func userRank(u *gh.User) int {
	if r, ok := rank(u.GetRoleName()); ok && u.GetRoleName() != "" {
		return r
	}
	return permissionsRank(u.Permissions)
}

// permissionsRank returns the highest permission set in GitHub's
// permissions map ({"pull":true,"triage":true,"push":false,...}).
func permissionsRank(m map[string]bool) int {
	best := 0
	for perm, ok := range m {
		if r, known := rank(perm); ok && known && r > best {
			best = r
		}
	}
	return best
}

// eachDirectCollaborator calls fn for every direct collaborator of the
// repository, all pages, until fn returns false.
//
// API docs: https://docs.github.com/rest/collaborators/collaborators#list-repository-collaborators
func (p *Provider) eachDirectCollaborator(ctx context.Context, s Settings, fn func(*gh.User) bool) error {
	c := call{method: "GET", path: fmt.Sprintf("/repos/%s/%s/collaborators", s.Org, s.Repo), kind: kindRepo}
	opts := &gh.ListCollaboratorsOptions{Affiliation: "direct", ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		users, resp, err := p.client.Repositories.ListCollaborators(ctx, s.Org, s.Repo, opts)
		if err != nil {
			return p.fail(c, err)
		}
		for _, u := range users {
			if !fn(u) {
				return nil
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// isDirectCollaborator reports whether login is a direct collaborator.
func (p *Provider) isDirectCollaborator(ctx context.Context, s Settings, login string) (bool, error) {
	found := false
	err := p.eachDirectCollaborator(ctx, s, func(u *gh.User) bool {
		found = strings.EqualFold(u.GetLogin(), login)
		return !found
	})
	return found, err
}

// invitations returns the IDs of the repository's pending invitations for
// login (logins are case-insensitive), all pages.
//
// API docs: https://docs.github.com/rest/collaborators/invitations#list-repository-invitations
func (p *Provider) invitations(ctx context.Context, s Settings, login string) ([]int64, error) {
	var ids []int64
	err := p.eachInvitation(ctx, s, func(inv *gh.RepositoryInvitation) {
		if inv.Invitee != nil && strings.EqualFold(inv.Invitee.GetLogin(), login) {
			ids = append(ids, inv.GetID())
		}
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// eachInvitation calls fn for every pending invitation to the repository,
// all pages.
//
// API docs: https://docs.github.com/rest/collaborators/invitations#list-repository-invitations
func (p *Provider) eachInvitation(ctx context.Context, s Settings, fn func(*gh.RepositoryInvitation)) error {
	c := call{method: "GET", path: fmt.Sprintf("/repos/%s/%s/invitations", s.Org, s.Repo), kind: kindRepo}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		invs, resp, err := p.client.Repositories.ListInvitations(ctx, s.Org, s.Repo, opts)
		if err != nil {
			return p.fail(c, err)
		}
		for _, inv := range invs {
			fn(inv)
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}
