package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// groupPolicy adds "ops", approved by the user group S0OPS (asked by DM,
// having no approval channel) and requestable by the group S0ENG and by
// carol.
func groupPolicy(h *harness) {
	h.t.Helper()
	h.github.AddTeam("acme", "ops")
	p := testPolicy()
	p.Resources = append(p.Resources, approvals.Resource{
		Name: "ops", Provider: "github", Settings: json.RawMessage(`{"org":"acme","team":"ops"}`),
		Approvers: []string{"S0OPS"}, Requesters: []string{"S0ENG", carol}, MaxDuration: time.Hour,
	})
	p.Hash = "with-groups"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

// TestUserGroupApprovers checks that the members of an approver group are
// asked by DM, and that someone removed from the group between the
// request and their click no longer counts.
func TestUserGroupApprovers(t *testing.T) {
	h := newHarness(t)
	h.slack.SetGroup("S0OPS", bob, dave)
	h.slack.SetGroup("S0ENG", alice)
	groupPolicy(h)

	id := h.request(alice, "ops", "1 hour", "INC-9 failover")
	h.settle()
	refs := map[string]approvals.MessageRef{}
	for _, m := range h.approvalMessages(id) {
		refs[m.Channel] = approvals.MessageRef{ChannelID: m.Channel, TS: m.TS}
	}
	bobRef, okBob := refs[slackfake.DMChannel(bob)]
	daveRef, okDave := refs[slackfake.DMChannel(dave)]
	if len(refs) != 2 || !okBob || !okDave {
		t.Fatalf("approval messages in %v, want a DM to each member of S0OPS:\n%s", refs, h.slack.Summary())
	}

	h.slack.SetGroup("S0OPS", bob) // dave leaves the group
	h.click(dave, bot.ActionApprove, id, daveRef)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 0 {
		t.Fatalf("a click by someone removed from the group counted: %s, %v", r.Status, r.Approvals)
	}
	eph := h.slack.Ephemerals(dave)
	if len(eph) != 1 {
		t.Fatalf("%d ephemerals to dave, want 1", len(eph))
	}
	mustContain(t, "refusal", eph[0].Text, "not an approver of ops", "<!subteam^S0OPS>")

	h.click(bob, bot.ActionApprove, id, bobRef)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusActive {
		t.Fatalf("after a member's approval: %s", r.Status)
	}
	if n := len(h.slack.CallsTo("usergroups.users.list")); n < 3 {
		t.Errorf("%d usergroups.users.list calls; each click must be checked against the group as it is", n)
	}
}

// TestUserGroupUnresolvable checks that a click is refused, with a clear
// message, when Slack cannot say who is in the approver group.
func TestUserGroupUnresolvable(t *testing.T) {
	h := newHarness(t)
	h.slack.SetGroup("S0OPS", bob)
	h.slack.SetGroup("S0ENG", alice)
	groupPolicy(h)
	id := h.request(alice, "ops", "1h", "x")
	h.settle()
	ref := h.approvalRef(id)
	h.slack.FailNext("usergroups.users.list", 1, slackfake.Error("fatal_error"))
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending {
		t.Fatalf("status %s after a click that could not be checked", r.Status)
	}
	eph := h.slack.Ephemerals(bob)
	if len(eph) != 1 {
		t.Fatalf("%d ephemerals to bob", len(eph))
	}
	mustContain(t, "refusal", eph[0].Text, "could not read the members of <!subteam^S0OPS>", "try again")
}

// TestRequestersRefuseOutsiders checks requesters: an outsider is refused
// with a clear message and does not see the resource.
func TestRequestersRefuseOutsiders(t *testing.T) {
	h := newHarness(t)
	h.slack.SetGroup("S0OPS", bob)
	h.slack.SetGroup("S0ENG", alice)
	groupPolicy(h)

	rep := h.command(dave, "request ops 1h x")
	mustContain(t, "outsider's reply", rep.Text, "ops can be requested only by <!subteam^S0ENG>, <@"+carol+">")
	if rs := h.list(dave); len(rs) != 0 {
		t.Errorf("the outsider's request was filed: %v", rs)
	}
	if rep := h.command(dave, "resources"); strings.Contains(rep.Text, "*ops*") {
		t.Errorf("resources lists ops to an outsider:\n%s", rep.Text)
	}
	if rep := h.command(alice, "resources"); !strings.Contains(rep.Text, "*ops*") || !strings.Contains(rep.Text, "<!subteam^S0OPS>") {
		t.Errorf("resources does not list ops, approved by the group, to a member of S0ENG:\n%s", rep.Text)
	}
	// "Did you mean" offers only what the user may request.
	if rep := h.command(dave, "request opz 1h x"); strings.Contains(rep.Text, "did you mean ops") {
		t.Errorf("suggested ops to an outsider: %q", rep.Text)
	}
	h.id(alice, "request ops 1h x")
}

// id runs a request command and returns the ID filed.
func (h *harness) id(user, text string) string {
	h.t.Helper()
	rep := h.command(user, text)
	id := requestIDPattern.FindString(rep.Text)
	if id == "" {
		h.t.Fatalf("/access %s: not filed: %q", text, rep.Text)
	}
	return id
}
