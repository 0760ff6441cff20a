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
	n, s := newNotifier(t, auditChannel)
	ctx := context.Background()
	r := pendingRequest()
	r.Required = 1
	post := func(action, actor string) approvals.MessageRef {
		t.Helper()
		ev := approvals.Event{Action: action, Actor: actor, RequestID: r.ID, Resource: r.Resource, Requester: r.Requester,
			Identity: r.Identity, Duration: r.Duration, Reason: r.Reason, Approvers: r.Approvers(), ExpiresAt: r.ExpiresAt}
		ref, err := n.PostAudit(ctx, r.Clone(), ev)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return ref
	}

	parent := post(approvals.ActionRequested, alice)
	if parent.ChannelID != auditChannel || parent.TS == "" {
		t.Fatalf("parent %v", parent)
	}
	cur, _ := s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent", cur.AllText(), "*requested*", r.ID, r.Resource, "<@"+alice+">", "pending")

	r.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	r.Status, r.DecidedBy = approvals.StatusApproved, bob
	post(approvals.ActionApproved, bob)
	cur, _ = s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after approval", cur.AllText(), "*approved*", r.ID, "approved by <@"+bob+">")

	r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, start, start.Add(time.Hour)
	post(approvals.ActionGranted, approvals.SystemActor)
	cur, _ = s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after grant", cur.AllText(), "*granted*", "active until", start.Add(time.Hour).Format(time.RFC3339), "<@"+bob+">")

	r.RevokeFailures, r.LastError, r.RevokeRetryAt = 1, "github: 502 Bad Gateway", start.Add(time.Hour+time.Minute)
	post(approvals.ActionRevokeFailed, approvals.SystemActor)
	cur, _ = s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after a failed revoke", cur.AllText(), "*revoke failed*", "active until", "revoke failed 1 time")

	r.Status, r.EndedAt, r.EndedBy = approvals.StatusRevoked, start.Add(2*time.Hour), carol
	if got := post(approvals.ActionRevoked, carol); got != parent {
		t.Errorf("PostAudit returned %v, want the parent %v", got, parent)
	}
	cur, _ = s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent after revoke", cur.AllText(), "*revoked*", "revoked by <@"+carol+">", r.ID, r.Resource)
	if strings.Contains(cur.AllText(), "active until") {
		t.Errorf("parent still shows the grant as active:\n%s", cur.AllText())
	}

	if top := s.TopLevel(auditChannel); len(top) != 1 {
		t.Errorf("%d top-level audit posts, want 1 (the parent):\n%s", len(top), s.Summary())
	}
	replies := s.Replies(parent.ChannelID, parent.TS)
	wantActions := []string{"approved", "granted", "revoke failed", "revoked"}
	if len(replies) != len(wantActions) {
		t.Fatalf("%d replies, want %d:\n%s", len(replies), len(wantActions), s.Summary())
	}
	for i, c := range replies {
		mustContain(t, wantActions[i]+" reply", c.Text, "*"+wantActions[i]+"*", r.ID, r.Resource, "<@"+alice+">")
	}
	mustContain(t, "revoke failed reply", replies[2].Text, "failed", "502 Bad Gateway")
	if u := len(s.Updates()); u != len(wantActions) {
		t.Errorf("%d chat.update calls, want %d (one per reply)", u, len(wantActions))
	}
}

// TestAuditThreadStaleSnapshot checks that an event announced with an older
// snapshot still gets its reply, but does not rewind the parent.
func TestAuditThreadStaleSnapshot(t *testing.T) {
	n, s := newNotifier(t, auditChannel)
	ctx := context.Background()
	r := pendingRequest()
	ev := approvals.Event{Action: approvals.ActionRequested, RequestID: r.ID, Resource: r.Resource, Requester: alice}
	parent, err := n.PostAudit(ctx, r, ev)
	if err != nil {
		t.Fatal(err)
	}
	partial := r.Clone()
	partial.Approvals = []approvals.Approval{{Approver: bob, At: start}}
	decided := partial.Clone()
	decided.Approvals = append(decided.Approvals, approvals.Approval{Approver: carol, At: start})
	decided.Status, decided.DecidedBy = approvals.StatusApproved, carol

	ev.Action, ev.Actor, ev.Approvers = approvals.ActionApproved, carol, decided.Approvers()
	if _, err := n.PostAudit(ctx, decided, ev); err != nil {
		t.Fatal(err)
	}
	ev.Action, ev.Actor, ev.Approvers = approvals.ActionApproval, bob, partial.Approvers()
	if _, err := n.PostAudit(ctx, partial, ev); err != nil {
		t.Fatal(err)
	}
	if got := len(s.Replies(parent.ChannelID, parent.TS)); got != 2 {
		t.Errorf("%d replies, want 2", got)
	}
	cur, _ := s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent", cur.AllText(), "*approved*", "approved by <@"+bob+">, <@"+carol+">")
}

// TestAuditThreadConcurrent checks that events of one request announced at
// once open one thread, not one each.
func TestAuditThreadConcurrent(t *testing.T) {
	n, s := newNotifier(t, auditChannel)
	r := pendingRequest()
	refs := make([]approvals.MessageRef, 8)
	var wg sync.WaitGroup
	for i := range refs {
		wg.Go(func() {
			ev := approvals.Event{Action: approvals.ActionApproval, Actor: bob, RequestID: r.ID, Resource: r.Resource, Requester: alice}
			ref, err := n.PostAudit(context.Background(), r.Clone(), ev)
			if err != nil {
				t.Error(err)
			}
			refs[i] = ref
		})
	}
	wg.Wait()
	top := s.TopLevel(auditChannel)
	if len(top) != 1 {
		t.Fatalf("%d parents, want 1:\n%s", len(top), s.Summary())
	}
	for _, ref := range refs {
		if ref.TS != top[0].TS {
			t.Errorf("PostAudit returned %v, want the parent %s", ref, top[0].TS)
		}
	}
	if got := len(s.Replies(auditChannel, top[0].TS)); got != len(refs)-1 {
		t.Errorf("%d replies, want %d", got, len(refs)-1)
	}
}

// TestAuditTopLevel checks that events about no request are posted at the
// top level and open no thread.
func TestAuditTopLevel(t *testing.T) {
	n, s := newNotifier(t, auditChannel)
	for _, ev := range []approvals.Event{
		{Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, Detail: "policy v2 loaded", PolicyHash: "0123456789abcdef"},
		{Action: approvals.ActionDrift, Actor: approvals.SystemActor, Resource: "payments-admin", Identity: "mallory", Detail: "mallory holds it with no grant"},
	} {
		ref, err := n.PostAudit(context.Background(), nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		if ref != (approvals.MessageRef{}) {
			t.Errorf("%s: returned thread %v", ev.Action, ref)
		}
	}
	top := s.TopLevel(auditChannel)
	if len(top) != 2 || len(s.Updates()) != 0 {
		t.Fatalf("%d top-level posts and %d updates, want 2 and 0:\n%s", len(top), len(s.Updates()), s.Summary())
	}
	mustContain(t, "policy post", top[0].Text, "*policy loaded*", "policy v2 loaded", "`0123456789ab`")
	mustContain(t, "drift post", top[1].Text, "*drift*", "payments-admin", "mallory")
}

// TestAuditReplyFailure checks that a failed reply is reported to the
// caller but changes nothing else: the parent is still rewritten and
// returned, and the next event replies in the same thread.
func TestAuditReplyFailure(t *testing.T) {
	n, s := newNotifier(t, auditChannel)
	ctx := context.Background()
	r := pendingRequest()
	ev := approvals.Event{Action: approvals.ActionRequested, RequestID: r.ID, Resource: r.Resource, Requester: alice}
	parent, err := n.PostAudit(ctx, r, ev)
	if err != nil {
		t.Fatal(err)
	}
	s.FailNext("chat.postMessage", 1, slackfake.Error("channel_is_archived"))
	r.Status, r.EndedAt, r.EndedBy = approvals.StatusCancelled, start, alice
	ev.Action, ev.Actor = approvals.ActionCancelled, alice
	ref, err := n.PostAudit(ctx, r, ev)
	if err == nil || !strings.Contains(err.Error(), "channel_is_archived") {
		t.Errorf("err %v, want the failed reply", err)
	}
	if ref != parent {
		t.Errorf("returned %v, want the parent %v", ref, parent)
	}
	cur, _ := s.Message(parent.ChannelID, parent.TS)
	mustContain(t, "parent", cur.AllText(), "cancelled by <@"+alice+">")
	if _, err := n.PostAudit(ctx, r, ev); err != nil {
		t.Fatal(err)
	}
	if len(s.TopLevel(auditChannel)) != 1 || len(s.Replies(parent.ChannelID, parent.TS)) != 1 {
		t.Errorf("want one parent and one reply:\n%s", s.Summary())
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

// restart replaces the harness's notifier, service and bot with new ones
// on the same store and fake Slack, as a restart of the program does.
func (h *harness) restart() {
	h.t.Helper()
	gh, err := github.New(github.Config{Token: "ghp-test", APIURL: h.github.URL()})
	if err != nil {
		h.t.Fatal(err)
	}
	client := h.slack.Client()
	notifier, err := bot.NewNotifier(bot.NotifierConfig{Client: client, AuditChannel: auditChannel, Logger: testLogger()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc = approvals.New(approvals.Config{
		Store:        h.db,
		Providers:    map[string]approvals.Provider{github.Name: gh},
		Notifier:     notifier,
		Policy:       testPolicy(),
		Now:          h.clock.Now,
		Logger:       testLogger(),
		RetryBackoff: time.Millisecond,
	})
	if h.bot, err = bot.New(bot.Config{Client: client, SigningSecret: secret, Service: h.svc, Logger: testLogger(), Now: h.clock.Now}); err != nil {
		h.t.Fatal(err)
	}
	h.handler = h.bot.Handler()
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
