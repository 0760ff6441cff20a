package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSubmitRejectsBadInputAndCreatesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tests := []struct {
		name, actor, resource string
		d                     time.Duration
		reason, want          string
	}{
		{"unknown resource", "UALICE", "nope", time.Hour, "x", `unknown resource "nope"`},
		{"too long", "UALICE", "db", 5 * time.Hour, "x", "longer than the maximum of 4h"},
		{"zero", "UALICE", "db", 0, "x", "must be positive"},
		{"below min", "UALICE", "self", time.Minute, "x", "shorter than the minimum of 10m"},
		{"no reason", "UALICE", "db", time.Hour, "", "a reason is required"},
		{"no identity", "UALICE", "nobody", time.Hour, "x", "no payroll account"},
		{"unknown user", "UZED", "db", time.Hour, "x", "no fake account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Submit(ctx, tt.actor, tt.resource, tt.d, tt.reason)
			if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.want) {
				t.Fatalf("Submit: got %v (%s), want EINVALID containing %q", err, ErrorCode(err), tt.want)
			}
		})
	}
	if open, _ := h.store.OpenRequests(ctx, ""); len(open) != 0 {
		t.Fatalf("bad input created %d requests", len(open))
	}
}

func TestSecondRequestForSameResourceIsRefused(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "INC-1"); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "INC-2")
	if ErrorCode(err) != ECONFLICT {
		t.Fatalf("second Submit: got %v, want ECONFLICT", err)
	}
}

func TestLifecycleGrantsAtApprovalAndExpiresFromGrantTime(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "INC-4211 hotfix")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	h.clock.Advance(10 * time.Minute) // time waiting for approval does not count
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive || !got.ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Fatalf("after approve: status %s expires %s, want active until %s", got.Status, got.ExpiresAt, h.clock.Now().Add(time.Hour))
	}
	h.clock.Advance(59 * time.Minute)
	h.svc.ExpireDue(ctx)
	if _, rev := h.provider.counts(); rev != 0 {
		t.Fatalf("revoked %d times before expiry", rev)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if g, rev := h.provider.counts(); g != 1 || rev != 1 {
		t.Fatalf("grants %d revokes %d, want 1 and 1", g, rev)
	}
	want := []string{ActionRequested, ActionApproved, ActionGranting, ActionGranted, ActionExpired}
	if got := h.store.actions(r.ID); !slices.Equal(got, want) {
		t.Fatalf("audit events %v, want %v", got, want)
	}
	audit, dms := h.notifier.snapshot()
	if !slices.Equal(audit, []string{ActionRequested, ActionApproved, ActionGranted, ActionExpired}) {
		t.Fatalf("audit channel got %v", audit)
	}
	if !slices.Equal(dms, []string{ActionGranted, ActionExpired}) {
		t.Fatalf("requester DMs %v", dms)
	}
	// Expiring twice is a no-op.
	h.clock.Advance(time.Hour)
	h.svc.ExpireDue(ctx)
	if _, rev := h.provider.counts(); rev != 1 {
		t.Fatalf("second sweep revoked again: %d", rev)
	}
}

func TestApproverRules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UBOB", "db", time.Hour, "x")
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "own request") {
		t.Fatalf("self-approval: got %v", err)
	}
	if _, err := h.svc.Approve(ctx, "UALICE", r.ID); ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "not an approver") {
		t.Fatalf("non-approver: got %v", err)
	}
	if _, err := h.svc.Deny(ctx, "UALICE", r.ID); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("non-approver deny: got %v", err)
	}
	h.svc.Wait()
	if g, _ := h.provider.counts(); g != 0 {
		t.Fatal("refused clicks granted access")
	}
	if _, err := h.svc.Deny(ctx, "UCAROL", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "denied by <@UCAROL>") {
		t.Fatalf("approve after deny: got %v", err)
	}
}

func TestSelfApprovalWhenAllowed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "self", 15*time.Minute, "x")
	if _, err := h.svc.Approve(ctx, "UALICE", r.ID); err != nil {
		t.Fatalf("allowed self-approval refused: %v", err)
	}
}

func TestTwoApprovalsMustBeDistinct(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "two", time.Hour, "x")
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != ECONFLICT {
		t.Fatalf("same approver twice: got %v, want ECONFLICT", err)
	}
	h.svc.Wait()
	if g, _ := h.provider.counts(); g != 0 {
		t.Fatal("granted after one distinct approval of two")
	}
	got, err := h.svc.Approve(ctx, "UCAROL", r.ID)
	if err != nil || got.Status != StatusApproved || got.DecidedBy != "UCAROL" {
		t.Fatalf("second approver: %v %+v", err, got)
	}
	h.svc.Wait()
	if g, _ := h.provider.counts(); g != 1 {
		t.Fatalf("grants %d, want 1", g)
	}
}

func TestConcurrentApprovalsGrantOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.svc.Wait()
	if g, _ := h.provider.counts(); g != 1 || ok != 1 {
		t.Fatalf("grants %d, successful clicks %d; want 1 and 1", g, ok)
	}
}

func TestAlreadyHeldIsClosedAndNeverRevoked(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.held["alice"] = true
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusAlreadyHeld {
		t.Fatalf("status %s, want already_held", got.Status)
	}
	if len(h.notifier.approvals) != 0 {
		t.Fatal("approvers were asked about access already held")
	}
	h.clock.Advance(48 * time.Hour)
	h.svc.ExpireDue(ctx)
	if _, rev := h.provider.counts(); rev != 0 || !h.provider.held["alice"] {
		t.Fatal("standing access was revoked")
	}
}

func TestHeldCheckedAgainBeforeGranting(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	h.provider.mu.Lock()
	h.provider.held["alice"] = true // granted by someone else meanwhile
	h.provider.mu.Unlock()
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusAlreadyHeld {
		t.Fatalf("status %s, want already_held", got.Status)
	}
}

func TestFailedRevokeStaysDueAndIsReported(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	h.provider.failRevokes = 5 // more than one sweep's attempts
	h.clock.Advance(time.Hour)
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive || got.RevokeFailures != 1 {
		t.Fatalf("after failed sweep: status %s failures %d", got.Status, got.RevokeFailures)
	}
	audit, _ := h.notifier.snapshot()
	if audit[len(audit)-1] != ActionRevokeFailed {
		t.Fatalf("failure not posted: %v", audit)
	}
	h.svc.ExpireDue(ctx) // not yet due again: backoff
	if got, _ := h.store.Request(ctx, r.ID); got.RevokeFailures != 1 {
		t.Fatal("retried before its backoff")
	}
	h.clock.Advance(time.Minute)
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusExpired || h.provider.held["alice"] {
		t.Fatalf("status %s, held %v: want expired and removed", got.Status, h.provider.held["alice"])
	}
}

func TestPermanentGrantFailureIsVisible(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.failGrant = errors.New("404 team not found")
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusFailed || !strings.Contains(got.LastError, "team not found") {
		t.Fatalf("status %s error %q", got.Status, got.LastError)
	}
	_, dms := h.notifier.snapshot()
	if !slices.Contains(dms, ActionGrantFailed) {
		t.Fatal("requester not told of the failure")
	}
	// The failed request no longer blocks a new one.
	if _, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x"); err != nil {
		t.Fatalf("new request after failure: %v", err)
	}
}

func TestEarlyRevokeAndCancel(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if _, err := h.svc.Revoke(ctx, "UCAROL", "nope"); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("unknown id: %v", err)
	}
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	if _, err := h.svc.Revoke(ctx, "UZED", r.ID); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("stranger revoke: %v", err)
	}
	if _, err := h.svc.Revoke(ctx, "UCAROL", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusRevoked || got.EndedBy != "UCAROL" || h.provider.held["alice"] {
		t.Fatalf("status %s by %s", got.Status, got.EndedBy)
	}
	if _, err := h.svc.Revoke(ctx, "UCAROL", r.ID); err != nil {
		t.Fatalf("second revoke should be a no-op: %v", err)
	}

	p, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "y")
	got, err := h.svc.Revoke(ctx, "UALICE", p.ID)
	if err != nil || got.Status != StatusCancelled {
		t.Fatalf("cancel: %v %v", err, got)
	}
}

func TestResumeCompletesInterruptedGrant(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Wait()
	// A crash after "granting" was committed and the provider granted, but
	// before "active" was recorded.
	h.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		r.Status = StatusGranting
		return nil, nil
	})
	h.provider.held["alice"] = true
	if err := h.svc.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive {
		t.Fatalf("status %s, want active (our own grant must not read as already held)", got.Status)
	}
}

func TestEventsCarryPolicyHashAndChain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	prev := ""
	for _, ev := range h.store.events {
		if ev.PolicyHash != "policyhash" || ev.PrevHash != prev || ev.Hash != ev.ChainHash(prev) {
			t.Fatalf("event %d: policy %q prev %q hash %q", ev.Seq, ev.PolicyHash, ev.PrevHash, ev.Hash)
		}
		prev = ev.Hash
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 90 * time.Minute: "1h30m", 24 * time.Hour: "1d", 26 * time.Hour: "1d2h",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// A grant that fails after the provider acted (the answer was lost) is
// undone before the request is closed as failed: nothing is left behind.
func TestFailedGrantIsUndone(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.lostAnswer = Transient(errors.New("timeout awaiting response"))
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusFailed || h.provider.held["alice"] {
		t.Fatalf("status %s, held %v; want failed and nothing held", got.Status, h.provider.held["alice"])
	}
	if _, rev := h.provider.counts(); rev != 1 {
		t.Errorf("%d revokes, want the failed grant undone once", rev)
	}
}

// When undoing the failed grant fails too, the request stays a grant whose
// revoke is due: the sweep retries it until the access is gone.
func TestFailedGrantWhoseUndoFailsStaysDue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.provider.lostAnswer = Transient(errors.New("timeout awaiting response"))
	h.provider.failRevokes = 3 // every attempt of the undo
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive || !got.GrantUncertain || !h.provider.held["alice"] {
		t.Fatalf("status %s uncertain %v held %v; want a grant kept due for revoke", got.Status, got.GrantUncertain, h.provider.held["alice"])
	}
	if _, ok := got.RevokeDueAt(); !ok {
		t.Fatal("no revoke due")
	}
	audit, dms := h.notifier.snapshot()
	if !slices.Contains(audit, ActionGrantFailed) || slices.Contains(dms, ActionGranted) {
		t.Errorf("audit %v, dms %v; want the failure posted and nobody told it was granted", audit, dms)
	}
	// It still counts as open: a new request cannot be closed as "already
	// held" by the access this one may have left.
	if _, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "again"); ErrorCode(err) != ECONFLICT {
		t.Errorf("new request while the undo is due: %v, want ECONFLICT", err)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ = h.store.Request(ctx, r.ID)
	if got.Status != StatusRevoked || h.provider.held["alice"] {
		t.Fatalf("after the sweep: status %s, held %v; want revoked and gone", got.Status, h.provider.held["alice"])
	}
}

// policyWith returns the test policy changed by edit, under a new hash.
func policyWith(hash string, edit func(p *Policy)) *Policy {
	p := testPolicy()
	p.Hash = hash
	edit(p)
	return p
}

// An approval counts only while its approver may still approve: Bob's
// approval stops counting once he is removed from the approvers, and a
// threshold raised after filing applies to the pending request.
func TestApprovalsCountUnderThePolicyInForce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UCAROL", "two", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.SetPolicy(ctx, policyWith("v2", func(p *Policy) {
		p.Resources[1].Approvers = []string{"UCAROL", "UALICE", "UADMIN"}
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UALICE", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusPending {
		t.Fatalf("granted with a removed approver's approval counted: status %s", got.Status)
	}
	if _, err := h.svc.Approve(ctx, "UADMIN", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusActive {
		t.Fatalf("two approvals of current approvers: status %s, want active", got.Status)
	}

	// A threshold raised from 1 to 2 while pending.
	r, _ = h.svc.Submit(ctx, "UALICE", "db", time.Hour, "y")
	if err := h.svc.SetPolicy(ctx, policyWith("v3", func(p *Policy) { p.Resources[0].ApprovalsRequired = 2 })); err != nil {
		t.Fatal(err)
	}
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusPending || got.Required != 2 {
		t.Fatalf("after one approval under a raised threshold: status %s, required %d; want pending, 2", got.Status, got.Required)
	}
}

// Approvers approved the request as filed. If the policy changed what it
// would grant (settings, the requester's account, the limits), approving
// it closes it as failed and grants nothing.
func TestApprovalAfterThePolicyChangedGrantsNothing(t *testing.T) {
	for name, edit := range map[string]func(p *Policy){
		"settings":     func(p *Policy) { p.Resources[0].Settings = json.RawMessage(`{"role":"superuser"}`) },
		"identity":     func(p *Policy) { delete(p.Identities, "UALICE") },
		"account":      func(p *Policy) { p.Identities["UALICE"] = map[string]string{"fake": "alice-admin"} },
		"max_duration": func(p *Policy) { p.Resources[0].MaxDuration = time.Minute },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
			if err != nil {
				t.Fatal(err)
			}
			if err := h.svc.SetPolicy(ctx, policyWith("changed", edit)); err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.Approve(ctx, "UBOB", r.ID)
			if ErrorCode(err) != ECONFLICT || !strings.Contains(ErrorMessage(err), "policy changed") {
				t.Fatalf("approve: %v, want ECONFLICT saying the policy changed", err)
			}
			h.svc.Wait()
			got, _ := h.store.Request(ctx, r.ID)
			if got.Status != StatusFailed {
				t.Errorf("status %s, want failed", got.Status)
			}
			if g, _ := h.provider.counts(); g != 0 {
				t.Errorf("%d grants, want none", g)
			}
			if _, dms := h.notifier.snapshot(); !slices.Contains(dms, ActionGrantFailed) {
				t.Errorf("requester not told: %v", dms)
			}
		})
	}
}

// hangingProvider grants at once but never answers a revoke until its
// context ends, as a provider behind a lock or a dead connection.
type hangingProvider struct{ *fakeProvider }

func (p hangingProvider) Revoke(ctx context.Context, _ RevokeRequest) error {
	<-ctx.Done()
	return ctx.Err()
}

// A revoke that never answers is cut off after CallTimeout and recorded as
// a failed revoke that stays due, so the sweep moves on.
func TestHungRevokeIsCutOffAndStaysDue(t *testing.T) {
	st, clk := newMemStore(), &clock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	svc := New(Config{
		Store: st, Policy: testPolicy(), Now: clk.Now,
		Providers:    map[string]Provider{"fake": hangingProvider{newFakeProvider()}},
		RetryBackoff: time.Millisecond, CallTimeout: 20 * time.Millisecond,
	})
	t.Cleanup(svc.Shutdown)
	ctx := context.Background()
	r, _ := svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	svc.Approve(ctx, "UBOB", r.ID)
	svc.Wait()
	clk.Advance(time.Hour)
	if err := svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Request(ctx, r.ID)
	if got.Status != StatusActive || got.RevokeFailures != 1 || !strings.Contains(got.LastError, "no answer within") {
		t.Fatalf("status %s, failures %d, error %q; want a failed revoke that stays due", got.Status, got.RevokeFailures, got.LastError)
	}
	if _, ok := got.RevokeDueAt(); !ok {
		t.Error("the revoke is no longer due")
	}
}

// slowRevokeProvider holds every revoke until release is closed, counting
// the calls that run at once.
type slowRevokeProvider struct {
	*fakeProvider
	release        chan struct{}
	mu             sync.Mutex
	inFlight, most int
}

func (p *slowRevokeProvider) Revoke(ctx context.Context, req RevokeRequest) error {
	p.mu.Lock()
	p.inFlight++
	p.most = max(p.most, p.inFlight)
	p.mu.Unlock()
	<-p.release
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	return p.fakeProvider.Revoke(ctx, req)
}

// An early revoke still talking to the provider when the sweep comes is
// left to finish: one provider revoke at a time per grant, one outcome.
func TestEarlyRevokeAndSweepDoNotOverlap(t *testing.T) {
	prov := &slowRevokeProvider{fakeProvider: newFakeProvider(), release: make(chan struct{})}
	st, clk := newMemStore(), &clock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	svc := New(Config{Store: st, Policy: testPolicy(), Now: clk.Now,
		Providers: map[string]Provider{"fake": prov}, RetryBackoff: time.Millisecond})
	t.Cleanup(svc.Shutdown)
	ctx := context.Background()
	r, _ := svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	svc.Approve(ctx, "UBOB", r.ID)
	svc.Wait()
	if _, err := svc.Revoke(ctx, "UALICE", r.ID); err != nil {
		t.Fatal(err)
	}
	// Wait until the early revoke is at the provider, then sweep.
	for {
		prov.mu.Lock()
		n := prov.inFlight
		prov.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan error)
	go func() { done <- svc.ExpireDue(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(prov.release)
		t.Fatal("the sweep revoked the grant again while the early revoke was under way")
	}
	close(prov.release)
	svc.Wait()
	if prov.most != 1 {
		t.Errorf("%d revokes of one grant ran at once", prov.most)
	}
	got, _ := st.Request(ctx, r.ID)
	if got.Status != StatusRevoked || got.EndedBy != "UALICE" {
		t.Errorf("status %s by %s, want revoked by UALICE", got.Status, got.EndedBy)
	}
}
