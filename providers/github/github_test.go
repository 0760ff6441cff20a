package github_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// testToken is the token the provider authenticates with; it must never
// show up in an error.
const testToken = "ghp_TESTSECRET0123456789abcdefABCDEF"

func newProvider(t *testing.T, srv *githubtest.Server) *github.Provider {
	t.Helper()
	p, err := github.New(github.Config{Token: testToken, APIURL: srv.URL(), HTTPClient: &http.Client{Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func teamSettings(org, team string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"org":%q,"team":%q}`, org, team))
}

func repoSettings(org, repo, perm string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"org":%q,"repo":%q,"permission":%q}`, org, repo, perm))
}

func grant(t *testing.T, p *github.Provider, settings json.RawMessage, login string) approvals.GrantResult {
	t.Helper()
	res, err := p.Grant(context.Background(), approvals.GrantRequest{RequestID: "r1", Resource: "res", Identity: login, Settings: settings})
	if err != nil {
		t.Fatalf("Grant(%s): %v", login, err)
	}
	return res
}

func revoke(t *testing.T, p *github.Provider, settings json.RawMessage, login string) {
	t.Helper()
	if err := p.Revoke(context.Background(), approvals.RevokeRequest{RequestID: "r1", Resource: "res", Identity: login, Settings: settings}); err != nil {
		t.Fatalf("Revoke(%s): %v", login, err)
	}
}

func holds(t *testing.T, p *github.Provider, settings json.RawMessage, login string) bool {
	t.Helper()
	ok, err := p.Holds(context.Background(), approvals.HoldsRequest{Resource: "res", Identity: login, Settings: settings})
	if err != nil {
		t.Fatalf("Holds(%s): %v", login, err)
	}
	return ok
}

func holders(t *testing.T, p *github.Provider, settings json.RawMessage) []string {
	t.Helper()
	got, err := p.Holders(context.Background(), approvals.HoldersRequest{Resource: "res", Settings: settings})
	if err != nil {
		t.Fatalf("Holders: %v", err)
	}
	slices.Sort(got)
	return got
}

func TestName(t *testing.T) {
	if got := newProvider(t, githubtest.NewServer(t)).Name(); got != "github" {
		t.Errorf("Name() = %q, want github", got)
	}
}

func TestTeamLifecycle(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeamMember("acme", "payments-admins", "bob")
	p := newProvider(t, srv)
	s := teamSettings("acme", "payments-admins")

	if holds(t, p, s, "alice") {
		t.Fatal("Holds(alice) = true before the grant")
	}
	if res := grant(t, p, s, "alice"); res.Message != "" {
		t.Errorf("Grant message = %q, want none for an active membership", res.Message)
	}
	if role, state, ok := srv.TeamMembership("acme", "payments-admins", "alice"); !ok || role != "member" || state != "active" {
		t.Fatalf("membership = %q %q %v, want member active", role, state, ok)
	}
	var put []githubtest.Recorded
	for _, r := range srv.Requests() {
		if r.Method == "PUT" {
			put = append(put, r)
		}
	}
	if len(put) != 1 || put[0].Path != "/orgs/acme/teams/payments-admins/memberships/alice" || put[0].Body != `{"role":"member"}`+"\n" {
		t.Fatalf("PUT requests = %+v, want one to the membership with role member", put)
	}
	if got := put[0].Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
	if !holds(t, p, s, "alice") {
		t.Error("Holds(alice) = false after the grant")
	}
	if got, want := holders(t, p, s), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("Holders = %v, want %v", got, want)
	}

	revoke(t, p, s, "alice")
	if got, want := srv.TeamMembers("acme", "payments-admins"), []string{"bob"}; !slices.Equal(got, want) {
		t.Errorf("members after revoke = %v, want %v", got, want)
	}
	if holds(t, p, s, "alice") {
		t.Error("Holds(alice) = true after the revoke")
	}
	// Revoking again (the membership is gone: 404) succeeds.
	revoke(t, p, s, "alice")
	if n := srv.Count("DELETE", "/orgs/acme/teams/payments-admins/memberships/alice"); n != 2 {
		t.Errorf("DELETE count = %d, want 2", n)
	}
}

func TestTeamGrantIsIdempotentAndNeverDemotes(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeamMaintainer("acme", "payments-admins", "alice")
	p := newProvider(t, srv)
	s := teamSettings("acme", "payments-admins")

	if !holds(t, p, s, "alice") {
		t.Fatal("Holds(maintainer) = false, want true")
	}
	grant(t, p, s, "alice") // a retried grant, or a race with Holds
	if n := srv.Count("PUT", "/"); n != 0 {
		t.Errorf("PUT count = %d, want 0: the membership is already there", n)
	}
	if role, _, _ := srv.TeamMembership("acme", "payments-admins", "alice"); role != "maintainer" {
		t.Errorf("role = %q, want maintainer kept", role)
	}
}

func TestTeamPendingMembership(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "payments-admins")
	srv.SetOutsider("alice")
	p := newProvider(t, srv)
	s := teamSettings("acme", "payments-admins")

	res := grant(t, p, s, "alice")
	if want := "invitation to join acme sent to alice; team membership starts when it is accepted"; res.Message != want {
		t.Errorf("Grant message = %q, want %q", res.Message, want)
	}
	if _, state, _ := srv.TeamMembership("acme", "payments-admins", "alice"); state != "pending" {
		t.Fatalf("state = %q, want pending", state)
	}
	if !holds(t, p, s, "alice") {
		t.Error("Holds = false for a pending membership; the revoke would cancel it, so it counts")
	}
	// GitHub's member list leaves pending memberships out; Holders adds the
	// team's pending invitations, as Holds counts them.
	if got := holders(t, p, s); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("Holders = %v, want [alice] (the pending membership)", got)
	}
	revoke(t, p, s, "alice")
	if _, _, ok := srv.TeamMembership("acme", "payments-admins", "alice"); ok {
		t.Error("pending membership survived the revoke")
	}
}

func TestRepoLifecycle(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddCollaborator("acme", "payments", "bob", "push")
	srv.AddCollaborator("acme", "payments", "carol", "pull")
	srv.AddCollaborator("acme", "payments", "dave", "admin")
	srv.SetIndirectPermission("acme", "payments", "erin", "push") // through a team: not ours to list
	p := newProvider(t, srv)
	s := repoSettings("acme", "payments", "push")

	if holds(t, p, s, "alice") {
		t.Fatal("Holds(alice) = true before the grant")
	}
	if res := grant(t, p, s, "alice"); res.Message != "" {
		t.Errorf("Grant message = %q, want none for direct access", res.Message)
	}
	if got := srv.Collaborators("acme", "payments")["alice"]; got != "push" {
		t.Fatalf("alice's permission = %q, want push", got)
	}
	reqs := srv.Requests()
	i := slices.IndexFunc(reqs, func(r githubtest.Recorded) bool { return r.Method == "PUT" })
	if i < 0 || reqs[i].Path != "/repos/acme/payments/collaborators/alice" || reqs[i].Body != `{"permission":"push"}`+"\n" {
		t.Fatalf("PUT = %+v, want the collaborator with permission push", reqs)
	}
	if !holds(t, p, s, "alice") {
		t.Error("Holds(alice) = false after the grant")
	}
	if got, want := holders(t, p, s), []string{"alice", "bob", "dave"}; !slices.Equal(got, want) {
		t.Errorf("Holders = %v, want %v (direct collaborators with push or more)", got, want)
	}
	if n := srv.Count("GET", "/repos/acme/payments/collaborators"); n == 0 {
		t.Error("Holders did not list collaborators")
	}
	for _, r := range srv.Requests() {
		if r.Path == "/repos/acme/payments/collaborators" && r.Query.Get("affiliation") != "direct" {
			t.Errorf("collaborators listed with affiliation %q, want direct", r.Query.Get("affiliation"))
		}
	}

	revoke(t, p, s, "alice")
	if _, ok := srv.Collaborators("acme", "payments")["alice"]; ok {
		t.Error("alice is still a collaborator after the revoke")
	}
	revoke(t, p, s, "alice") // absent: succeeds
}

func TestRepoInvitation(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme", "payments")
	srv.SetOutsider("alice")
	p := newProvider(t, srv)
	s := repoSettings("acme", "payments", "maintain")

	res := grant(t, p, s, "alice")
	if want := "invitation sent to alice; access starts when it is accepted"; res.Message != want {
		t.Errorf("Grant message = %q, want %q", res.Message, want)
	}
	if got := srv.Invitations("acme", "payments"); got["alice"] != "maintain" {
		t.Fatalf("invitations = %v, want alice maintain", got)
	}
	if !holds(t, p, s, "alice") {
		t.Error("Holds = false with the invitation pending; the revoke would cancel it, so it counts")
	}
	// A retried grant leaves one invitation.
	grant(t, p, s, "alice")
	if got := srv.Invitations("acme", "payments"); len(got) != 1 {
		t.Errorf("invitations after a second grant = %v, want one", got)
	}
	// Holders lists pending invitations of at least the permission.
	srv.SetOutsider("carol")
	pull := repoSettings("acme", "payments", "pull")
	grant(t, p, pull, "carol")
	if got := holders(t, p, s); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("maintain Holders = %v, want [alice] (carol's invitation is for pull)", got)
	}
	if got := holders(t, p, pull); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Errorf("pull Holders = %v, want [alice carol]", got)
	}
	revoke(t, p, pull, "carol")

	revoke(t, p, s, "alice")
	if got := srv.Invitations("acme", "payments"); len(got) != 0 {
		t.Errorf("invitations after revoke = %v, want none", got)
	}
	if n := srv.Count("DELETE", "/repos/acme/payments/invitations/"); n != 2 {
		t.Errorf("invitation DELETE count = %d, want 2 (carol's, alice's)", n)
	}
	if holds(t, p, s, "alice") {
		t.Error("Holds = true after the revoke")
	}

	// Accepted invitation: the revoke removes the collaborator.
	grant(t, p, s, "alice")
	srv.Accept("alice")
	if got := srv.Collaborators("acme", "payments")["alice"]; got != "maintain" {
		t.Fatalf("after accept alice has %q, want maintain", got)
	}
	revoke(t, p, s, "alice")
	if len(srv.Collaborators("acme", "payments")) != 0 || len(srv.Invitations("acme", "payments")) != 0 {
		t.Error("access left after revoking an accepted invitation")
	}
}

func TestRepoHolds(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme", "payments")
	srv.AddCollaborator("acme", "payments", "direct-admin", "admin")
	srv.AddCollaborator("acme", "payments", "direct-pull", "pull")
	srv.AddCollaborator("acme", "payments", "Direct-Triage", "triage")
	srv.SetIndirectPermission("acme", "payments", "team-push", "push")
	srv.SetIndirectPermission("acme", "payments", "team-pull", "pull")
	srv.SetIndirectPermission("acme", "payments", "team-maintain", "maintain")
	p := newProvider(t, srv)

	tests := []struct {
		login, perm string
		want        bool
		why         string
	}{
		{"nobody", "pull", false, "no access at all"},
		{"direct-admin", "push", true, "admin covers push"},
		{"direct-admin", "admin", true, "already admin"},
		{"team-push", "push", true, "push through a team"},
		{"team-push", "triage", true, "push covers triage"},
		{"team-push", "maintain", false, "push is below maintain; the revoke would leave the team access alone"},
		{"team-maintain", "push", true, "maintain covers push (role_name, not the legacy write)"},
		{"team-pull", "push", false, "only read through a team"},
		{"direct-pull", "push", true, "direct pull collaborator: the revoke would remove the pull they had"},
		{"direct-triage", "admin", true, "logins are case-insensitive"},
	}
	for _, tt := range tests {
		got := holds(t, p, repoSettings("acme", "payments", tt.perm), tt.login)
		if got != tt.want {
			t.Errorf("Holds(%s, %s) = %v, want %v: %s", tt.login, tt.perm, got, tt.want, tt.why)
		}
	}
}

func TestRepoGrantNeverLowers(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddCollaborator("acme", "payments", "alice", "admin")
	p := newProvider(t, srv)
	grant(t, p, repoSettings("acme", "payments", "push"), "alice")
	if n := srv.Count("PUT", "/"); n != 0 {
		t.Errorf("PUT count = %d, want 0", n)
	}
	if got := srv.Collaborators("acme", "payments")["alice"]; got != "admin" {
		t.Errorf("alice has %q, want admin kept", got)
	}
}

func TestRevokeNotFoundSucceeds(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme", "payments")
	srv.AddTeam("acme", "ops")
	p := newProvider(t, srv)
	srv.FailNext("DELETE", "/repos/acme/payments/collaborators/alice", http.StatusNotFound, 1)
	revoke(t, p, repoSettings("acme", "payments", "push"), "alice")
	revoke(t, p, teamSettings("acme", "ops"), "alice") // no membership: the fake answers 404
}

func TestTransientServerError(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	p := newProvider(t, srv)
	s := teamSettings("acme", "ops")
	srv.FailNext("PUT", "/orgs/acme/teams/ops/memberships/alice", http.StatusBadGateway, 3)

	for i := 0; i < 3; i++ {
		_, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: s})
		if err == nil {
			t.Fatalf("attempt %d: Grant succeeded during a 502", i)
		}
		if !approvals.Retryable(err) {
			t.Fatalf("attempt %d: Retryable(%v) = false, want true for a 502", i, err)
		}
		if want := "github: PUT /orgs/acme/teams/ops/memberships/alice: 502 Bad Gateway"; !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	grant(t, p, s, "alice") // the caller's retry succeeds
	if got := srv.TeamMembers("acme", "ops"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("members = %v, want [alice]", got)
	}
}

func TestNotFoundOnGrantIsPermanent(t *testing.T) {
	srv := githubtest.NewServer(t)
	p := newProvider(t, srv)
	_, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: teamSettings("acme", "no-such-team")})
	if err == nil {
		t.Fatal("Grant to an unknown team succeeded")
	}
	if approvals.Retryable(err) {
		t.Errorf("Retryable(%v) = true, want false for a 404", err)
	}
	want := "github: PUT /orgs/acme/teams/no-such-team/memberships/alice: 404 Not Found — check org/team names"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}

	_, err = p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: repoSettings("acme", "nope", "push")})
	if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "check org/repo names") {
		t.Errorf("Grant to an unknown repo: %v, want a permanent error with a hint", err)
	}
}

func TestBadInputIsPermanent(t *testing.T) {
	srv := githubtest.NewServer(t)
	p := newProvider(t, srv)
	for _, tc := range []struct {
		login    string
		settings json.RawMessage
	}{
		{"../../admin", teamSettings("acme", "ops")},
		{"alice", json.RawMessage(`{"org":"acme","team":"ops","extra":1}`)},
		{"alice", nil},
	} {
		_, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: tc.login, Settings: tc.settings})
		if err == nil || approvals.Retryable(err) {
			t.Errorf("Grant(%q, %s) = %v, want a permanent error", tc.login, tc.settings, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for bad input, want 0", n)
	}
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name   string
		inject func(srv *githubtest.Server, path string)
		min    time.Duration
		max    time.Duration
	}{
		{"primary 403", func(srv *githubtest.Server, path string) { srv.RateLimitNext("PUT", path, 30*time.Second, 1) }, 25 * time.Second, 32 * time.Second},
		{"secondary 403", func(srv *githubtest.Server, path string) {
			srv.SecondaryRateLimitNext("PUT", path, http.StatusForbidden, 7*time.Second, 1)
		}, 7 * time.Second, 7 * time.Second},
		{"secondary 429", func(srv *githubtest.Server, path string) {
			srv.SecondaryRateLimitNext("PUT", path, http.StatusTooManyRequests, 9*time.Second, 1)
		}, 9 * time.Second, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := githubtest.NewServer(t)
			srv.AddTeam("acme", "ops")
			p := newProvider(t, srv)
			tt.inject(srv, "/orgs/acme/teams/ops/memberships/alice")
			_, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: teamSettings("acme", "ops")})
			var te *approvals.TransientError
			if !errors.As(err, &te) {
				t.Fatalf("Grant error = %v, want a TransientError", err)
			}
			if te.RetryAfter < tt.min || te.RetryAfter > tt.max {
				t.Errorf("RetryAfter = %v, want between %v and %v", te.RetryAfter, tt.min, tt.max)
			}
			if !strings.Contains(err.Error(), "rate limit") {
				t.Errorf("error = %q, want it to say rate limit", err)
			}
		})
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	srv.AddRepo("acme", "payments")
	p := newProvider(t, srv)
	team, repo := teamSettings("acme", "ops"), repoSettings("acme", "payments", "push")
	ctx := context.Background()

	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Fatal("expected a failure")
		}
		errs = append(errs, err)
	}
	srv.FailNext("", "", http.StatusBadGateway, 1)
	_, err := p.Grant(ctx, approvals.GrantRequest{Identity: "alice", Settings: team})
	collect(err)
	srv.FailNext("", "", http.StatusUnauthorized, 1)
	collect(p.Revoke(ctx, approvals.RevokeRequest{Identity: "alice", Settings: repo}))
	srv.FailNext("", "", http.StatusForbidden, 1)
	_, err = p.Holds(ctx, approvals.HoldsRequest{Identity: "alice", Settings: repo})
	collect(err)
	_, err = p.Grant(ctx, approvals.GrantRequest{Identity: "alice", Settings: teamSettings("acme", "missing")})
	collect(err)

	// Bad credentials, and then no server at all.
	srv.RequireToken("some-other-token")
	_, err = p.Holders(ctx, approvals.HoldersRequest{Settings: team})
	collect(err)
	dead := githubtest.NewServer(t)
	deadURL := dead.URL()
	dead.Close()
	p2, err := github.New(github.Config{Token: testToken, APIURL: deadURL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p2.Grant(ctx, approvals.GrantRequest{Identity: "alice", Settings: team})
	collect(err)
	if !approvals.Retryable(err) {
		t.Errorf("connection refused: Retryable(%v) = false, want true", err)
	}

	for _, err := range errs {
		for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
			if strings.Contains(text, testToken) || strings.Contains(text, testToken[4:]) {
				t.Errorf("error leaks the token: %s", text)
			}
		}
	}
	if msg := errs[4].Error(); !strings.Contains(msg, "401 Unauthorized") || !strings.Contains(msg, "ACCESSBOT_GITHUB_TOKEN") {
		t.Errorf("bad credentials error = %q, want 401 and the variable to check", msg)
	}
}

func TestContextCancelled(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	p := newProvider(t, srv)
	s := teamSettings("acme", "ops")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Grant(ctx, approvals.GrantRequest{Identity: "alice", Settings: s}); err == nil {
		t.Fatal("Grant with a cancelled context succeeded")
	}

	srv.DelayNext("", "/orgs/acme/teams/ops/memberships/alice", 20*time.Second, 1)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Grant(ctx, approvals.GrantRequest{Identity: "alice", Settings: s})
	if err == nil {
		t.Fatal("Grant succeeded although its context expired")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Grant returned after %v, want promptly after the deadline", d)
	}
	if !approvals.Retryable(err) {
		t.Errorf("Retryable(%v) = false: an attempt cut short by its deadline may be retried", err)
	}
	if got := srv.TeamMembers("acme", "ops"); len(got) != 0 {
		t.Errorf("members = %v after an abandoned grant, want none", got)
	}
}

func TestHoldersPaginates(t *testing.T) {
	srv := githubtest.NewServer(t)
	var want []string
	for i := range 250 {
		login := fmt.Sprintf("user%03d", i)
		want = append(want, login)
		srv.AddTeamMember("acme", "big", login)
		srv.AddCollaborator("acme", "mono", login, "push")
	}
	p := newProvider(t, srv)
	if got := holders(t, p, teamSettings("acme", "big")); !slices.Equal(got, want) {
		t.Errorf("team Holders returned %d logins, want %d", len(got), len(want))
	}
	if n := srv.Count("GET", "/orgs/acme/teams/big/members"); n != 3 {
		t.Errorf("team member pages fetched = %d, want 3", n)
	}
	if got := holders(t, p, repoSettings("acme", "mono", "push")); !slices.Equal(got, want) {
		t.Errorf("repo Holders returned %d logins, want %d", len(got), len(want))
	}
}

func TestConcurrentGrants(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	srv.AddRepo("acme", "payments")
	p := newProvider(t, srv)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			login := fmt.Sprintf("u%d", i)
			for _, s := range []json.RawMessage{teamSettings("acme", "ops"), repoSettings("acme", "payments", "pull")} {
				if _, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: login, Settings: s}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(srv.TeamMembers("acme", "ops")); n != 20 {
		t.Errorf("team members = %d, want 20", n)
	}
	if n := len(srv.Collaborators("acme", "payments")); n != 20 {
		t.Errorf("collaborators = %d, want 20", n)
	}
}

// writeAppKey writes a fresh RSA private key (PKCS#1 PEM, as GitHub hands
// them out) and returns its path and public half.
func writeAppKey(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &key.PublicKey
}

func TestGitHubAppAuth(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	keyFile, pub := writeAppKey(t)
	srv.SetAppKey(4242, pub)
	srv.RequireToken("not-this-one") // only the minted installation token works

	p, err := github.New(github.Config{AppID: 4242, InstallationID: 77, PrivateKeyFile: keyFile, APIURL: strings.TrimSuffix(srv.URL(), "/")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := teamSettings("acme", "ops")
	grant(t, p, s, "alice")
	if !holds(t, p, s, "alice") {
		t.Error("Holds = false after the grant")
	}

	if n := srv.Count("POST", "/app/installations/77/access_tokens"); n != 1 {
		t.Fatalf("installation token requests = %d, want 1 (the token is reused)", n)
	}
	tokens := srv.InstallationTokens()
	if len(tokens) != 1 {
		t.Fatalf("minted tokens = %v, want one", tokens)
	}
	for _, r := range srv.Requests() {
		auth := r.Header.Get("Authorization")
		if r.Path == "/app/installations/77/access_tokens" {
			jwt, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || strings.Count(jwt, ".") != 2 {
				t.Errorf("token request Authorization = %q, want Bearer <JWT>", auth)
			}
			continue
		}
		if auth != "token "+tokens[0] {
			t.Errorf("%s %s Authorization = %q, want the installation token", r.Method, r.Path, auth)
		}
	}
}

func TestGitHubAppAuthFailures(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	keyFile, _ := writeAppKey(t)
	_, otherKey := writeAppKey(t)
	srv.SetAppKey(4242, otherKey) // the app's registered key is not ours
	p, err := github.New(github.Config{AppID: 4242, InstallationID: 77, PrivateKeyFile: keyFile, APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	s := teamSettings("acme", "ops")

	_, err = p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: s})
	if err == nil || approvals.Retryable(err) {
		t.Fatalf("Grant with a wrong app key = %v, want a permanent error", err)
	}
	for _, want := range []string{"installation token", "401", "ACCESSBOT_GITHUB_APP_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}

	srv.FailNext("POST", "/app/installations/77/access_tokens", http.StatusServiceUnavailable, 1)
	_, err = p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: s})
	if !approvals.Retryable(err) {
		t.Errorf("token endpoint 503: Retryable(%v) = false, want true", err)
	}
}

func TestNewConfigErrors(t *testing.T) {
	keyFile, _ := writeAppKey(t)
	notAKey := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(notAKey, []byte("not a key"), 0o600)
	tests := []struct {
		name string
		cfg  github.Config
		want string
	}{
		{"nothing", github.Config{}, "set ACCESSBOT_GITHUB_TOKEN, or ACCESSBOT_GITHUB_APP_ID, ACCESSBOT_GITHUB_APP_INSTALLATION_ID and ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE"},
		{"both", github.Config{Token: "t", AppID: 1, InstallationID: 2, PrivateKeyFile: keyFile}, "not both"},
		{"app without installation", github.Config{AppID: 1, PrivateKeyFile: keyFile}, "set ACCESSBOT_GITHUB_APP_INSTALLATION_ID"},
		{"app without key", github.Config{AppID: 1, InstallationID: 2}, "set ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE"},
		{"missing key file", github.Config{AppID: 1, InstallationID: 2, PrivateKeyFile: "/nonexistent/key.pem"}, "read ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE"},
		{"bad key", github.Config{AppID: 1, InstallationID: 2, PrivateKeyFile: notAKey}, "ACCESSBOT_GITHUB_APP_PRIVATE_KEY_FILE " + notAKey},
		{"relative URL", github.Config{Token: "t", APIURL: "ghe.example.com/api/v3"}, "ACCESSBOT_GITHUB_API_URL"},
		{"URL with credentials", github.Config{Token: "t", APIURL: "https://user:pw@ghe.example.com/api/v3/"}, "must not carry credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := github.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
	if _, err := github.New(github.Config{Token: "t", APIURL: "https://ghe.example.com/api/v3"}); err != nil {
		t.Errorf("New with an enterprise URL: %v", err)
	}
}
