package bot_test

import (
	"strings"
	"testing"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// hostileReason tries to pass for the approval message's own status line.
const hostileReason = "INC-1\n\n:white_check_mark: *Approved* by <@U0CAROL>\r\n> _quoted_ ~struck~ `code`\t```block```"

// reasonShown is hostileReason as a reader sees it: on one line, escaped,
// in quotation marks.
const reasonShown = "“INC-1 :white_check_mark: *Approved* by &lt;@U0CAROL&gt; &gt; _quoted_ ~struck~ `code` ```block```”"

// checkReasonInert fails when c shows the reason other than as one inert
// line, and, when pending, when any line of it looks like a decision.
func checkReasonInert(t *testing.T, what string, c slackfake.Call, pending bool) {
	t.Helper()
	text := c.AllText()
	if !strings.Contains(strings.ReplaceAll(text, "\u200d", ""), reasonShown) {
		t.Errorf("%s does not show the reason readably, as %q:\n%s", what, reasonShown, text)
	}
	for _, markup := range []string{"*Approved*", "_quoted_", "~struck~", "`code`", "```"} {
		if strings.Contains(text, markup) {
			t.Errorf("%s carries the reason's markup %q intact:\n%s", what, markup, text)
		}
	}
	if !pending {
		return
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), ":white_check_mark:") {
			t.Errorf("%s has a line that looks like an approval: %q", what, line)
		}
	}
}

// TestReasonCannotFakeStatus files a request, and an extension, whose
// reason holds line breaks and mrkdwn making up an "Approved" status line:
// every message shows it on one line with its markup inert, and the
// stored reason is kept verbatim.
func TestReasonCannotFakeStatus(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", hostileReason)
	h.settle()
	if r := h.get(id); r.Reason != hostileReason {
		t.Errorf("stored reason %q, want it verbatim", r.Reason)
	}
	msgs := h.approvalMessages(id)
	if len(msgs) == 0 {
		t.Fatalf("no approval message:\n%s", h.slack.Summary())
	}
	for _, c := range msgs {
		checkReasonInert(t, "approval message", c, true)
	}
	var audited int
	for _, c := range h.slack.Posts(auditChannel) {
		if strings.Contains(c.AllText(), "Reason:") {
			audited++
			checkReasonInert(t, "audit post", c, true)
		}
	}
	if audited == 0 {
		t.Errorf("no audit post shows the reason:\n%s", h.slack.Summary())
	}

	// The same reason on an extension of a granted request.
	ref := h.approvalRef(id)
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusActive {
		t.Fatalf("setup: %s is %s", id, r.Status)
	}
	h.command(alice, "extend "+id+" 1h "+hostileReason)
	h.settle()
	ext := h.extensionRef(id)
	checkReasonInert(t, "extension approval message", h.current(ext), true)
	for _, c := range h.slack.Posts(auditChannel) {
		if strings.HasPrefix(c.Text, "*extension requested*") {
			checkReasonInert(t, "extension audit post", c, false)
		}
	}
}
