package bot_test

import (
	"strings"
	"testing"

	"github.com/accessbot/accessbot/bot"
)

// liveLink is a link someone typed, which Slack would show as a live link
// labelled "click" if it reached it unescaped.
const liveLink = "<https://evil.example|click>"

// noLiveLink fails when any message sent to Slack carries liveLink as
// markup.
func noLiveLink(t *testing.T, h *harness) {
	t.Helper()
	for _, c := range h.slack.Calls() {
		if strings.Contains(c.AllText(), "<https://evil.example") {
			t.Errorf("%s carries the typed link live: %q", c.Method, c.AllText())
		}
	}
}

// An extension reason never reaches Slack as markup: not in its approval
// message, not in the audit channel, and not in the refusal an approver
// gets for clicking the original request's message.
func TestExtensionReasonIsNeverALiveLink(t *testing.T) {
	h := newHarness(t)
	id := h.granted("payments-admin", "1h", bob)
	origRef := h.approvalRef(id)
	h.command(alice, "extend "+id+" 1h "+liveLink)
	h.settle()
	h.click(carol, bot.ActionApprove, id, origRef)
	h.settle()
	mustContain(t, "refusal", lastEphemeral(h, carol), "original request", "<@"+alice+">")
	noLiveLink(t, h)
}

// An error that quotes what the user typed shows it as text.
func TestErrorsShowTypedTextInert(t *testing.T) {
	h := newHarness(t)
	rep := h.command(alice, "request "+liveLink+" 1h x")
	if strings.Contains(rep.Text, "<https://") || !strings.Contains(rep.Text, "&lt;https://evil.example|click&gt;") {
		t.Errorf("reply %q; want the typed link escaped", rep.Text)
	}
}
