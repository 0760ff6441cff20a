package approvals

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Reasons are limited to MaxReasonLength characters, on filing and on
// extending, with an error that says the limit and the length.
func TestReasonLengthIsLimited(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	long := strings.Repeat("é", MaxReasonLength+1)
	_, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, long)
	if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "500") || !strings.Contains(ErrorMessage(err), "501") {
		t.Fatalf("submit: %v; want EINVALID naming the limit 500 and the length 501", err)
	}
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, strings.Repeat("é", MaxReasonLength))
	if err != nil {
		t.Fatalf("a reason of exactly the limit: %v", err)
	}
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	_, err = h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, long)
	if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "500") {
		t.Fatalf("extend: %v; want EINVALID naming the limit", err)
	}
}
