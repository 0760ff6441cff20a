package bot_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
)

// granted files a request of resource by alice for dur and has approvers
// approve it through the approval message; it returns the request ID.
func (h *harness) granted(resource, dur string, approvers ...string) string {
	h.t.Helper()
	id := h.request(alice, resource, dur, "INC-1 hotfix")
	h.settle()
	ref := h.approvalRef(id)
	for _, a := range approvers {
		if code := h.click(a, bot.ActionApprove, id, ref); code != http.StatusOK {
			h.t.Fatalf("approve: status %d", code)
		}
		h.settle()
	}
	if r := h.get(id); r.Status != approvals.StatusActive {
		h.t.Fatalf("setup: %s is %s", id, r.Status)
	}
	return id
}

// extensionRef returns the approval message of the latest extension of
// request id: the last message posted with its buttons.
func (h *harness) extensionRef(id string) approvals.MessageRef {
	h.t.Helper()
	msgs := h.approvalMessages(id)
	if len(msgs) < 2 {
		h.t.Fatalf("request %s has %d approval messages, want the request's and the extension's:\n%s", id, len(msgs), h.slack.Summary())
	}
	last := msgs[len(msgs)-1]
	return approvals.MessageRef{ChannelID: last.Channel, TS: last.TS}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestExtendLifecycle runs grant → extend → approve → the old expiry
// passes → the new expiry revokes, through the HTTP handlers.
func TestExtendLifecycle(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	oldExpiry := h.get(id).ExpiresAt
	origRef := h.approvalRef(id)

	h.clock.Advance(30 * time.Minute)
	rep := h.command(alice, "extend "+id+" 2h still debugging INC-1")
	newExpiry := oldExpiry.Add(2 * time.Hour)
	mustContain(t, "extend reply", rep.Text, id, "payments-admin", "2h", rfc3339(oldExpiry), rfc3339(newExpiry))
	h.settle()

	// A new approval message with the same buttons, carrying the same ID.
	ref := h.extensionRef(id)
	if ref.ChannelID != approvalsChannel {
		t.Errorf("extension message in %s, want %s", ref.ChannelID, approvalsChannel)
	}
	msg := h.current(ref)
	buttons := msg.Buttons()
	if len(buttons) != 2 || buttons[0].ActionID != "approve" || buttons[0].Value != id || buttons[1].ActionID != "deny" || buttons[1].Value != id {
		t.Fatalf("extension buttons %+v", buttons)
	}
	mustContain(t, "extension message", msg.AllText(), "<@"+alice+">", "2h more", "payments-admin", "still debugging INC-1", rfc3339(oldExpiry), rfc3339(newExpiry), id)
	if r := h.get(id); !r.ExpiresAt.Equal(oldExpiry) {
		t.Fatalf("the expiry moved before approval: %v", r.ExpiresAt)
	}
	mustContain(t, "list while pending", h.command(alice, "list").Text, id, rfc3339(oldExpiry), "extension of 2h waiting")

	// The requester cannot approve it; carol can.
	h.click(alice, bot.ActionApprove, id, ref)
	h.settle()
	mustContain(t, "self-approval refusal", h.slack.Ephemerals(alice)[0].Text, "own grant")
	h.clock.Advance(5 * time.Minute)
	if code := h.click(carol, bot.ActionApprove, id, ref); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	h.settle()
	r := h.get(id)
	if !r.ExpiresAt.Equal(newExpiry) || r.Status != approvals.StatusActive {
		t.Fatalf("after approval: %s until %v, want active until %v", r.Status, r.ExpiresAt, newExpiry)
	}
	if n := h.github.Count(http.MethodPut, ""); n != 1 {
		t.Errorf("%d GitHub PUTs, want only the first grant's", n)
	}
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left on the extension message")
	}
	mustContain(t, "decided extension message", cur.AllText(), "Extended", "<@"+carol+">", rfc3339(newExpiry))
	mustContain(t, "original approval message", h.current(origRef).AllText(), "Granted", rfc3339(newExpiry), "Extended by 2h")
	dms := h.slack.DMs(alice)
	mustContain(t, "requester DM", dms[len(dms)-1].Text, "extended", id, rfc3339(newExpiry), "<@"+carol+">")
	mustContain(t, "extension requested audit post", h.auditPost("extension requested", id), "payments-admin", "<@"+alice+">", "still debugging INC-1")
	mustContain(t, "extended audit post", h.auditPost("extended", id), "payments-admin", "<@"+alice+">", "<@"+carol+">", rfc3339(newExpiry))
	mustContain(t, "list after approval", h.command(alice, "list").Text, id, rfc3339(newExpiry))

	// The old expiry is not the end any more.
	h.clock.Advance(oldExpiry.Sub(h.clock.Now()) + time.Minute)
	h.svc.ExpireDue(context.Background())
	h.settle()
	if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 0 {
		t.Fatalf("revoked at the old expiry")
	}
	h.clock.Advance(newExpiry.Sub(h.clock.Now()))
	h.svc.ExpireDue(context.Background())
	h.settle()
	if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 1 {
		t.Fatalf("%d DELETEs at the new expiry, want 1", n)
	}
	if r := h.get(id); r.Status != approvals.StatusExpired {
		t.Errorf("status %s", r.Status)
	}
}

// TestExtendBadInput checks that a refused extend says what to fix and
// changes nothing: no extension, no message, no audit post.
func TestExtendBadInput(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	pending := h.request(alice, "sre-oncall", "30m", "pager")
	h.settle()
	cases := []struct {
		user, text string
		wants      []string
	}{
		{bob, "extend " + id + " 1h mine now", []string{"only the holder", id}},
		{alice, "extend " + id + " 4h more", []string{"maximum", "4h", "3h"}},
		{alice, "extend " + id + " 1h", []string{"reason"}},
		{alice, "extend " + id + " soon why", []string{"soon"}},
		{alice, "extend ar-nosuchid 1h why", []string{"ar-nosuchid"}},
		{alice, "extend " + pending + " 1h why", []string{pending, "not granted yet"}},
	}
	posts := len(h.slack.Calls())
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			mustContain(t, "reply", h.command(tc.user, tc.text).Text, append(tc.wants, ":warning:")...)
		})
	}
	h.settle()
	if n := len(h.slack.Calls()); n != posts {
		t.Errorf("bad input made %d Slack calls:\n%s", n-posts, h.slack.Summary())
	}
	if r := h.get(id); len(r.Extensions) != 0 {
		t.Errorf("bad input stored an extension: %+v", r.Extensions)
	}

	// One extension at a time.
	h.command(alice, "extend "+id+" 1h more")
	mustContain(t, "second extension", h.command(alice, "extend "+id+" 1h again").Text, "already has an extension")
}

func TestExtensionDenied(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	expiry := h.get(id).ExpiresAt
	h.command(alice, "extend "+id+" 1h more")
	h.settle()
	ref := h.extensionRef(id)
	h.click(carol, bot.ActionDeny, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusActive || !r.ExpiresAt.Equal(expiry) {
		t.Fatalf("after denial: %s until %v, want active until %v", r.Status, r.ExpiresAt, expiry)
	}
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left after denial")
	}
	mustContain(t, "denied extension message", cur.AllText(), "denied", "<@"+carol+">", rfc3339(expiry))
	dms := h.slack.DMs(alice)
	mustContain(t, "denial DM", dms[len(dms)-1].Text, "denied", "<@"+carol+">", id, rfc3339(expiry))
	mustContain(t, "audit post", h.auditPost("extension denied", id), "<@"+carol+">", "<@"+alice+">")
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	mustContain(t, "late click", h.slack.Ephemerals(bob)[0].Text, "denied")
	if r := h.get(id); !r.ExpiresAt.Equal(expiry) {
		t.Errorf("a late approval extended a denied extension")
	}
}

// TestExtensionTwoApprovals checks that an extension needs the
// resource's approvals_required distinct approvers again.
func TestExtensionTwoApprovals(t *testing.T) {
	h := newHarness(t)
	id := h.granted("sre-oncall", "30m", bob, carol)
	expiry := h.get(id).ExpiresAt
	h.command(alice, "extend "+id+" 15m more")
	h.settle()
	ref := h.extensionRef(id)
	h.click(dave, bot.ActionApprove, id, ref)
	h.click(dave, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); !r.ExpiresAt.Equal(expiry) {
		t.Fatalf("extended after one distinct approval")
	}
	mustContain(t, "repeat refusal", h.slack.Ephemerals(dave)[0].Text, "already approved")
	mustContain(t, "message after one approval", h.current(ref).AllText(), "1 of 2", "<@"+dave+">")
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); !r.ExpiresAt.Equal(expiry.Add(15 * time.Minute)) {
		t.Fatalf("until %v after two approvals", r.ExpiresAt)
	}
	mustContain(t, "extended audit post", h.auditPost("extended", id), "<@"+dave+">", "<@"+bob+">")
}

// TestExtensionConcurrentClicks sends 20 approve clicks on an extension
// at once: the expiry moves once.
func TestExtensionConcurrentClicks(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	expiry := h.get(id).ExpiresAt
	h.command(alice, "extend "+id+" 1h more")
	h.settle()
	ref := h.extensionRef(id)

	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		clicker := []string{bob, carol}[i%2]
		wg.Go(func() { codes[i] = h.click(clicker, bot.ActionApprove, id, ref) })
	}
	wg.Wait()
	h.settle()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("click %d: status %d", i, c)
		}
	}
	if r := h.get(id); !r.ExpiresAt.Equal(expiry.Add(time.Hour)) {
		t.Fatalf("until %v, want exactly one extension to %v", r.ExpiresAt, expiry.Add(time.Hour))
	}
	if got := len(h.slack.Ephemerals(bob)) + len(h.slack.Ephemerals(carol)); got != n-1 {
		t.Errorf("%d refusals, want %d", got, n-1)
	}
	extended := 0
	for _, a := range h.auditActions() {
		if a == "extended" {
			extended++
		}
	}
	if extended != 1 {
		t.Errorf("%d extended audit posts", extended)
	}
	if len(h.current(ref).Buttons()) != 0 {
		t.Errorf("buttons left after the decision")
	}
}

// TestExtensionClosedWhenTheGrantEnds checks that a grant that expires, or
// is revoked, while its extension is pending is never extended.
func TestExtensionClosedWhenTheGrantEnds(t *testing.T) {
	for _, how := range []string{"expired", "revoked"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			id := h.granted("payments-admin", "1h", bob)
			h.command(alice, "extend "+id+" 1h more")
			h.settle()
			ref := h.extensionRef(id)
			if how == "expired" {
				h.clock.Advance(time.Hour)
				h.click(carol, bot.ActionApprove, id, ref) // the sweep has not run yet
				h.settle()
				mustContain(t, "refusal", h.slack.Ephemerals(carol)[0].Text, "nothing to extend")
				h.svc.ExpireDue(context.Background())
			} else {
				h.command(alice, "revoke "+id)
			}
			h.settle()
			r := h.get(id)
			if string(r.Status) != how || r.LastExtension().Status != approvals.ExtensionClosed {
				t.Fatalf("status %s, extension %s", r.Status, r.LastExtension().Status)
			}
			if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 1 {
				t.Errorf("%d DELETEs", n)
			}
			cur := h.current(ref)
			if len(cur.Buttons()) != 0 {
				t.Errorf("buttons left on a closed extension")
			}
			mustContain(t, "closed extension message", cur.AllText(), "Closed", how)
			mustContain(t, "audit post", h.auditPost("extension closed", id), "<@"+alice+">", how)
			h.click(carol, bot.ActionApprove, id, ref)
			h.settle()
			if r := h.get(id); string(r.Status) != how {
				t.Errorf("a click after the end changed the grant: %s", r.Status)
			}
		})
	}
}

func TestWhoCommand(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	expiry := rfc3339(h.get(id).ExpiresAt)
	h.request(dave, "payments-admin", "1h", "pending, not a holder")
	h.settle()

	for _, user := range []string{bob, carol, admin} {
		rep := h.command(user, "who payments-admin")
		mustContain(t, "who by "+user, rep.Text, "<@"+alice+">", "alice-gh", id, "<@"+bob+">", expiry)
		if strings.Contains(rep.Text, "<@"+dave+">") {
			t.Errorf("who lists a pending request: %q", rep.Text)
		}
	}
	mustContain(t, "who by a non-approver", h.command(dave, "who payments-admin").Text, ":warning:", "only the approvers of payments-admin", "admins")
	mustContain(t, "who by a user without identity", h.command(erin, "who payments-admin").Text, "only the approvers")
	mustContain(t, "who of an unknown resource", h.command(bob, "who no-such-thing").Text, "unknown resource", "no-such-thing")
	mustContain(t, "who of nobody", h.command(dave, "who sre-oncall").Text, "Nobody", "sre-oncall")
	mustContain(t, "who without a resource", h.command(bob, "who").Text, "resource is required")

	// An extension shows, and an ended grant leaves the list.
	h.command(alice, "extend "+id+" 1h more")
	mustContain(t, "who with an extension pending", h.command(bob, "who payments-admin").Text, "extension of 1h waiting")
	h.command(alice, "revoke "+id)
	h.settle()
	mustContain(t, "who after the revoke", h.command(admin, "who payments-admin").Text, "Nobody")
	if n := len(h.slack.Ephemerals(dave)); n != 0 {
		t.Errorf("who sent %d ephemerals besides the reply", n)
	}
}

// A click on the original request's message (buttons left by a failed
// update, a stale client) never decides the extension waiting behind it:
// the approver has not seen its duration and reason.
func TestOriginalMessageCannotDecideTheExtension(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	origRef := h.approvalRef(id)
	oldExpiry := h.get(id).ExpiresAt
	h.command(alice, "extend "+id+" 2h still debugging")
	h.settle()
	for _, action := range []string{bot.ActionApprove, bot.ActionDeny} {
		if code := h.click(carol, action, id, origRef); code != http.StatusOK {
			t.Fatalf("click: status %d", code)
		}
		h.settle()
		r := h.get(id)
		if e := r.PendingExtension(); e == nil || !r.ExpiresAt.Equal(oldExpiry) {
			t.Fatalf("a %s click on the original message decided the extension: %+v, expiry %v", action, r.LastExtension(), r.ExpiresAt)
		}
	}
	mustContain(t, "refusal", lastEphemeral(h, carol), "original request", "own approval message")
	// The extension's own message decides it.
	h.click(carol, bot.ActionApprove, id, h.extensionRef(id))
	h.settle()
	if r := h.get(id); !r.ExpiresAt.Equal(oldExpiry.Add(2 * time.Hour)) {
		t.Fatalf("the extension's own message did not extend: expiry %v", r.ExpiresAt)
	}
}

func lastEphemeral(h *harness, user string) string {
	h.t.Helper()
	eph := h.slack.Ephemerals(user)
	if len(eph) == 0 {
		h.t.Fatalf("nothing shown to %s:\n%s", user, h.slack.Summary())
	}
	return eph[len(eph)-1].AllText()
}
