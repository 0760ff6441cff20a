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
)

// TestAlreadyHeld checks that access held outside accessbot closes the
// request before any approver is asked, and the requester is told.
func TestAlreadyHeld(t *testing.T) {
	h := newHarness(t)
	h.github.AddTeamMember("acme", "payments-admins", "alice-gh")
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusAlreadyHeld {
		t.Fatalf("status %s, want already_held", r.Status)
	}
	if n := len(h.approvalMessages(id)); n != 0 {
		t.Errorf("%d approval messages for access already held", n)
	}
	dms := h.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("%d DMs to the requester", len(dms))
	}
	mustContain(t, "already-held DM", dms[0].Text, "already hold", id, "nothing was granted")
	mustContain(t, "audit post", h.auditPost("already held", id), "<@"+alice+">", "payments-admin")
}

// TestGrantFailed checks that a permanent provider failure is shown on the
// approval message, to the requester and in the audit channel as "failed".
func TestGrantFailed(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)
	h.github.FailNext(http.MethodPut, aliceTeamPath, http.StatusUnprocessableEntity, 1)
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusFailed {
		t.Fatalf("status %s, want failed", r.Status)
	}
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left after a failed grant")
	}
	mustContain(t, "approval message", cur.AllText(), "Grant failed")
	dms := h.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("%d DMs to the requester", len(dms))
	}
	// One plain sentence with the ID; the provider's answer is for admins.
	want := "Granting *payments-admin* for request `" + id + "` failed: the provider refused it. An admin can see the detail in the audit channel."
	mustContain(t, "requester DM", dms[0].Text, want)
	for _, leak := range []string{"422", "Unprocessable", "http", "/orgs/", "PUT"} {
		if strings.Contains(dms[0].Text, leak) || strings.Contains(cur.AllText(), leak) {
			t.Errorf("the requester's DM or the approval message shows the provider's detail %q:\n%s\n%s", leak, dms[0].Text, cur.AllText())
		}
	}
	audit := h.auditPost("grant failed", id)
	mustContain(t, "audit post", audit, "failed", "<@"+alice+">", "payments-admin", "422")
}

// TestGrantFailedNamesTheSystem checks that a resource's system is named
// in messages instead of its provider.
func TestGrantFailedNamesTheSystem(t *testing.T) {
	h := newHarness(t)
	p := testPolicy()
	p.Resources[0].System = "Payments GitHub"
	p.Hash = "with-system"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	rep := h.command(alice, "request Payments-Admin 2 hours hotfix")
	id := requestIDPattern.FindString(rep.Text)
	if id == "" {
		t.Fatalf("not filed: %q", rep.Text)
	}
	h.settle()
	ref := h.approvalRef(id)
	mustContain(t, "approval message", h.current(ref).AllText(), "at Payments GitHub", "*2h*")
	h.github.FailNext(http.MethodPut, aliceTeamPath, http.StatusUnprocessableEntity, 1)
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	dms := h.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("%d DMs to the requester", len(dms))
	}
	mustContain(t, "requester DM", dms[0].Text, "failed: Payments GitHub refused it.", id)
}

// TestRevokeFailed checks that a failed revoke is reported as "failed" and
// retried by a later sweep until it succeeds.
func TestRevokeFailed(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	h.click(bob, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()

	// Every attempt of the first sweep fails with a 5xx.
	h.github.FailNext(http.MethodDelete, aliceTeamPath, http.StatusBadGateway, 3)
	h.clock.Advance(time.Hour)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusActive || r.RevokeFailures != 1 {
		t.Fatalf("after a failed revoke: %s, %d failures", r.Status, r.RevokeFailures)
	}
	mustContain(t, "audit post", h.auditPost("revoke failed", id), "failed", "<@"+alice+">", "payments-admin", "still holds")

	h.clock.Advance(time.Minute)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusExpired {
		t.Fatalf("after the retry: %s", r.Status)
	}
	if got, want := h.auditActions(), []string{"requested", "approved", "granted", "revoke failed", "expired"}; !slices.Equal(got, want) {
		t.Errorf("audit posts %v, want %v", got, want)
	}
}
