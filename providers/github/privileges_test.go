package github_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// TestExcessPrivilegesOfAnApp checks the report for a GitHub App
// installation: nothing for one with exactly what the resources need;
// every extra permission, a level above write and access to every
// repository for an over-privileged one.
func TestExcessPrivilegesOfAnApp(t *testing.T) {
	srv := githubtest.NewServer(t)
	keyFile, pub := writeAppKey(t)
	srv.SetAppKey(4242, pub)
	p, err := github.New(github.Config{AppID: 4242, InstallationID: 77, PrivateKeyFile: keyFile, APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	settings := []json.RawMessage{teamSettings("acme", "ops"), json.RawMessage(`{"org":"acme","repo":"payments","permission":"push"}`)}

	srv.SetInstallation(map[string]string{"members": "write", "administration": "write", "metadata": "read"}, "selected")
	got, err := p.ExcessPrivileges(context.Background(), settings)
	if err != nil || len(got) != 0 {
		t.Fatalf("least privilege: report %q, %v; want nothing", got, err)
	}

	srv.SetInstallation(map[string]string{"members": "admin", "administration": "write", "metadata": "read", "contents": "write", "secrets": "read"}, "all")
	got, err = p.ExcessPrivileges(context.Background(), settings)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"contents: write, which no resource needs", "secrets: read, which no resource needs", "members: admin where write is enough", "every repository; the resources name acme/payments"} {
		if !strings.Contains(all, want) {
			t.Errorf("report lacks %q:\n%s", want, all)
		}
	}
}

// TestExcessPrivilegesOfAToken checks the report for a classic token: every
// scope beyond what the resources need.
func TestExcessPrivilegesOfAToken(t *testing.T) {
	srv := githubtest.NewServer(t)
	p, err := github.New(github.Config{Token: "ghp_test", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetTokenScopes("admin:org, delete_repo, repo")
	got, err := p.ExcessPrivileges(context.Background(), []json.RawMessage{teamSettings("acme", "ops")})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "scope delete_repo") || !strings.Contains(all, "scope repo,") && !strings.Contains(all, "scope repo") || strings.Contains(all, "admin:org") {
		t.Errorf("report %q: want delete_repo and repo (no repository resource), not admin:org", all)
	}
}

// TestInstallationTokensNarrowed checks that once the privileges are
// checked, the installation tokens minted are narrowed to the resources'
// repositories and to the permissions granting needs, among those the
// installation has, and that grants still work with them.
func TestInstallationTokensNarrowed(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	srv.AddRepo("acme", "payments")
	keyFile, pub := writeAppKey(t)
	srv.SetAppKey(4242, pub)
	srv.SetInstallation(map[string]string{"members": "write", "administration": "write", "metadata": "read", "contents": "write"}, "all")
	p, err := github.New(github.Config{AppID: 4242, InstallationID: 77, PrivateKeyFile: keyFile, APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	repo := json.RawMessage(`{"org":"acme","repo":"payments","permission":"push"}`)
	if _, err := p.ExcessPrivileges(context.Background(), []json.RawMessage{teamSettings("acme", "ops"), repo}); err != nil {
		t.Fatal(err)
	}
	grant(t, p, teamSettings("acme", "ops"), "alice")
	grant(t, p, repo, "alice")
	reqs := srv.TokenRequests()
	if len(reqs) == 0 {
		t.Fatal("no installation token minted")
	}
	last := reqs[len(reqs)-1]
	want := map[string]string{"members": "write", "administration": "write", "metadata": "read"}
	if len(last.Repositories) != 1 || last.Repositories[0] != "payments" || len(last.Permissions) != len(want) {
		t.Fatalf("token asked for %+v; want repositories [payments] and %v", last, want)
	}
	for k, v := range want {
		if last.Permissions[k] != v {
			t.Errorf("token permission %s = %q, want %q", k, last.Permissions[k], v)
		}
	}

	// An installation without administration (teams only) is not asked
	// for it: GitHub would refuse every token.
	srv.SetInstallation(map[string]string{"members": "write", "metadata": "read"}, "selected")
	if _, err := p.ExcessPrivileges(context.Background(), []json.RawMessage{teamSettings("acme", "ops"), repo}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Holds(context.Background(), approvals.HoldsRequest{Identity: "alice", Settings: teamSettings("acme", "ops")}); err != nil {
		t.Fatalf("a call after narrowing to what the installation has: %v", err)
	}
	reqs = srv.TokenRequests()
	if got := reqs[len(reqs)-1].Permissions; got["administration"] != "" {
		t.Errorf("token asked for administration the installation does not have: %v", got)
	}
}
