package bot_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/pagerduty"
	"github.com/accessbot/accessbot/pagerduty/pagerdutytest"
)

// pagerDutyOnCall adapts the PagerDuty client as cmd/accessbot does:
// the requester's email is their identity under the pagerduty key.
type pagerDutyOnCall struct {
	client *pagerduty.Client
	policy func() *approvals.Policy
}

func (p *pagerDutyOnCall) OnCall(ctx context.Context, requester string, scheduleIDs []string, at time.Time) (string, bool, error) {
	email := p.policy().Identities[requester]["pagerduty"]
	if email == "" {
		return "", false, nil
	}
	s, on, err := p.client.OnCall(ctx, email, scheduleIDs, at)
	if errors.Is(err, pagerduty.ErrUserNotFound) {
		return "", false, nil
	}
	return s, on, err
}

// newOnCallHarness runs the bot with payments-repo-write auto-approved
// for whoever is on call in PSCHED1 or PSCHED2, against a fake PagerDuty.
func newOnCallHarness(t *testing.T) (*harness, *pagerdutytest.Server) {
	pd := pagerdutytest.NewServer("pd-token", t.Errorf)
	t.Cleanup(pd.Close)
	pd.AddUser("PALICE1", "Alice", "alice@acme.example")
	pd.AddUser("PDAVE01", "Dave", "dave@acme.example")
	client, err := pagerduty.New(pagerduty.Config{Token: "pd-token", APIURL: pd.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var h *harness
	h = newPathsHarness(t, func(pol *approvals.Policy) {
		resource(t, pol, "payments-repo-write").AutoApprove = &approvals.AutoApprove{PagerDutySchedules: []string{"PSCHED1", "PSCHED2"}}
		pol.Identities[alice]["pagerduty"] = "alice@acme.example"
		pol.Identities[dave]["pagerduty"] = "dave@acme.example"
	}, func(cfg *approvals.Config) {
		cfg.OnCall = &pagerDutyOnCall{client: client, policy: func() *approvals.Policy { return h.svc.Policy() }}
	})
	return h, pd
}

func TestOnCallRequesterApprovedByTheRule(t *testing.T) {
	h, pd := newOnCallHarness(t)
	pd.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "PSCHED2", Start: start.Add(-time.Hour), End: start.Add(time.Hour)})
	id := h.request(alice, "payments-repo-write", "2h", "INC-77 paged")
	h.settle()

	r := h.get(id)
	if r.Status != approvals.StatusActive {
		t.Fatalf("status %s, want active", r.Status)
	}
	if r.AutoApprovedBy != "pagerduty:PSCHED2" || !slices.Equal(r.Approvers(), []string{"pagerduty:PSCHED2"}) {
		t.Errorf("approved by %q, approvers %v", r.AutoApprovedBy, r.Approvers())
	}
	if perm, ok := h.github.Collaborators("acme", "payments")["alice-gh"]; !ok && h.github.Invitations("acme", "payments")["alice-gh"] == "" {
		t.Errorf("alice-gh not granted: %q", perm)
	}
	evs := h.events(id)
	if got, want := actions(evs), []string{"requested", "auto_approved", "granting", "granted"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if ev := pathEvent(t, evs, "auto_approved"); !strings.Contains(ev.Detail, "PSCHED2") || ev.Actor != approvals.SystemActor {
		t.Errorf("auto_approved event %+v", ev)
	}
	if msgs := h.approvalMessages(id); len(msgs) != 0 {
		t.Errorf("%d approval messages posted for an auto-approved request", len(msgs))
	}
	if dms := h.slack.DMs(bob); len(dms) != 0 {
		t.Errorf("the approver was asked: %v", dms)
	}
	mustContain(t, "audit post", h.auditPost("auto approved", id), "PSCHED2", "without an approver")
}

func TestOnCallNotOnCallAsksApprovers(t *testing.T) {
	h, pd := newOnCallHarness(t)
	// Dave was on call, but not now; Alice is on call in another schedule.
	pd.AddOnCall(pagerdutytest.OnCall{UserID: "PDAVE01", ScheduleID: "PSCHED1", Start: start.Add(-3 * time.Hour), End: start.Add(-time.Hour)})
	pd.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "POTHER9", Start: start.Add(-time.Hour), End: start.Add(time.Hour)})
	for _, u := range []string{dave, alice} {
		id := h.request(u, "payments-repo-write", "2h", "not paged")
		h.settle()
		r := h.get(id)
		if r.Status != approvals.StatusPending || r.AutoApprovedBy != "" {
			t.Fatalf("%s: status %s auto-approved by %q; want pending", u, r.Status, r.AutoApprovedBy)
		}
		if got := actions(h.events(id)); !slices.Equal(got, []string{"requested"}) {
			t.Errorf("%s: events %v", u, got)
		}
		if len(h.approvalMessages(id)) != 1 {
			t.Errorf("%s: approver not asked:\n%s", u, h.slack.Summary())
		}
	}
	// Someone with no PagerDuty email is not on call, and PagerDuty is not
	// asked about them.
	before := pd.Requests()
	id := h.request(carol, "payments-repo-write", "1h", "no email")
	h.settle()
	if h.get(id).Status != approvals.StatusPending || pd.Requests() != before {
		t.Errorf("carol: status %s, %d PagerDuty requests", h.get(id).Status, pd.Requests()-before)
	}
}

func TestOnCallPagerDutyFailureFallsBackToApprovers(t *testing.T) {
	h, pd := newOnCallHarness(t)
	pd.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "PSCHED1", Start: start.Add(-time.Hour), End: start.Add(time.Hour)})
	pd.FailNext(http.StatusInternalServerError)
	id := h.request(alice, "payments-repo-write", "2h", "INC-78 paged")
	h.settle()

	r := h.get(id)
	if r.Status != approvals.StatusPending || r.AutoApprovedBy != "" {
		t.Fatalf("status %s auto-approved by %q; want pending", r.Status, r.AutoApprovedBy)
	}
	evs := h.events(id)
	if got, want := actions(evs), []string{"requested", "auto_approve_failed"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	mustContain(t, "auto_approve_failed detail", pathEvent(t, evs, "auto_approve_failed").Detail, "approvers are asked", "500")
	ref := h.approvalRef(id)
	mustContain(t, "audit post", h.auditPost("auto approve failed", id), "500")
	// The approver decides as usual.
	if code := h.click(bob, "approve", id, ref); code != http.StatusOK {
		t.Fatalf("click %d", code)
	}
	h.settle()
	if got := h.get(id).Status; got != approvals.StatusActive {
		t.Errorf("after approval: %s", got)
	}
}
