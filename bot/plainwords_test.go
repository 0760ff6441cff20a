package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestPlainWords checks the forgiving side of /access: durations in
// words, resource names in any case, suggestions for typos (only of what
// the user may request), and counts in English.
func TestPlainWords(t *testing.T) {
	h := newHarness(t)

	rep := h.command(alice, "request PAYMENTS-ADMIN 90 minutes INC-7 rollout")
	mustContain(t, "reply", rep.Text, "filed: *payments-admin* for *1h30m*")

	rep = h.command(alice, "request payments-repo-wrte 2 hrs fix")
	mustContain(t, "reply", rep.Text, `unknown resource "payments-repo-wrte"; did you mean payments-repo-write?`)

	// Alice has no postgres account: prod-db-read is not hers to request,
	// so it is never suggested to her.
	rep = h.command(alice, "request prod-db-raed 1h fix")
	mustContain(t, "reply", rep.Text, `unknown resource "prod-db-raed"`)
	if strings.Contains(rep.Text, "did you mean") {
		t.Errorf("suggested a resource alice may not request: %q", rep.Text)
	}

	rep = h.command(alice, "reqest payments-admin 1h fix")
	mustContain(t, "reply", rep.Text, "did you mean /access request?")

	rep = h.command(alice, "resources")
	mustContain(t, "resources", rep.Text, "1 approval from", "2 approvals from")
	if strings.Contains(rep.Text, "(s)") {
		t.Errorf("resources says (s): %q", rep.Text)
	}
}

// TestReasonPattern checks that a reason the resource's reason_pattern
// refuses is refused with its hint, in the command and at the reason
// field of the form.
func TestReasonPattern(t *testing.T) {
	h := newHarness(t)
	p := testPolicy()
	p.Resources[0].ReasonPattern, p.Resources[0].ReasonHint = `INC-[0-9]+`, "give the incident, e.g. INC-4211"
	p.Hash = "reasons"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	rep := h.command(alice, "request payments-admin 1h hotfix")
	mustContain(t, "reply", rep.Text, ":warning:", "give the incident, e.g. INC-4211")
	payload := h.slack.ViewSubmission(alice, bot.CallbackRequestModal, "", map[string]map[string]slackfake.Input{
		bot.BlockModalResource: {bot.ActionModalResource: {Type: "static_select", Value: "payments-admin"}},
		bot.BlockModalDuration: {bot.ActionModalDuration: {Type: "plain_text_input", Value: "1h"}},
		bot.BlockModalReason:   {bot.ActionModalReason: {Type: "plain_text_input", Value: "hotfix"}},
	})
	w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload))
	var resp struct {
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || !strings.Contains(resp.Errors[bot.BlockModalReason], "give the incident") {
		t.Fatalf("form answer %s (%v), want the hint at the reason", w.Body.String(), err)
	}
	if len(h.list(alice)) != 0 {
		t.Fatal("a refused reason filed a request")
	}
	h.request(alice, "payments-admin", "1h", "INC-4211 hotfix")
}

// TestWhoAt checks /access who RESOURCE at TIME: who held the resource
// at an instant in the past, absolute or counted back from now.
func TestWhoAt(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "INC-1")
	h.settle()
	h.click(bob, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()
	grantedAt := h.clock.Now()
	h.clock.Advance(30 * time.Minute)
	h.command(alice, "revoke "+id)
	h.settle()
	h.clock.Advance(time.Hour)

	rep := h.command(bob, "who Payments-Admin at 80 minutes ago")
	mustContain(t, "who at 80 minutes ago", rep.Text, "Holders of payments-admin at", "<@"+alice+">", id, "revoked at")
	rep = h.command(bob, "who payments-admin at "+grantedAt.Add(-time.Minute).Format(time.RFC3339))
	mustContain(t, "who before the grant", rep.Text, "Nobody held *payments-admin*")
	rep = h.command(bob, "who payments-admin")
	mustContain(t, "who now", rep.Text, "Nobody holds *payments-admin*")
	rep = h.command(dave, "who payments-admin at 80 minutes ago")
	mustContain(t, "who by a non-approver", rep.Text, ":warning:", "only the approvers of payments-admin")
	rep = h.command(bob, "who payments-admin at 2099-01-01 10:00")
	mustContain(t, "who in the future", rep.Text, ":warning:", "in the future")
}
