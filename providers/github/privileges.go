package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"

	"github.com/accessbot/accessbot/approvals"
)

var _ approvals.PrivilegeChecker = (*Provider)(nil)

// appAuth reads the GitHub App installation's own settings with the app's
// JWT, which an installation token cannot do.
type appAuth struct {
	client         *gh.Client
	installationID int64
	// tokens mints and carries the installation tokens of every API
	// call; narrow swaps it for one that asks for narrower tokens.
	tokens atomic.Pointer[ghinstallation.Transport]
	mint   func(opts *gh.InstallationTokenOptions) (*ghinstallation.Transport, error)
}

// RoundTrip sends req with an installation token.
func (a *appAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	return a.tokens.Load().RoundTrip(req)
}

// narrow makes the installation tokens minted from now on carry only the
// permissions granting needs, among those the installation has, and reach
// only the repositories the resources name (when they name any): a token
// taken from the bot can do no more than the policy.
func (a *appAuth) narrow(granted map[string]string, needed map[string]string, repos []string) error {
	perms := &gh.InstallationPermissions{}
	for name, level := range needed {
		if granted[name] == "" {
			continue // asking for it would make GitHub refuse every token
		}
		l := level
		switch name {
		case "members":
			perms.Members = &l
		case "administration":
			perms.Administration = &l
		case "metadata":
			perms.Metadata = &l
		}
	}
	opts := &gh.InstallationTokenOptions{Permissions: perms}
	for _, r := range repos {
		_, name, _ := strings.Cut(r, "/")
		if !slices.Contains(opts.Repositories, name) {
			opts.Repositories = append(opts.Repositories, name)
		}
	}
	t, err := a.mint(opts)
	if err != nil {
		return err
	}
	a.tokens.Store(t)
	return nil
}

func newAppAuth(transport http.RoundTripper, timeout time.Duration, base *url.URL, appID, installationID int64, key []byte) (*appAuth, error) {
	atr, err := ghinstallation.NewAppsTransport(transport, appID, key)
	if err != nil {
		return nil, fmt.Errorf("github: %s: %v", envPrivateKeyFile, err)
	}
	atr.BaseURL = strings.TrimSuffix(base.String(), "/")
	c := gh.NewClient(&http.Client{Transport: atr, Timeout: timeout})
	c.BaseURL = base
	c.UserAgent = "accessbot"
	return &appAuth{client: c, installationID: installationID}, nil
}

// ExcessPrivileges reports what the credentials can do beyond granting and
// revoking the teams and repositories the resources name. With a GitHub
// App it also narrows the installation tokens minted from then on to
// those needs (see appAuth.narrow), whatever the installation allows.
//
// With a GitHub App: every installation permission but members (for
// teams), administration (for repository collaborators) and metadata, a
// level above write, and access to all repositories where the resources
// name some or none. With a classic token: every OAuth scope beyond
// admin:org and repo; a fine-grained token lists no scopes, so nothing is
// reported for it.
//
// API docs: https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app
func (p *Provider) ExcessPrivileges(ctx context.Context, settings []json.RawMessage) ([]string, error) {
	var teams, repos []string
	for _, raw := range settings {
		var s Settings
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("github: settings %s: %v", raw, err)
		}
		if s.Team != "" {
			teams = append(teams, s.Org+"/"+s.Team)
		} else if s.Repo != "" {
			repos = append(repos, s.Org+"/"+s.Repo)
		}
	}
	if p.app != nil {
		return p.appExcess(ctx, len(teams) > 0, repos)
	}
	return p.tokenExcess(ctx, len(teams) > 0, len(repos) > 0)
}

func (p *Provider) appExcess(ctx context.Context, teams bool, repos []string) ([]string, error) {
	inst, _, err := p.app.client.Apps.GetInstallation(ctx, p.app.installationID)
	if err != nil {
		return nil, p.fail(call{http.MethodGet, fmt.Sprintf("/app/installations/%d", p.app.installationID), ""}, err)
	}
	needed := map[string]string{"metadata": "read"}
	if teams {
		needed["members"] = "write"
	}
	if len(repos) > 0 {
		needed["administration"] = "write"
	}
	var perms map[string]string
	raw, _ := json.Marshal(inst.GetPermissions())
	if err := json.Unmarshal(raw, &perms); err != nil {
		return nil, fmt.Errorf("github: installation permissions: %v", err)
	}
	if err := p.app.narrow(perms, needed, repos); err != nil {
		return nil, fmt.Errorf("github: narrow the installation tokens: %v", err)
	}
	var names []string
	for name := range perms {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []string
	for _, name := range names {
		level, want := perms[name], needed[name]
		switch {
		case want == "":
			out = append(out, fmt.Sprintf("the GitHub App installation has %s: %s, which no resource needs", name, level))
		case level == "admin" && want != "admin":
			out = append(out, fmt.Sprintf("the GitHub App installation has %s: admin where %s is enough", name, want))
		}
	}
	if inst.GetRepositorySelection() == "all" {
		if len(repos) == 0 {
			out = append(out, "the GitHub App installation can reach every repository, and no resource names one: select no repositories in its settings")
		} else {
			slices.Sort(repos)
			out = append(out, fmt.Sprintf("the GitHub App installation can reach every repository; the resources name %s: select only those", strings.Join(slices.Compact(repos), ", ")))
		}
	}
	return out, nil
}

// neededScopes are the classic OAuth scopes granting needs: admin:org for
// team memberships, repo for collaborators (it reaches every repository
// the token's user can, which is why a GitHub App is preferred).
func (p *Provider) tokenExcess(ctx context.Context, teams, repos bool) ([]string, error) {
	req, err := p.client.NewRequest(http.MethodGet, "rate_limit", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(ctx, req, nil)
	if err != nil {
		return nil, p.fail(call{http.MethodGet, "/rate_limit", ""}, err)
	}
	header := resp.Header.Get("X-OAuth-Scopes")
	if header == "" {
		return nil, nil
	}
	allowed := map[string]bool{}
	if teams {
		allowed["admin:org"], allowed["write:org"], allowed["read:org"] = true, true, true
	}
	if repos {
		allowed["repo"] = true
	}
	var out []string
	for _, sc := range strings.Split(header, ",") {
		sc = strings.TrimSpace(sc)
		if sc != "" && !allowed[sc] {
			out = append(out, fmt.Sprintf("the GitHub token has scope %s, which no resource needs", sc))
		}
	}
	return out, nil
}
