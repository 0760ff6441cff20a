package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// nudge runs the checks the cron runs beside the expiry sweep.
func (h *harness) nudge() {
	h.t.Helper()
	if err := h.svc.Nudge(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.settle()
}

// TestReminderThenTimeout checks that approvers are reminded once, in the
// thread of the approval message, and that an undecided request is
// closed at its pending_timeout: the approval message loses its buttons,
// the requester and the audit channel are told.
func TestReminderThenTimeout(t *testing.T) {
	h := newHarness(t)
	p := testPolicy()
	p.Resources[0].PendingTimeout, p.Resources[0].RemindAfter = 2*time.Hour, 30*time.Minute
	p.Hash = "timeouts"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	id := h.request(alice, "payments-admin", "1h", "INC-5")
	h.settle()
	ref := h.approvalRef(id)

	h.clock.Advance(29 * time.Minute)
	h.nudge()
	if n := len(h.slack.Replies(ref.ChannelID, ref.TS)); n != 0 {
		t.Fatalf("%d replies before remind_after", n)
	}
	h.clock.Advance(time.Minute)
	h.nudge()
	h.clock.Advance(time.Minute)
	h.nudge()
	replies := h.slack.Replies(ref.ChannelID, ref.TS)
	if len(replies) != 1 {
		t.Fatalf("%d reminders in the approval message's thread, want 1:\n%s", len(replies), h.slack.Summary())
	}
	mustContain(t, "reminder", replies[0].Text, "Reminder", "<@"+alice+">", "payments-admin", id, "0 of 1 approval")

	h.clock.Advance(90 * time.Minute)
	h.nudge()
	if r := h.get(id); r.Status != approvals.StatusTimedOut {
		t.Fatalf("status %s at the timeout", r.Status)
	}
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("the approval message of a timed-out request still has buttons")
	}
	mustContain(t, "approval message", cur.AllText(), "Timed out")
	dms := h.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("%d DMs to the requester", len(dms))
	}
	mustContain(t, "requester DM", dms[0].Text, id, "no decision in time", "nothing was granted")
	mustContain(t, "audit post", h.auditPost("timed out", id), "<@"+alice+">", "no decision within 2h")
	if code := h.click(bob, bot.ActionApprove, id, ref); code != http.StatusOK {
		t.Fatalf("late click: %d", code)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusTimedOut {
		t.Fatalf("a late click changed a timed-out request: %s", r.Status)
	}
}

// TestExpiryWarningOffersExtend checks the warning before expiry and its
// Extend button, which opens a form that asks for an extension.
func TestExpiryWarningOffersExtend(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "INC-6")
	h.settle()
	h.click(bob, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()
	before := len(h.slack.DMs(alice)) // approved, granted

	h.clock.Advance(53 * time.Minute)
	h.nudge()
	if n := len(h.slack.DMs(alice)); n != before {
		t.Fatalf("warned 7 minutes before the end of a 1h grant (the warning comes at 6)")
	}
	h.clock.Advance(time.Minute)
	h.nudge()
	h.clock.Advance(time.Minute)
	h.nudge()
	dms := h.slack.DMs(alice)
	if len(dms) != before+1 {
		t.Fatalf("%d warnings, want 1:\n%s", len(dms)-before, h.slack.Summary())
	}
	warning := dms[len(dms)-1]
	mustContain(t, "warning", warning.AllText(), "ends at", id, "Extend")
	buttons := warning.Buttons()
	if len(buttons) != 1 || buttons[0].ActionID != bot.ActionExtend || buttons[0].Value != id {
		t.Fatalf("warning buttons %+v, want one extend button for %s", buttons, id)
	}

	payload := h.slack.BlockActions(alice, bot.ActionExtend, id, warning.Channel, warning.TS)
	if w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload)); w.Code != http.StatusOK {
		t.Fatalf("extend click: %d", w.Code)
	}
	views := h.slack.Views()
	if len(views) != 1 {
		t.Fatalf("%d views opened by the Extend button", len(views))
	}
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	if err := json.Unmarshal(views[0].View, &view); err != nil || view.CallbackID != bot.CallbackExtendModal || view.PrivateMetadata != id {
		t.Fatalf("extension modal %s (%v)", views[0].View, err)
	}
	submit := slackfake.SignedInteraction(secret, h.clock.Now(), h.slack.ViewSubmission(alice, bot.CallbackExtendModal, id, map[string]map[string]slackfake.Input{
		bot.BlockModalDuration: {bot.ActionModalDuration: {Type: "plain_text_input", Value: "30 minutes"}},
		bot.BlockModalReason:   {bot.ActionModalReason: {Type: "plain_text_input", Value: "rollout not done"}},
	}))
	if w := h.serve(submit); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"response_action":"update"`) {
		t.Fatalf("extension submission: %d %s", w.Code, w.Body.String())
	}
	h.settle()
	e := h.get(id).PendingExtension()
	if e == nil || e.Duration != 30*time.Minute || e.Reason != "rollout not done" {
		t.Fatalf("pending extension %+v", e)
	}
	// Someone else's Extend click opens nothing.
	payload = h.slack.BlockActions(bob, bot.ActionExtend, id, warning.Channel, warning.TS)
	h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload))
	h.settle()
	if n := len(h.slack.Views()); n != 1 {
		t.Errorf("bob's click on alice's Extend opened a view")
	}
}

// TestCancelButton checks the Cancel button of the confirmation.
func TestCancelButton(t *testing.T) {
	h := newHarness(t)
	rep := h.command(alice, "request payments-admin 1h INC-8")
	id := requestIDPattern.FindString(rep.Text)
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(rep.Blocks, &blocks); err != nil {
		t.Fatalf("reply blocks: %v: %s", err, rep.Blocks)
	}
	found := false
	for _, b := range blocks {
		for _, e := range b.Elements {
			found = found || (e.ActionID == bot.ActionCancel && e.Value == id)
		}
	}
	if !found {
		t.Fatalf("no cancel button for %s in %s", id, rep.Blocks)
	}
	h.settle()

	// Only the requester can use it.
	h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), h.slack.BlockActions(bob, bot.ActionCancel, id, "C0GENERAL", "")))
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending {
		t.Fatalf("bob cancelled alice's request: %s", r.Status)
	}
	h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), h.slack.BlockActions(alice, bot.ActionCancel, id, "C0GENERAL", "")))
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusCancelled || r.EndedBy != alice {
		t.Fatalf("after the cancel click: %s by %s", r.Status, r.EndedBy)
	}
	replaced := false
	for _, c := range h.slack.CallsTo("response_url") {
		replaced = replaced || (c.User == alice && c.ReplaceOriginal && strings.Contains(c.Text, "cancelled"))
	}
	if !replaced {
		t.Errorf("the confirmation was not replaced:\n%s", h.slack.Summary())
	}
	mustContain(t, "approval message", h.current(h.approvalRef(id)).AllText(), "Cancelled")
}
