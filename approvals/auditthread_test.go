package approvals

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestAuditThreadRecorded checks that the thread the notifier returns is
// kept on the request, without an audit event of its own.
func TestAuditThreadRecorded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "INC-9")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	want := MessageRef{ChannelID: "C0AUDIT", TS: "thread-" + r.ID}
	if got.AuditThread != want {
		t.Errorf("audit thread %v, want %v", got.AuditThread, want)
	}
	if acts := h.store.actions(r.ID); !slices.Equal(acts, []string{ActionRequested, ActionApproved, ActionGranting, ActionGranted}) {
		t.Errorf("audit events %v", acts)
	}
}
