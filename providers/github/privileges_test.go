package github_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

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
