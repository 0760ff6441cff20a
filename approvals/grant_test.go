package approvals

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A grant interrupted by a crash after the provider call is completed at
// the next start with its expiry counted from when it started, not from
// the restart: the access may have been in place all along.
func TestResumedGrantExpiresFromItsStart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	start := h.clock.Now()
	h.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		r.Status = StatusGranting
		r.GrantStartedAt = start
		return nil, nil
	})
	h.provider.held["alice"] = true
	h.clock.Advance(40 * time.Minute) // down for 40 minutes
	if err := h.svc.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive {
		t.Fatalf("status %s, want active", got.Status)
	}
	if want := start.Add(time.Hour); !got.ExpiresAt.Equal(want) {
		t.Errorf("expires at %s, want %s (start + duration), not %s (restart + duration)", got.ExpiresAt, want, h.clock.Now().Add(time.Hour))
	}
	if want := start.Add(time.Hour); !h.provider.lastGrant.ExpiresAt.Equal(want) {
		t.Errorf("provider told expiry %s, want %s", h.provider.lastGrant.ExpiresAt, want)
	}
}

// A grant without interruption records its start and expires one
// duration after it.
func TestGrantRecordsItsStart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.GrantStartedAt.IsZero() || !got.ExpiresAt.Equal(got.GrantStartedAt.Add(time.Hour)) {
		t.Fatalf("started %s, expires %s; want expiry one hour after the start", got.GrantStartedAt, got.ExpiresAt)
	}
}

// When the provider refuses a grant outright (a permanent error, such as
// PostgreSQL's 42501), nothing was granted: even if the precautionary
// undo is refused too, the request fails rather than becoming an
// uncertain grant whose revoke is retried forever.
func TestRefusedGrantWithRefusedUndoFails(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.failGrant = errors.New("ERROR: permission denied to grant role \"rw\" (SQLSTATE 42501)")
	h.provider.revokeErr = errors.New("ERROR: permission denied to revoke role \"rw\" (SQLSTATE 42501)")
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusFailed || got.GrantUncertain {
		t.Fatalf("status %s uncertain %v; want failed", got.Status, got.GrantUncertain)
	}
	if _, due := got.RevokeDueAt(); due {
		t.Error("a revoke is due for a grant the provider refused")
	}
	if !strings.Contains(got.LastError, "42501") || !strings.Contains(got.LastError, "nothing was granted") {
		t.Errorf("last error %q; want the refusal and that nothing was granted", got.LastError)
	}
}

// An ambiguous failure (a timeout, a transient error) with a refused undo
// still keeps the revoke due: the grant may have taken effect.
func TestAmbiguousGrantWithRefusedUndoStaysDue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.failGrant = Transient(errors.New("503 service unavailable"))
	h.provider.revokeErr = errors.New("403 forbidden")
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive || !got.GrantUncertain {
		t.Fatalf("status %s uncertain %v; want an uncertain grant kept due", got.Status, got.GrantUncertain)
	}
}

// A grant another replica left "granting" (it crashed after the provider
// call) is completed by the leader's sweep once it is older than any
// replica could still be working on it, and not before: until then the
// replica may be alive and about to record the outcome.
func TestResumeStalledCompletesAnAbandonedGrant(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", 4*time.Hour, "x")
	h.svc.Wait()
	start := h.clock.Now()
	h.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		r.Status, r.DecidedAt, r.GrantStartedAt = StatusGranting, start, start
		return nil, nil
	})
	h.provider.held["alice"] = true
	h.clock.Advance(h.svc.StallAfter() - time.Second)
	if err := h.svc.ResumeStalled(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusGranting || h.provider.grants != 0 {
		t.Fatalf("before StallAfter: status %s, %d provider grants; want granting and none", got.Status, h.provider.grants)
	}
	h.clock.Advance(time.Second)
	if err := h.svc.ResumeStalled(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive || h.provider.grants != 1 {
		t.Fatalf("after StallAfter: status %s, %d provider grants; want active after one", got.Status, h.provider.grants)
	}
	if want := start.Add(4 * time.Hour); !got.ExpiresAt.Equal(want) {
		t.Errorf("expires at %s, want %s: counted from the grant's start", got.ExpiresAt, want)
	}
	if _, due := got.RevokeDueAt(); !due {
		t.Error("no revoke due for the completed grant")
	}
	// Nothing left to resume: a later sweep calls the provider no more.
	if err := h.svc.ResumeStalled(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if h.provider.grants != 1 {
		t.Errorf("%d provider grants after another sweep, want 1", h.provider.grants)
	}
}

// An approval another replica recorded but never acted on is granted by
// the leader's sweep once it is stalled.
func TestResumeStalledGrantsAnAbandonedApproval(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	h.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		r.Status, r.DecidedAt, r.DecidedBy = StatusApproved, h.clock.Now(), "UBOB"
		r.Approvals = []Approval{{Approver: "UBOB", At: h.clock.Now()}}
		return nil, nil
	})
	if err := h.svc.ResumeStalled(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusApproved {
		t.Fatalf("status %s right after the approval, want approved: the replica may still be granting", got.Status)
	}
	h.clock.Advance(h.svc.StallAfter())
	if err := h.svc.ResumeStalled(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusActive || !got.ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Fatalf("status %s expiring %s; want active for an hour from now", got.Status, got.ExpiresAt)
	}
}
