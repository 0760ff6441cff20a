package bot_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// breakGlassPolicy allows break-glass on payments-admin (approval channel)
// for 30 minutes and on payments-repo-write (approver DMs).
func breakGlassPolicy(t *testing.T) func(*approvals.Policy) {
	return func(pol *approvals.Policy) {
		r := resource(t, pol, "payments-admin")
		r.BreakGlass, r.BreakGlassMax = true, 30*time.Minute
		resource(t, pol, "payments-repo-write").BreakGlass = true
	}
}

// breakGlass runs /access break-glass as user and returns the request ID.
func (h *harness) breakGlass(user, resource, dur, reason string) string {
	h.t.Helper()
	rep := h.command(user, "break-glass "+resource+" "+dur+" "+reason)
	id := requestIDPattern.FindString(rep.Text)
	if id == "" {
		h.t.Fatalf("break-glass %s by %s not taken; reply %q", resource, user, rep.Text)
	}
	return id
}

// reviewMessages returns the review messages of request id as posted.
func (h *harness) reviewMessages(id string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range h.slack.Posts("") {
		for _, b := range c.Buttons() {
			if b.ActionID == bot.ActionReviewConfirm && b.Value == id {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

func (h *harness) reviewRef(id string) approvals.MessageRef {
	h.t.Helper()
	msgs := h.reviewMessages(id)
	if len(msgs) != 1 {
		h.t.Fatalf("request %s has %d review messages, want 1:\n%s", id, len(msgs), h.slack.Summary())
	}
	return approvals.MessageRef{ChannelID: msgs[0].Channel, TS: msgs[0].TS}
}

func TestBreakGlassGrantsAtOnceAndAlerts(t *testing.T) {
	h := newPathsHarness(t, breakGlassPolicy(t), nil)
	rep := h.command(alice, "break-glass payments-admin 20m INC-4242 payments down")
	mustContain(t, "reply", rep.Text, ":rotating_light:", "without approval")
	id := requestIDPattern.FindString(rep.Text)
	h.settle()

	r := h.get(id)
	if r.Status != approvals.StatusActive || !r.BreakGlass {
		t.Fatalf("status %s, break-glass %v; want active break-glass", r.Status, r.BreakGlass)
	}
	if got := r.ExpiresAt.Sub(r.GrantedAt); got != 20*time.Minute {
		t.Errorf("granted for %s, want 20m", got)
	}
	if role, state, ok := h.github.TeamMembership("acme", "payments-admins", "alice-gh"); !ok || state != "active" {
		t.Errorf("alice-gh not in the team: %q %q %v", role, state, ok)
	}
	if got := r.Approvers(); !slices.Equal(got, []string{alice}) || r.DecidedBy != alice {
		t.Errorf("approvers %v, decided by %s; want the requester through break-glass", got, r.DecidedBy)
	}
	evs := h.events(id)
	if got, want := actions(evs), []string{"break_glass", "granting", "granted"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if ev := pathEvent(t, evs, "break_glass"); ev.Reason != "INC-4242 payments down" || ev.Actor != alice {
		t.Errorf("break_glass event %+v", ev)
	}
	mustContain(t, "audit post", h.auditPost("break glass", id), ":rotating_light:", "without approval", "<@"+alice+">", "INC-4242 payments down")
	// Every admin is alerted by DM.
	dms := h.slack.DMs(admin)
	if len(dms) != 1 {
		t.Fatalf("admin got %d DMs, want 1:\n%s", len(dms), h.slack.Summary())
	}
	mustContain(t, "admin alert", dms[0].Text, ":rotating_light:", "Break-glass", "<@"+alice+">", "payments-admin", id)
	// The approvers get a review message with two buttons in the approval
	// channel, and no approval buttons.
	if msgs := h.approvalMessages(id); len(msgs) != 0 {
		t.Errorf("break-glass posted %d approval messages", len(msgs))
	}
	ref := h.reviewRef(id)
	if ref.ChannelID != approvalsChannel {
		t.Errorf("review message in %s, want %s", ref.ChannelID, approvalsChannel)
	}
	var ids []string
	for _, b := range h.current(ref).Buttons() {
		ids = append(ids, b.ActionID+"="+b.Value)
	}
	if want := []string{"review_confirm=" + id, "review_flag=" + id}; !slices.Equal(ids, want) {
		t.Errorf("review buttons %v, want %v", ids, want)
	}
	// The requester is told once it is granted.
	mustContain(t, "requester DM", h.slack.DMs(alice)[0].Text, "You now have")
}

func TestBreakGlassRefusals(t *testing.T) {
	h := newPathsHarness(t, breakGlassPolicy(t), nil)
	for text, want := range map[string]string{
		"break-glass sre-oncall 20m INC-1 down":     "sre-oncall does not allow break-glass access",
		"break-glass payments-admin 1h INC-1 down":  "longer than the break-glass maximum of 30m",
		"break-glass payments-admin 20m":            "a reason is required",
		"break-glass nothing-here 20m INC-1 reason": "unknown resource",
	} {
		rep := h.command(alice, text)
		mustContain(t, text, rep.Text, want)
	}
	h.settle()
	if rs := h.list(alice); len(rs) != 0 {
		t.Errorf("refused break-glass created %d requests", len(rs))
	}
	if dms := h.slack.DMs(admin); len(dms) != 0 {
		t.Errorf("admin alerted %d times for refused break-glass", len(dms))
	}
	// Without its own maximum, the resource's applies.
	id := h.breakGlass(dave, "payments-repo-write", "8h", "INC-2 outage")
	if got := h.get(id).Duration; got != 8*time.Hour {
		t.Errorf("duration %s", got)
	}
	h.settle()
}

func TestBreakGlassReviewConfirm(t *testing.T) {
	h := newPathsHarness(t, breakGlassPolicy(t), nil)
	id := h.breakGlass(alice, "payments-admin", "20m", "INC-4242 payments down")
	h.settle()
	ref := h.reviewRef(id)

	// The requester may not review their own break-glass (alice is an
	// approver of payments-admin), nor may someone who is not an approver.
	for _, u := range []string{alice, dave} {
		if code := h.click(u, bot.ActionReviewConfirm, id, ref); code != http.StatusOK {
			t.Fatalf("click answered %d", code)
		}
	}
	h.settle()
	if r := h.get(id); r.ReviewedBy != "" {
		t.Fatalf("review by a non-reviewer counted: %s", r.ReviewedBy)
	}
	mustContain(t, "refusal to alice", ephemeralText(h, alice), "cannot review your own")
	mustContain(t, "refusal to dave", ephemeralText(h, dave), "only an approver of payments-admin")

	if code := h.click(bob, bot.ActionReviewConfirm, id, ref); code != http.StatusOK {
		t.Fatalf("click answered %d", code)
	}
	h.settle()
	r := h.get(id)
	if r.ReviewedBy != bob || !r.ReviewConfirmed || r.Status != approvals.StatusActive {
		t.Fatalf("after confirm: reviewed by %q confirmed %v status %s", r.ReviewedBy, r.ReviewConfirmed, r.Status)
	}
	if ev := pathEvent(t, h.events(id), "break_glass_confirmed"); ev.Actor != bob {
		t.Errorf("confirmed by %s", ev.Actor)
	}
	now := h.current(ref)
	if len(now.Buttons()) != 0 {
		t.Errorf("review message still has buttons: %v", now.Buttons())
	}
	mustContain(t, "review message", now.AllText(), "confirmed by <@"+bob+">")
	// Once only.
	h.click(carol, bot.ActionReviewFlag, id, ref)
	h.settle()
	if r := h.get(id); !r.ReviewConfirmed || r.Status != approvals.StatusActive {
		t.Errorf("second review changed it: %+v", r)
	}
	mustContain(t, "refusal to carol", ephemeralText(h, carol), "already confirmed by <@"+bob+">")
}

func TestBreakGlassReviewFlagRevokes(t *testing.T) {
	h := newPathsHarness(t, breakGlassPolicy(t), nil)
	id := h.breakGlass(alice, "payments-admin", "20m", "INC-4242 payments down")
	h.settle()
	ref := h.reviewRef(id)
	h.clock.Advance(time.Minute)
	h.click(carol, bot.ActionReviewFlag, id, ref)
	h.settle()

	r := h.get(id)
	if r.Status != approvals.StatusRevoked || r.EndedBy != carol || r.ReviewedBy != carol || r.ReviewConfirmed {
		t.Fatalf("after flag: status %s ended by %s reviewed by %s confirmed %v", r.Status, r.EndedBy, r.ReviewedBy, r.ReviewConfirmed)
	}
	if _, _, ok := h.github.TeamMembership("acme", "payments-admins", "alice-gh"); ok {
		t.Error("alice-gh still in the team after the flag")
	}
	evs := h.events(id)
	if got, want := actions(evs), []string{"break_glass", "granting", "granted", "break_glass_flagged", "revoke_requested", "revoked"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if len(h.current(ref).Buttons()) != 0 {
		t.Error("review message still has buttons")
	}
	mustContain(t, "review message", h.current(ref).AllText(), "flagged by <@"+carol+">")
	mustContain(t, "audit", h.auditPost("break glass flagged", id), "<@"+carol+">")
}

func TestBreakGlassUnreviewedInSummary(t *testing.T) {
	h := newPathsHarness(t, breakGlassPolicy(t), nil)
	reviewed := h.breakGlass(alice, "payments-admin", "20m", "INC-1 reviewed")
	open := h.breakGlass(dave, "payments-repo-write", "1h", "INC-2 never reviewed")
	h.settle()
	h.click(bob, bot.ActionReviewConfirm, reviewed, h.reviewRef(reviewed))
	h.settle()
	// Expired, and still unreviewed: it stays in every summary.
	h.clock.Advance(2 * time.Hour)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	sum, err := h.svc.Summarize(context.Background(), h.db, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Unreviewed) != 1 || sum.Unreviewed[0].ID != open {
		t.Fatalf("unreviewed %v, want only %s", sum.Unreviewed, open)
	}
	if err := h.db.Enqueue(context.Background(), approvals.Notice{Summary: sum}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	var text string
	for _, c := range h.slack.Posts(auditChannel) {
		if strings.Contains(c.AllText(), "Break-glass grants not reviewed yet") {
			text = c.AllText()
		}
	}
	mustContain(t, "summary", text, "Break-glass grants not reviewed yet (1)", open, "<@"+dave+">", "INC-2 never reviewed")
	if strings.Contains(text, reviewed) {
		t.Errorf("summary lists the reviewed grant %s", reviewed)
	}
}

// ephemeralText returns everything user was shown ephemerally.
func ephemeralText(h *harness, user string) string {
	var b strings.Builder
	for _, c := range h.slack.Ephemerals(user) {
		b.WriteString(c.Text + "\n")
	}
	return b.String()
}
