// Package github is the accessbot provider for GitHub: it grants and revokes
// team memberships and repository collaborator permissions through the
// GitHub REST API (github.com or GitHub Enterprise Server), authenticated
// with a token or, preferably, as a GitHub App installation.
//
// A resource names exactly one kind of access in its policy block:
//
//	github: {org: acme, team: payments-admins}                # team membership
//	github: {org: acme, repo: payments, permission: push}     # repository collaborator
//
// The provider grants only what the resource names and revokes only what it
// granted. Because a revoke removes the membership or the direct
// collaborator as a whole, Holds reports access as held whenever the revoke
// at expiry would take away something the user already had; approvals then
// refuses the request as "already held" instead of granting it.
//
// Failures are classified for approvals.Service, which owns retries: rate
// limits (primary and secondary), 5xx answers, network errors and timeouts
// are wrapped in *approvals.TransientError (with RetryAfter when GitHub
// says when to come back); other 4xx answers are permanent and say what to
// check. No credential ever appears in an error.
//
// Package githubtest holds a fake GitHub REST server for tests and demos.
package github
