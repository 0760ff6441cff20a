package approvals

import (
	"context"
	"testing"
	"time"
)

// Counted shows a pending round as the next click would count it.
func TestCountedFollowsThePolicyInForce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "two", time.Hour, "x")
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	without := policyWith("p2", func(p *Policy) {
		p.Resources[1].Approvers = []string{"UCAROL", "UALICE"}
		p.Resources[1].ApprovalsRequired = 3
	})
	got, _ := h.store.Request(ctx, r.ID)
	c := without.Counted(got)
	if len(c.Approvals) != 0 || c.Required != 3 {
		t.Errorf("counted %d of %d; want 0 of 3 once Bob is no approver and three are required", len(c.Approvals), c.Required)
	}
	if len(got.Approvals) != 1 {
		t.Error("Counted changed the request it was given")
	}
}
