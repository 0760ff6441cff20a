// Package pagerduty answers one question for accessbot: is this person on
// call right now in one of these PagerDuty schedules? A policy can use the
// answer to approve a request by an on-call engineer without waiting for
// an approver; any error means "do not know", and the caller falls back to
// normal approval, so PagerDuty being down never grants anything.
//
//	c, err := pagerduty.New(pagerduty.Config{Token: token})
//	schedule, onCall, err := c.OnCall(ctx, "alice@acme.example", []string{"PSCHED1"}, now)
//
// OnCall maps the email to a PagerDuty user (GET /users?query=EMAIL, an
// exact, case-insensitive match on the email, cached for ten minutes), then
// lists the user's on-call periods in the schedules around the instant
// (GET /oncalls?user_ids[]=…&schedule_ids[]=…&since=…&until=…) and checks
// that one covers it. Calls carry "Authorization: Token token=…" and
// "Accept: application/vnd.pagerduty+json;version=2".
//
// The email is the caller's to find, so this package depends on neither
// Slack nor the policy. The intended source is the policy's identities,
// under the key pagerduty (identities: {U0ALICE: {pagerduty:
// alice@acme.example}}): an explicit mapping fails closed. Taking the
// Slack profile's email (users.info, scope users:read.email) is possible,
// but trusts whoever may edit Slack profiles, so keep it behind an opt-in.
//
// Configuration, read by the server:
//
//	ACCESSBOT_PAGERDUTY_TOKEN       REST API key (read-only is enough); or
//	ACCESSBOT_PAGERDUTY_TOKEN_FILE  a file holding it
//	ACCESSBOT_PAGERDUTY_API_URL     default https://api.pagerduty.com
//
// Errors never contain the token. An *APIError carries the HTTP status;
// its Temporary method tells 5xx and 429 from the rest.
//
// Package pagerdutytest is a fake PagerDuty for tests and demos.
package pagerduty
