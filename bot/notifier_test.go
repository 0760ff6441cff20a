package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

func newNotifier(t *testing.T, audit string) (*bot.Notifier, *slackfake.Server) {
	t.Helper()
	s := slackfake.NewServer(t)
	n, err := bot.NewNotifier(bot.NotifierConfig{Client: s.Client(), AuditChannel: audit, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("Slack rules broken: %v", v)
		}
	})
	return n, s
}

func pendingRequest() *approvals.Request {
	return &approvals.Request{
		ID: "ar-test", Requester: alice, Resource: "payments-admin", Provider: "github", Identity: "alice-gh",
		Duration: time.Hour, Reason: "hotfix", Required: 2, Status: approvals.StatusPending, CreatedAt: start,
	}
}

// TestStaleUpdateSkipped checks that a snapshot older than what the
// messages show (a partial approval announced after the decision) does not
// bring the buttons back.
func TestStaleUpdateSkipped(t *testing.T) {
	n, s := newNotifier(t, "")
	ctx := context.Background()
	r := pendingRequest()
	refs, err := n.PostApprovalRequest(ctx, r, approvals.Resource{Name: r.Resource, ApprovalChannel: approvalsChannel, Approvers: []string{bob, carol}})
	if err != nil || len(refs) != 1 {
		t.Fatalf("post: %v %v", refs, err)
	}
	r.Messages = refs

	partial := r.Clone()
	partial.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	decided := partial.Clone()
	decided.Approvals = append(decided.Approvals, approvals.Approval{Approver: carol, At: start})
	decided.Status, decided.DecidedBy = approvals.StatusApproved, carol

	if err := n.UpdateApprovalMessages(ctx, decided); err != nil {
		t.Fatal(err)
	}
	if err := n.UpdateApprovalMessages(ctx, partial); err != nil {
		t.Fatal(err)
	}
	if u := s.Updates(); len(u) != 1 {
		t.Errorf("%d updates, want 1 (the stale one skipped)", len(u))
	}
	cur, _ := s.Message(refs[0].ChannelID, refs[0].TS)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons back after a stale update")
	}
	mustContain(t, "message", cur.AllText(), "Approved", "<@"+bob+">", "<@"+carol+">", "2 of 2")
}

// TestApprovalDMs checks that without an approval channel every approver
// but the requester gets a DM.
func TestApprovalDMs(t *testing.T) {
	n, s := newNotifier(t, "")
	r := pendingRequest()
	res := approvals.Resource{Name: r.Resource, Approvers: []string{bob, alice, carol}}
	refs, err := n.PostApprovalRequest(context.Background(), r, res)
	if err != nil || len(refs) != 2 {
		t.Fatalf("refs %v, err %v", refs, err)
	}
	if refs[0].ChannelID != slackfake.DMChannel(bob) || refs[1].ChannelID != slackfake.DMChannel(carol) {
		t.Errorf("refs %v", refs)
	}
	if len(s.DMs(alice)) != 0 {
		t.Errorf("the requester was asked to approve their own request")
	}

	res.AllowSelfApproval = true
	if refs, _ := n.PostApprovalRequest(context.Background(), r, res); len(refs) != 3 {
		t.Errorf("with self-approval allowed: %d DMs, want 3", len(refs))
	}
	if _, err := n.PostApprovalRequest(context.Background(), r, approvals.Resource{Name: "x", Approvers: []string{alice}}); err == nil {
		t.Errorf("no error when nobody can approve")
	}
	// A DM that fails does not stop the others.
	s.FailNext("conversations.open", 1, slackfake.Error("user_not_found"))
	refs, err = n.PostApprovalRequest(context.Background(), r, approvals.Resource{Name: r.Resource, Approvers: []string{"U0GONE", carol}})
	if err == nil || len(refs) != 1 || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("refs %v, err %v", refs, err)
	}
}

func TestNoAuditChannel(t *testing.T) {
	n, s := newNotifier(t, "")
	r := pendingRequest()
	if _, err := n.PostAudit(context.Background(), r, approvals.Event{Action: approvals.ActionRequested, RequestID: r.ID}); err != nil {
		t.Fatal(err)
	}
	if len(s.Calls()) != 0 {
		t.Errorf("posted without an audit channel: %s", s.Summary())
	}
}

// TestAuditPosts checks every audit action's post against DESIGN.md A10:
// the action, the request ID, the resource, people as mentions, and
// "failed" for failures.
func TestAuditPosts(t *testing.T) {
	n, s := newNotifier(t, auditChannel)
	r := pendingRequest()
	r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	r.LastError = "github: 422 Validation Failed"
	r.ExpiresAt = start.Add(time.Hour)
	actions := []string{
		approvals.ActionRequested, approvals.ActionApproval, approvals.ActionApproved, approvals.ActionDenied,
		approvals.ActionCancelled, approvals.ActionAlreadyHeld, approvals.ActionGranted, approvals.ActionGrantFailed,
		approvals.ActionRevoked, approvals.ActionExpired, approvals.ActionRevokeFailed,
	}
	for _, a := range actions {
		ev := approvals.Event{Action: a, Actor: bob, RequestID: r.ID, Resource: r.Resource, Requester: alice,
			Approvers: r.Approvers(), ExpiresAt: r.ExpiresAt, Reason: r.Reason, Identity: r.Identity, Duration: r.Duration}
		if _, err := n.PostAudit(context.Background(), r, ev); err != nil {
			t.Fatal(err)
		}
	}
	posts := s.Posts(auditChannel)
	if len(posts) != len(actions) {
		t.Fatalf("%d posts, want %d", len(posts), len(actions))
	}
	for i, p := range posts {
		word := strings.ReplaceAll(actions[i], "_", " ")
		mustContain(t, actions[i]+" post", p.Text, "*"+word+"*", r.ID, r.Resource, "<@"+alice+">")
		if strings.HasSuffix(actions[i], "failed") {
			mustContain(t, actions[i]+" post", p.Text, "failed", "422 Validation Failed")
		}
	}
}

// TestRequesterDMs checks the requester's DM for every outcome.
func TestRequesterDMs(t *testing.T) {
	n, s := newNotifier(t, "")
	r := pendingRequest()
	r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	r.DecidedBy, r.EndedBy = bob, bob
	r.ExpiresAt, r.EndedAt = start.Add(time.Hour), start.Add(time.Hour)
	r.GrantNote = "invitation sent; access starts once accepted"
	r.LastError = "team not found"
	cases := map[string][]string{
		approvals.ActionApproved:    {"approved", "<@" + bob + ">"},
		approvals.ActionGranted:     {"until", start.Add(time.Hour).Format(time.RFC3339), "invitation sent", "/access revoke ar-test"},
		approvals.ActionDenied:      {"denied by <@" + bob + ">"},
		approvals.ActionAlreadyHeld: {"already hold"},
		approvals.ActionGrantFailed: {"failed", "team not found"},
		approvals.ActionRevoked:     {"revoked by <@" + bob + ">"},
		approvals.ActionExpired:     {"expired"},
		approvals.ActionCancelled:   {"cancelled"},
	}
	for action, wants := range cases {
		before := len(s.DMs(alice))
		if err := n.NotifyRequester(context.Background(), r, approvals.Event{Action: action, RequestID: r.ID}); err != nil {
			t.Fatal(err)
		}
		dms := s.DMs(alice)
		if len(dms) != before+1 {
			t.Fatalf("%s: no DM", action)
		}
		mustContain(t, action+" DM", dms[len(dms)-1].Text, append(wants, r.ID, "payments-admin")...)
	}
	if n := len(s.CallsTo("conversations.open")); n != 1 {
		t.Errorf("%d conversations.open calls, want 1 (the DM channel is cached)", n)
	}
}
