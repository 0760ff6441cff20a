package bot_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestRewriteShowsTheRequestAsStored checks that approval messages are
// rewritten, in commit order, to where the request stands: once decided,
// the buttons are gone for good.
func TestRewriteShowsTheRequestAsStored(t *testing.T) {
	g := newRig(t, "")
	r := pendingRequest()
	r.Asked = []string{approvalsChannel}
	g.file(r, approvals.Notice{Ask: r.Asked})
	g.change(r.ID, func(r *approvals.Request) {
		r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	}, told(approvals.Event{Action: approvals.ActionApproval, Actor: bob, RequestID: r.ID}, false))
	g.change(r.ID, func(r *approvals.Request) {
		r.Approvals = append(r.Approvals, approvals.Approval{Approver: carol, At: start})
		r.Status, r.DecidedBy = approvals.StatusApproved, carol
	}, told(approvals.Event{Action: approvals.ActionApproved, Actor: carol, RequestID: r.ID}, false))
	g.idle()

	posts := g.slack.Posts(approvalsChannel)
	if len(posts) != 1 {
		t.Fatalf("%d approval posts, want 1:\n%s", len(posts), g.slack.Summary())
	}
	if u := g.slack.Updates(); len(u) != 2 {
		t.Errorf("%d updates, want 2", len(u))
	}
	cur, _ := g.slack.Message(approvalsChannel, posts[0].TS)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons still there once decided")
	}
	mustContain(t, "message", cur.AllText(), "Approved", "<@"+bob+">", "<@"+carol+">", "2 of 2")
	if got := g.request(r.ID).Messages; len(got) != 1 || got[0].TS != posts[0].TS {
		t.Errorf("message on record %v, want the post %s", got, posts[0].TS)
	}
}

// TestApprovalDMsAndAnUnreachableApprover checks that approvers without
// an approval channel are asked by DM, and that one Slack cannot reach
// (user_not_found) is recorded and told to the requester while the others
// are still asked.
func TestApprovalDMsAndAnUnreachableApprover(t *testing.T) {
	g := newRig(t, auditChannel)
	g.slack.Refuse("U0GONE", "user_not_found")
	r := pendingRequest()
	r.Asked = []string{bob, "U0GONE", carol}
	g.file(r, approvals.Notice{Ask: r.Asked})
	g.idle()

	for _, u := range []string{bob, carol} {
		if dms := g.slack.DMs(u); len(dms) != 1 || len(dms[0].Buttons()) != 2 {
			t.Errorf("approver %s: %d DMs, want 1 with the buttons", u, len(dms))
		}
	}
	got := g.request(r.ID)
	if len(got.Messages) != 2 || len(got.Unreachable) != 1 || got.Unreachable[0].Target != "U0GONE" {
		t.Fatalf("messages %v, unreachable %v", got.Messages, got.Unreachable)
	}
	if got.Status != approvals.StatusPending {
		t.Errorf("status %s, want still pending: others were asked", got.Status)
	}
	dms := g.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("requester got %d DMs, want 1:\n%s", len(dms), g.slack.Summary())
	}
	mustContain(t, "requester DM", dms[0].Text, r.ID, "could not reach some approvers", "<@U0GONE>", "user_not_found", "the others were asked")
	var found bool
	g.db.Events(context.Background(), func(ev approvals.Event) error {
		found = found || (ev.Action == approvals.ActionUndeliverable && strings.Contains(ev.Detail, "U0GONE"))
		return nil
	})
	if !found {
		t.Error("no undeliverable event in the audit log")
	}
}

// TestNotInChannel checks the case of an approval channel the bot was
// not invited to: the request does not sit pending with nobody asked; it
// fails, the requester is told why and what to do, and the audit log and
// channel say so, all within a few seconds.
func TestNotInChannel(t *testing.T) {
	g := newRig(t, auditChannel)
	g.slack.Refuse(approvalsChannel, "not_in_channel")
	r := pendingRequest()
	r.Asked = []string{approvalsChannel}
	began := time.Now()
	g.file(r, approvals.Notice{Ask: r.Asked}, told(eventOf(r, approvals.ActionRequested, alice), false))
	g.slack.WaitFor(t, func() bool { return len(g.slack.DMs(alice)) == 1 }, 5*time.Second)
	t.Logf("requester told after %s", time.Since(began))
	g.idle()

	got := g.request(r.ID)
	if got.Status != approvals.StatusFailed || !strings.Contains(got.LastError, "none of its approvers could be reached") {
		t.Fatalf("status %s (%q), want failed", got.Status, got.LastError)
	}
	mustContain(t, "requester DM", g.slack.DMs(alice)[0].Text, r.ID, "could not reach any approver", "<#"+approvalsChannel+">", "not_in_channel", "/invite @accessbot")
	audit := strings.Join(textsOf(g.slack.Posts(auditChannel)), "\n")
	mustContain(t, "audit channel", audit, "*undeliverable*", r.ID, "failed", "not_in_channel")
}

func textsOf(calls []slackfake.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.AllText()
	}
	return out
}

func TestNoAuditChannel(t *testing.T) {
	g := newRig(t, "")
	ev := approvals.Event{Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, Detail: "policy v2"}
	if err := g.db.AppendEvent(context.Background(), ev, told(ev, false)); err != nil {
		t.Fatal(err)
	}
	g.idle()
	if len(g.slack.Calls()) != 0 {
		t.Errorf("posted without an audit channel: %s", g.slack.Summary())
	}
}

// TestAuditPosts checks every audit action's post against DESIGN.md A10:
// the action, the request ID, the resource, people as mentions, and
// "failed" for failures.
func TestAuditPosts(t *testing.T) {
	g := newRig(t, auditChannel)
	r := pendingRequest()
	r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	r.LastError = "github: 422 Validation Failed"
	r.ExpiresAt = start.Add(time.Hour)
	g.file(r)
	actions := []string{
		approvals.ActionRequested, approvals.ActionApproval, approvals.ActionApproved, approvals.ActionDenied,
		approvals.ActionCancelled, approvals.ActionAlreadyHeld, approvals.ActionGranted, approvals.ActionGrantFailed,
		approvals.ActionRevoked, approvals.ActionExpired, approvals.ActionRevokeFailed,
	}
	for _, a := range actions {
		ev := eventOf(r, a, bob)
		g.change(r.ID, func(*approvals.Request) {}, approvals.Notice{Event: &ev})
	}
	g.idle()
	posts := g.slack.Posts(auditChannel)
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
	g := newRig(t, "")
	r := pendingRequest()
	r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	r.DecidedBy, r.EndedBy = bob, bob
	r.ExpiresAt, r.EndedAt = start.Add(time.Hour), start.Add(time.Hour)
	r.GrantNote = "invitation sent; access starts once accepted"
	r.LastError = "team not found"
	g.file(r)
	cases := map[string][]string{
		approvals.ActionApproved:    {"approved", "<@" + bob + ">"},
		approvals.ActionGranted:     {"until", start.Add(time.Hour).Format(time.RFC3339), "invitation sent", "/access revoke ar-test"},
		approvals.ActionDenied:      {"denied by <@" + bob + ">"},
		approvals.ActionAlreadyHeld: {"already hold"},
		approvals.ActionGrantFailed: {"failed: the provider refused it", "audit channel"}, // never the provider's words
		approvals.ActionRevoked:     {"revoked by <@" + bob + ">"},
		approvals.ActionExpired:     {"expired"},
		approvals.ActionCancelled:   {"cancelled"},
	}
	for action, wants := range cases {
		before := len(g.slack.DMs(alice))
		g.change(r.ID, func(*approvals.Request) {}, approvals.Notice{Event: &approvals.Event{Action: action, RequestID: r.ID}, TellRequester: true})
		g.idle()
		dms := g.slack.DMs(alice)
		if len(dms) != before+1 {
			t.Fatalf("%s: no DM", action)
		}
		mustContain(t, action+" DM", dms[len(dms)-1].Text, append(wants, r.ID, "payments-admin")...)
	}
	if n := len(g.slack.CallsTo("conversations.open")); n != 1 {
		t.Errorf("%d conversations.open calls, want 1 (the DM channel is cached)", n)
	}
}

// TestOnDelivered: the callback hears of each notice once, after every
// Slack call it makes, including a notice with nothing to post.
func TestOnDelivered(t *testing.T) {
	var mu sync.Mutex
	heard := map[uint64]int{}
	var g *rig
	g = newRig(t, "", func(c *bot.DelivererConfig) {
		c.OnDelivered = func(n approvals.Notice) {
			mu.Lock()
			defer mu.Unlock()
			heard[n.Seq]++
			if n.Ask != nil && len(g.slack.Posts(approvalsChannel)) == 0 {
				t.Errorf("notice %d reported delivered before its post", n.Seq)
			}
		}
	})
	r := pendingRequest()
	r.Asked = []string{approvalsChannel}
	g.file(r, approvals.Notice{Ask: r.Asked})
	// No audit channel and no requester to tell: nothing to post.
	g.change(r.ID, func(r *approvals.Request) { r.RemindedAt = start }, approvals.Notice{})
	g.idle()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(heard)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 2 {
		t.Fatalf("heard of %d notices, want 2: %v", len(heard), heard)
	}
	for seq, n := range heard {
		if n != 1 {
			t.Errorf("notice %d reported %d times", seq, n)
		}
	}
}
