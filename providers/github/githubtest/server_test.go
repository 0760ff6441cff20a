package githubtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// client returns a go-github client for srv, so that these tests check the
// fake against the library's own decoding of GitHub's shapes.
func client(t *testing.T, srv *githubtest.Server) *gh.Client {
	t.Helper()
	c := gh.NewClient(nil).WithAuthToken("test-token")
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func TestShapesDecodeWithGoGitHub(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeamMember("acme", "ops", "bob")
	srv.AddCollaborator("acme", "payments", "carol", "maintain")
	srv.SetOutsider("dave")
	c := client(t, srv)
	ctx := context.Background()

	m, _, err := c.Teams.GetTeamMembershipBySlug(ctx, "acme", "ops", "bob")
	if err != nil || m.GetState() != "active" || m.GetRole() != "member" {
		t.Fatalf("membership = %v, %v", m, err)
	}
	m, _, err = c.Teams.AddTeamMembershipBySlug(ctx, "acme", "ops", "dave", &gh.TeamAddTeamMembershipOptions{Role: "member"})
	if err != nil || m.GetState() != "pending" {
		t.Fatalf("outsider membership = %v, %v; want pending", m, err)
	}
	teamInvs, _, err := c.Teams.ListPendingTeamInvitationsBySlug(ctx, "acme", "ops", nil)
	if err != nil || len(teamInvs) != 1 || teamInvs[0].GetLogin() != "dave" || teamInvs[0].GetID() == 0 {
		t.Fatalf("team invitations = %v, %v; want dave's", teamInvs, err)
	}

	perm, _, err := c.Repositories.GetPermissionLevel(ctx, "acme", "payments", "carol")
	if err != nil || perm.GetPermission() != "write" || perm.GetUser().GetLogin() != "carol" || perm.GetUser().GetRoleName() != "maintain" {
		t.Fatalf("permission = %v, %v; want legacy write, role maintain", perm, err)
	}
	perm, _, err = c.Repositories.GetPermissionLevel(ctx, "acme", "payments", "nobody")
	if err != nil || perm.GetPermission() != "none" {
		t.Fatalf("permission of a stranger = %v, %v; want none", perm, err)
	}

	inv, resp, err := c.Repositories.AddCollaborator(ctx, "acme", "payments", "dave", &gh.RepositoryAddCollaboratorOptions{Permission: "push"})
	if err != nil || resp.StatusCode != http.StatusCreated || inv.GetInvitee().GetLogin() != "dave" || inv.GetID() == 0 {
		t.Fatalf("AddCollaborator(outsider) = %v, %v, %v; want a 201 invitation", inv, resp, err)
	}
	_, resp, err = c.Repositories.AddCollaborator(ctx, "acme", "payments", "erin", &gh.RepositoryAddCollaboratorOptions{Permission: "pull"})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("AddCollaborator(member) = %v, %v; want 204", resp, err)
	}
	invs, _, err := c.Repositories.ListInvitations(ctx, "acme", "payments", nil)
	if err != nil || len(invs) != 1 || invs[0].GetInvitee().GetLogin() != "dave" || invs[0].GetPermissions() != "write" {
		t.Fatalf("invitations = %v, %v", invs, err)
	}
	if _, err := c.Repositories.DeleteInvitation(ctx, "acme", "payments", invs[0].GetID()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Invitations("acme", "payments"); len(got) != 0 {
		t.Errorf("invitations after delete = %v", got)
	}

	users, _, err := c.Repositories.ListCollaborators(ctx, "acme", "payments", &gh.ListCollaboratorsOptions{Affiliation: "direct"})
	if err != nil || len(users) != 2 || users[0].GetLogin() != "carol" || !users[0].GetPermissions()["maintain"] || users[0].GetPermissions()["admin"] {
		t.Fatalf("collaborators = %v, %v", users, err)
	}
	ok, _, err := c.Repositories.IsCollaborator(ctx, "acme", "payments", "carol")
	if err != nil || !ok {
		t.Errorf("IsCollaborator(carol) = %v, %v", ok, err)
	}
}

func TestPagination(t *testing.T) {
	srv := githubtest.NewServer(t)
	for i := range 45 {
		srv.AddTeamMember("acme", "big", fmt.Sprintf("u%02d", i))
	}
	c := client(t, srv)
	opts := &gh.TeamListTeamMembersOptions{ListOptions: gh.ListOptions{PerPage: 20}}
	var all []string
	pages := 0
	for {
		users, resp, err := c.Teams.ListTeamMembersBySlug(context.Background(), "acme", "big", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range users {
			all = append(all, u.GetLogin())
		}
		if resp.NextPage == 0 {
			if resp.LastPage != 0 {
				t.Errorf("last page has LastPage %d", resp.LastPage)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if pages != 3 || len(all) != 45 || all[0] != "u00" || all[44] != "u44" {
		t.Errorf("got %d pages, %d users (%v…)", pages, len(all), all[:3])
	}
}

func TestFaults(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme", "payments")
	c := client(t, srv)
	ctx := context.Background()

	srv.FailNext("GET", "/repos/acme/payments/*", http.StatusBadGateway, 2)
	for range 2 {
		_, _, err := c.Repositories.ListInvitations(ctx, "acme", "payments", nil)
		var er *gh.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusBadGateway {
			t.Fatalf("error = %v, want a 502", err)
		}
	}
	if _, _, err := c.Repositories.ListInvitations(ctx, "acme", "payments", nil); err != nil {
		t.Fatalf("third call: %v, want the fault used up", err)
	}

	srv.SecondaryRateLimitNext("PUT", "", http.StatusForbidden, 3*time.Second, 1)
	_, _, err := c.Repositories.AddCollaborator(ctx, "acme", "payments", "x", nil)
	var are *gh.AbuseRateLimitError
	if !errors.As(err, &are) || are.RetryAfter == nil || *are.RetryAfter != 3*time.Second {
		t.Fatalf("error = %#v, want an AbuseRateLimitError with RetryAfter 3s", err)
	}

	c = client(t, srv) // go-github remembers limits per client
	srv.RateLimitNext("", "", time.Minute, 1)
	_, _, err = c.Repositories.ListInvitations(ctx, "acme", "payments", nil)
	var rle *gh.RateLimitError
	if !errors.As(err, &rle) || time.Until(rle.Rate.Reset.Time) < 50*time.Second {
		t.Fatalf("error = %#v, want a RateLimitError resetting in a minute", err)
	}
	if got := srv.Count("GET", "/repos/acme/payments/invitations"); got != 4 {
		t.Errorf("Count = %d, want 4", got)
	}
}

func TestAuthentication(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	srv.RequireToken("good")
	for auth, want := range map[string]int{"": 401, "Bearer bad": 401, "Bearer good": 404, "token good": 404} {
		req, _ := http.NewRequest("GET", srv.URL()+"orgs/acme/teams/ops/memberships/x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: status %d, want %d", auth, resp.StatusCode, want)
		}
	}
}

// recordingTB captures the failures the server reports.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestUnexpectedPathFailsTheTest(t *testing.T) {
	tb := &recordingTB{TB: t}
	srv := githubtest.NewServer(tb)
	resp, err := http.Post(srv.URL()+"orgs/acme/teams", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status = %d, want 404", resp.StatusCode)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errors) != 1 || !strings.Contains(tb.errors[0], "POST /orgs/acme/teams") {
		t.Errorf("reported %q, want one unexpected-request failure", tb.errors)
	}
	if got := srv.Unexpected(); len(got) != 1 || got[0] != "POST /orgs/acme/teams" {
		t.Errorf("Unexpected() = %v", got)
	}
}

func TestStartWithoutTest(t *testing.T) {
	srv := githubtest.Start()
	defer srv.Close()
	srv.AddTeam("acme", "ops")
	resp, err := http.Get(srv.URL() + "nowhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(srv.Unexpected()) != 1 {
		t.Errorf("status %d, unexpected %v", resp.StatusCode, srv.Unexpected())
	}
	srv.Close() // twice is fine
}
