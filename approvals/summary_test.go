package approvals

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSummaryCountsThePeriodAndAnchorsTheLog(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	h.clock.Advance(4 * time.Minute)
	h.svc.Approve(ctx, "UBOB", a.ID)
	b, _ := h.svc.Submit(ctx, "UBOB", "db", time.Hour, "y")
	h.clock.Advance(2 * time.Minute)
	h.svc.Deny(ctx, "UCAROL", b.ID)
	c, _ := h.svc.Submit(ctx, "UCAROL", "db", time.Hour, "z")
	h.svc.Wait()
	h.clock.Advance(2 * time.Hour) // a expires, c is pending and stale
	h.svc.ExpireDue(ctx)
	h.svc.Wait()

	sum, err := h.svc.Summarize(ctx, h.store, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requested != 3 || sum.Approved != 1 || sum.Denied != 1 || sum.Expired != 1 {
		t.Fatalf("counts: %+v", sum)
	}
	if sum.MedianDecision != 3*time.Minute { // 4m and 2m
		t.Fatalf("median decision %s, want 3m", sum.MedianDecision)
	}
	if len(sum.StalePending) != 1 || sum.StalePending[0].ID != c.ID {
		t.Fatalf("stale pending: %v", sum.StalePending)
	}
	head, _ := h.store.AuditHead(ctx)
	if sum.Anchor != head || sum.Anchor.Count == 0 {
		t.Fatalf("anchor %v, head %v", sum.Anchor, head)
	}
	// A shorter period leaves out what happened before it.
	sum, _ = h.svc.Summarize(ctx, h.store, time.Hour)
	if sum.Requested != 0 || sum.Expired != 1 {
		t.Fatalf("1h period: %+v", sum)
	}
}

func TestDriftReportsAndRevokesStandingAccess(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := testPolicy()
	p.Resources[0].Drift = DriftRevoke
	p.Resources[0].Standing = []string{"breakglass"}
	p.Hash = "v2"
	if err := h.svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	h.provider.held["mallory"] = true
	h.provider.held["breakglass"] = true

	findings, err := h.svc.DetectDrift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range findings {
		if f.Resource == "db" {
			got = append(got, f.Identity)
			if !f.Revoked {
				t.Errorf("%s not revoked under drift: revoke", f.Identity)
			}
		}
	}
	if strings.Join(got, ",") != "mallory" {
		t.Fatalf("drift findings on db: %v, want mallory only (alice has a grant, breakglass is allowed)", got)
	}
	if h.provider.held["mallory"] || !h.provider.held["breakglass"] || !h.provider.held["alice"] {
		t.Fatalf("after drift revoke: %v", h.provider.held)
	}
}

func TestSetPolicyRecordsWhatChanged(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := testPolicy()
	p.Hash = "v2"
	p.Resources[0].Approvers = []string{"UBOB"}
	p.Resources = p.Resources[:3]
	if err := h.svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	ev := h.store.events[len(h.store.events)-1]
	if ev.Action != ActionPolicyLoaded || ev.PolicyHash != "v2" ||
		!strings.Contains(ev.Detail, "db approvers: [UBOB UCAROL] -> [UBOB]") ||
		!strings.Contains(ev.Detail, "resource removed: nobody") {
		t.Fatalf("policy event: %+v", ev)
	}
	h.svc.Wait()
	if audit, _ := h.notifier.snapshot(); len(audit) == 0 || audit[len(audit)-1] != ActionPolicyLoaded {
		t.Errorf("audit channel posts %v; want the policy change posted", audit)
	}
	// The new approver list applies to pending requests at once.
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("removed approver: %v", err)
	}
}
