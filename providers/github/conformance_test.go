package github_test

import (
	"testing"

	"github.com/accessbot/accessbot/providers/github/githubtest"
	"github.com/accessbot/accessbot/providers/providertest"
)

// TestConformance runs the provider conformance kit against the fake
// GitHub, for each kind of resource: a team membership, a repository
// permission, and both for users outside the
// organization, to whom GitHub sends an invitation (the access is pending
// until they accept it; Holds and Holders count it, Revoke cancels it).
func TestConformance(t *testing.T) {
	t.Run("Team", func(t *testing.T) {
		srv := githubtest.NewServer(t)
		srv.AddTeam("acme", "payments-admins")
		srv.AddTeamMember("acme", "payments-admins", "bob-standing") // someone else's access stays
		providertest.Run(t, providertest.Harness{
			Provider:      newProvider(t, srv),
			Resource:      "payments-admin",
			Settings:      teamSettings("acme", "payments-admins"),
			Identity:      "alice",
			OtherIdentity: "carol",
			Preexisting: func(t *testing.T, login string) {
				srv.AddTeamMember("acme", "payments-admins", login) // an org owner, by hand
			},
		})
		if got := srv.TeamMembers("acme", "payments-admins"); len(got) != 1 || got[0] != "bob-standing" {
			t.Errorf("team members after the kit = %q, want only the standing member", got)
		}
	})
	t.Run("TeamInvitation", func(t *testing.T) {
		srv := githubtest.NewServer(t)
		srv.AddTeam("acme", "payments-admins")
		srv.SetOutsider("alice")
		srv.SetOutsider("carol")
		providertest.Run(t, providertest.Harness{
			Provider:      newProvider(t, srv),
			Resource:      "payments-admin",
			Settings:      teamSettings("acme", "payments-admins"),
			Identity:      "alice",
			OtherIdentity: "carol",
		})
	})
	t.Run("Repo", func(t *testing.T) {
		srv := githubtest.NewServer(t)
		srv.AddRepo("acme", "payments")
		providertest.Run(t, providertest.Harness{
			Provider:      newProvider(t, srv),
			Resource:      "payments-repo-write",
			Settings:      repoSettings("acme", "payments", "push"),
			Identity:      "alice",
			OtherIdentity: "carol",
			Preexisting: func(t *testing.T, login string) {
				srv.AddCollaborator("acme", "payments", login, "admin")
			},
		})
	})
	t.Run("RepoInvitation", func(t *testing.T) {
		srv := githubtest.NewServer(t)
		srv.AddRepo("acme", "payments")
		srv.SetOutsider("alice")
		srv.SetOutsider("carol")
		providertest.Run(t, providertest.Harness{
			Provider:      newProvider(t, srv),
			Resource:      "payments-repo-write",
			Settings:      repoSettings("acme", "payments", "push"),
			Identity:      "alice",
			OtherIdentity: "carol",
		})
		if inv := srv.Invitations("acme", "payments"); len(inv) != 0 {
			t.Errorf("invitations left after the kit: %v", inv)
		}
	})
}
