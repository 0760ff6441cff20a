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
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/providers/github"
)

// TestAuditThread checks that a request's audit posts form one thread: the
// first event posts the parent, later events reply in its thread, and the
// parent is rewritten to the current state. Every post keeps DESIGN.md A10.
func TestAuditThread(t *testing.T) {
	g := newRig(t, auditChannel)
	r := pendingRequest()
	r.Required = 1
	g.file(r, told(eventOf(r, approvals.ActionRequested, alice), false))
	post := func(action, actor string, fn func(r *approvals.Request)) *approvals.Request {
		t.Helper()
		var ev approvals.Event
		got := g.change(r.ID, func(r *approvals.Request) {
			fn(r)
			ev = eventOf(r, action, actor)
		})
		g.change(r.ID, func(*approvals.Request) {}, told(ev, false))
		g.idle()
		return got
	}
	g.idle()
	parent := g.request(r.ID).AuditThread
	if parent.ChannelID != auditChannel || parent.TS == "" {
		t.Fatalf("parent %v", parent)
	}
	cur, _ := g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent", cur.AllText(), "*requested*", r.ID, r.Resource, "<@"+alice+">", "pending")

	post(approvals.ActionApproved, bob, func(r *approvals.Request) {
		r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
		r.Status, r.DecidedBy = approvals.StatusApproved, bob
	})
	cur, _ = g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after approval", cur.AllText(), "*approved*", r.ID, "approved by <@"+bob+">")

	post(approvals.ActionGranted, approvals.SystemActor, func(r *approvals.Request) {
		r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, start, start.Add(time.Hour)
	})
	cur, _ = g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after grant", cur.AllText(), "*granted*", "active until", start.Add(time.Hour).Format(time.RFC3339), "<@"+bob+">")

	post(approvals.ActionRevokeFailed, approvals.SystemActor, func(r *approvals.Request) {
		r.RevokeFailures, r.LastError, r.RevokeRetryAt = 1, "github: 502 Bad Gateway", start.Add(time.Hour+time.Minute)
	})
	cur, _ = g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after a failed revoke", cur.AllText(), "*revoke failed*", "active until", "revoke failed 1 time")

	post(approvals.ActionRevoked, carol, func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusRevoked, start.Add(2*time.Hour), carol
	})
	if got := g.request(r.ID).AuditThread; got != parent {
		t.Errorf("thread on record %v, want the parent %v", got, parent)
	}
	cur, _ = g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after revoke", cur.AllText(), "*revoked*", "revoked by <@"+carol+">", r.ID, r.Resource)
	if strings.Contains(cur.AllText(), "active until") {
		t.Errorf("parent still shows the grant as active:\n%s", cur.AllText())
	}

	if top := g.slack.TopLevel(auditChannel); len(top) != 1 {
		t.Errorf("%d top-level audit posts, want 1 (the parent):\n%s", len(top), g.slack.Summary())
	}
	replies := g.slack.Replies(parent.ChannelID, parent.TS)
	wantActions := []string{"approved", "granted", "revoke failed", "revoked"}
	if len(replies) != len(wantActions) {
		t.Fatalf("%d replies, want %d:\n%s", len(replies), len(wantActions), g.slack.Summary())
	}
	for i, c := range replies {
		mustContain(t, wantActions[i]+" reply", c.Text, "*"+wantActions[i]+"*", r.ID, r.Resource, "<@"+alice+">")
	}
	mustContain(t, "revoke failed reply", replies[2].Text, "failed", "502 Bad Gateway")
	if u := len(g.slack.Updates()); u != len(wantActions) {
		t.Errorf("%d chat.update calls, want %d (one per reply)", u, len(wantActions))
	}
}

// TestAuditThreadConcurrent checks that events of one request committed
// at once open one thread, not one each.
func TestAuditThreadConcurrent(t *testing.T) {
	g := newRig(t, auditChannel)
	r := pendingRequest()
	g.file(r)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ev := approvals.Event{Action: approvals.ActionApproval, Actor: bob, RequestID: r.ID, Resource: r.Resource, Requester: alice}
			if _, err := g.db.Transition(context.Background(), r.ID, func(*approvals.Request) (approvals.Change, error) {
				return approvals.Change{Notices: []approvals.Notice{{Event: &ev}}}, nil
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	g.idle()
	top := g.slack.TopLevel(auditChannel)
	if len(top) != 1 {
		t.Fatalf("%d parents, want 1:\n%s", len(top), g.slack.Summary())
	}
	if got := g.request(r.ID).AuditThread; got.TS != top[0].TS {
		t.Errorf("thread on record %v, want the parent %s", got, top[0].TS)
	}
	if got := len(g.slack.Replies(auditChannel, top[0].TS)); got != 7 {
		t.Errorf("%d replies, want 7", got)
	}
}

// TestAuditTopLevel checks that events about no request are posted at the
// top level and open no thread.
func TestAuditTopLevel(t *testing.T) {
	g := newRig(t, auditChannel)
	for _, ev := range []approvals.Event{
		{Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, Detail: "policy v2 loaded", PolicyHash: "0123456789abcdef"},
		{Action: approvals.ActionDrift, Actor: approvals.SystemActor, Resource: "payments-admin", Identity: "mallory", Detail: "mallory holds it with no grant"},
	} {
		if err := g.db.AppendEvent(context.Background(), ev, told(ev, false)); err != nil {
			t.Fatal(err)
		}
	}
	g.idle()
	top := g.slack.TopLevel(auditChannel)
	if len(top) != 2 || len(g.slack.Updates()) != 0 {
		t.Fatalf("%d top-level posts and %d updates, want 2 and 0:\n%s", len(top), len(g.slack.Updates()), g.slack.Summary())
	}
	mustContain(t, "policy post", top[0].Text, "*policy loaded*", "policy v2 loaded", "`0123456789ab`")
	mustContain(t, "drift post", top[1].Text, "*drift*", "payments-admin", "mallory")
}

// TestAuditReplyRefused checks that a reply Slack refuses for good is
// recorded in the audit log and changes nothing else: the parent is still
// rewritten, and the next event replies in the same thread.
func TestAuditReplyRefused(t *testing.T) {
	g := newRig(t, auditChannel)
	r := pendingRequest()
	g.file(r, told(eventOf(r, approvals.ActionRequested, alice), false))
	g.idle()
	parent := g.request(r.ID).AuditThread
	g.slack.FailNext("chat.postMessage", 1, slackfake.Error("channel_is_archived"))
	ev := eventOf(r, approvals.ActionCancelled, alice)
	g.change(r.ID, func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusCancelled, start, alice
	}, told(ev, false))
	g.idle()
	cur, _ := g.slack.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent", cur.AllText(), "cancelled by <@"+alice+">")
	var recorded bool
	g.db.Events(context.Background(), func(ev approvals.Event) error {
		recorded = recorded || (ev.Action == approvals.ActionUndeliverable && strings.Contains(ev.Detail, "channel_is_archived"))
		return nil
	})
	if !recorded {
		t.Error("the refused reply is not in the audit log")
	}
	g.change(r.ID, func(*approvals.Request) {}, told(ev, false))
	g.idle()
	if len(g.slack.TopLevel(auditChannel)) != 1 || len(g.slack.Replies(parent.ChannelID, parent.TS)) != 1 {
		t.Errorf("want one parent and one reply:\n%s", g.slack.Summary())
	}
}

// TestAuditThreadLifecycle runs a request through the real service and
// store: one thread per request, recorded on the request, and after a
// restart (a new Notifier and Service on the same store) the expiry still
// replies in that thread and rewrites its parent.
func TestAuditThreadLifecycle(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "INC-7 thread")
	other := h.request(dave, "sre-oncall", "30m", "INC-8 other thread")
	h.settle()
	h.clock.Advance(time.Minute)
	if code := h.click(bob, bot.ActionApprove, id, h.approvalRef(id)); code != http.StatusOK {
		t.Fatalf("click: status %d", code)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusActive {
		t.Fatalf("status %s, want active", r.Status)
	}

	parents := h.slack.TopLevel(auditChannel)
	if len(parents) != 2 {
		t.Fatalf("%d top-level audit posts, want one per request:\n%s", len(parents), h.slack.Summary())
	}
	thread := h.get(id).AuditThread
	if thread.ChannelID != auditChannel || thread.TS == "" {
		t.Fatalf("recorded thread %v", thread)
	}
	if h.get(other).AuditThread == thread || h.get(other).AuditThread.TS == "" {
		t.Errorf("requests %s and %s share thread %v", id, other, thread)
	}
	if got := actionsOf(h.slack.Replies(thread.ChannelID, thread.TS)); got != "approved,granted" {
		t.Errorf("replies %s, want approved,granted", got)
	}
	mustContain(t, "parent", h.current(thread).AllText(), "*granted*", id, "active until", "<@"+bob+">")

	// Restart: the in-memory thread map is gone; the store has the thread.
	h.svc.Shutdown()
	h.restart()
	h.clock.Advance(time.Hour)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusExpired {
		t.Fatalf("status %s, want expired", r.Status)
	}
	if got := actionsOf(h.slack.Replies(thread.ChannelID, thread.TS)); got != "approved,granted,expired" {
		t.Errorf("replies after the restart %s, want approved,granted,expired", got)
	}
	if n := len(h.slack.TopLevel(auditChannel)); n != 2 {
		t.Errorf("%d top-level audit posts after the restart, want 2", n)
	}
	mustContain(t, "parent after expiry", h.current(thread).AllText(), "*expired*", "expired at", id, "<@"+alice+">")
}

// restart replaces the harness's deliverer, service and bot with new ones
// on the same store and fake Slack, as a restart of the program does.
func (h *harness) restart() {
	h.t.Helper()
	gh, err := github.New(github.Config{Token: "ghp-test", APIURL: h.github.URL()})
	if err != nil {
		h.t.Fatal(err)
	}
	client := h.slack.Client()
	h.deliverer.stop()
	h.svc = approvals.New(approvals.Config{
		Store:        h.db,
		Providers:    map[string]approvals.Provider{github.Name: gh},
		Policy:       testPolicy(),
		Now:          h.clock.Now,
		Logger:       testLogger(),
		RetryBackoff: time.Millisecond,
	})
	if h.bot, err = bot.New(bot.Config{Client: client, SigningSecret: secret, Service: h.svc, Logger: testLogger(), Now: h.clock.Now}); err != nil {
		h.t.Fatal(err)
	}
	h.handler = h.bot.Handler()
	h.deliverer = startDeliverer(h.t, client, h.db, h.svc, testLogger())
}

// actionsOf returns the actions audit posts start with, comma-separated.
func actionsOf(posts []slackfake.Call) string {
	var out []string
	for _, c := range posts {
		rest, _ := strings.CutPrefix(c.Text, "*")
		action, _, _ := strings.Cut(rest, "*")
		out = append(out, action)
	}
	return strings.Join(out, ",")
}
