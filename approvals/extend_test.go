package approvals

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// active files a request for resource by UALICE and has approver approve
// it, and returns the active grant.
func (h *harness) active(t *testing.T, resource string, d time.Duration, approvers ...string) *Request {
	t.Helper()
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", resource, d, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	for _, a := range approvers {
		if _, err := h.svc.Approve(ctx, a, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusActive {
		t.Fatalf("setup: %s is %s, want active", r.ID, got.Status)
	}
	return got
}

func (n *fakeNotifier) posted() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.approvals)
}

// since returns the actions after the first n of the request's events.
func (m *memStore) since(id string, n int) []string { return m.actions(id)[n:] }

func TestExtendApprovedMovesExpiryUnderTheSameID(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	expiry := r.ExpiresAt
	before := len(h.store.actions(r.ID))

	h.clock.Advance(30 * time.Minute)
	got, err := h.svc.Extend(ctx, "UALICE", r.ID, 2*time.Hour, "still debugging INC-1")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got.ID != r.ID || got.Status != StatusActive || !got.ExpiresAt.Equal(expiry) {
		t.Fatalf("after Extend: %s %s until %s; want the same active grant until %s", got.ID, got.Status, got.ExpiresAt, expiry)
	}
	e := got.PendingExtension()
	if e == nil || e.Duration != 2*time.Hour || e.Reason != "still debugging INC-1" || e.Required != 1 || !e.ToExpiresAt.Equal(expiry.Add(2*time.Hour)) {
		t.Fatalf("pending extension %+v", e)
	}
	if posted := h.notifier.posted(); !slices.Equal(posted, []string{r.ID, r.ID}) {
		t.Fatalf("approval posts %v, want the request and its extension under one ID", posted)
	}
	if stored, _ := h.store.Request(ctx, r.ID); len(stored.PendingExtension().Messages) != 1 {
		t.Fatalf("extension messages not recorded: %+v", stored.PendingExtension())
	}

	h.clock.Advance(10 * time.Minute)
	got, err = h.svc.Approve(ctx, "UCAROL", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	want := expiry.Add(2 * time.Hour)
	if !got.ExpiresAt.Equal(want) || got.PendingExtension() != nil || got.LastExtension().Status != ExtensionApproved || got.LastExtension().DecidedBy != "UCAROL" {
		t.Fatalf("after approval: until %s, extension %+v; want until %s", got.ExpiresAt, got.LastExtension(), want)
	}
	if g, _ := h.provider.counts(); g != 1 {
		t.Errorf("the provider was called to extend: %d grants", g)
	}
	if acts := h.store.since(r.ID, before); !slices.Equal(acts, []string{ActionExtensionRequested, ActionExtended}) {
		t.Errorf("audit events %v", acts)
	}
	for _, ev := range h.store.events {
		if ev.Action == ActionExtended && (ev.RequestID != r.ID || !ev.ExpiresAt.Equal(want) || ev.Duration != 2*time.Hour || !slices.Equal(ev.Approvers, []string{"UCAROL"})) {
			t.Errorf("extended event %+v", ev)
		}
	}
	audit, dms := h.notifier.snapshot()
	if !slices.Contains(audit, ActionExtensionRequested) || !slices.Contains(audit, ActionExtended) {
		t.Errorf("audit channel got %v", audit)
	}
	if dms[len(dms)-1] != ActionExtended {
		t.Errorf("requester DMs %v, want the extension last", dms)
	}
	if sum, err := h.svc.Summarize(ctx, h.store, 24*time.Hour); err != nil {
		t.Error(err)
	} else if sum.Extended != 1 {
		t.Errorf("summary counts %d extensions, want 1", sum.Extended)
	}

	// The old expiry passes and nothing is revoked; the new one revokes.
	h.clock.Advance(want.Sub(h.clock.Now()) - time.Second)
	h.svc.ExpireDue(ctx)
	if _, rev := h.provider.counts(); rev != 0 {
		t.Fatalf("revoked at the old expiry")
	}
	h.clock.Advance(time.Second)
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	if _, rev := h.provider.counts(); rev != 1 {
		t.Fatalf("%d revokes at the new expiry, want 1", rev)
	}
}

func TestExtendBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	pending, _ := h.svc.Submit(ctx, "UCAROL", "db", time.Hour, "x")
	h.svc.Wait()
	h.clock.Advance(time.Hour - time.Minute) // 1m left of the grant

	tests := []struct {
		name, actor, id string
		d               time.Duration
		reason          string
		code, want      string
	}{
		{"not the holder", "UBOB", r.ID, time.Hour, "x", EFORBIDDEN, "only the holder"},
		{"unknown id", "UALICE", "ar-nope", time.Hour, "x", ENOTFOUND, "ar-nope"},
		{"zero", "UALICE", r.ID, 0, "x", EINVALID, "positive"},
		{"no reason", "UALICE", r.ID, time.Hour, " ", EINVALID, "reason is required"},
		{"beyond the maximum", "UALICE", r.ID, 4 * time.Hour, "x", EINVALID, "the maximum for db is 4h from now: ask for 3h59m or less"},
		{"not granted yet", "UCAROL", pending.ID, time.Hour, "x", ECONFLICT, "not granted yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Extend(ctx, tt.actor, tt.id, tt.d, tt.reason)
			if ErrorCode(err) != tt.code || !strings.Contains(ErrorMessage(err), tt.want) {
				t.Fatalf("Extend: %v (%s), want %s containing %q", err, ErrorCode(err), tt.code, tt.want)
			}
		})
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if len(got.Extensions) != 0 || !got.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("bad input changed the grant: %+v", got.Extensions)
	}
	if acts := h.store.actions(r.ID); slices.Contains(acts, ActionExtensionRequested) {
		t.Fatalf("bad input was logged as a request: %v", acts)
	}
	if n := len(h.notifier.posted()); n != 2 {
		t.Fatalf("%d approval posts, want 2 (the two requests)", n)
	}

	// Exactly at the maximum is accepted; a second one is refused while
	// the first is pending.
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, 3*time.Hour+59*time.Minute, "x"); err != nil {
		t.Fatalf("extension to exactly the maximum: %v", err)
	}
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Minute, "y"); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "already has an extension") {
		t.Fatalf("second pending extension: %v", err)
	}
	// An expired grant the sweep has not reached yet cannot be extended.
	h.svc.Deny(ctx, "UBOB", r.ID)
	h.clock.Advance(time.Minute)
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Minute, "y"); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("extend after the expiry: %v", err)
	}
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Minute, "y"); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "ended") {
		t.Fatalf("extend after the revoke: %v", err)
	}
}

func TestExtensionNeedsDistinctApproversAgain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "two", 30*time.Minute, "UBOB", "UCAROL")
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, 15*time.Minute, "x"); err != nil {
		t.Fatal(err)
	}
	// The holder is an approver of "two" but may not approve their own.
	if _, err := h.svc.Approve(ctx, "UALICE", r.ID); ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "own grant") {
		t.Fatalf("self-approval of the extension: %v", err)
	}
	if _, err := h.svc.Approve(ctx, "UZED", r.ID); ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "not an approver") {
		t.Fatalf("stranger: %v", err)
	}
	got, err := h.svc.Approve(ctx, "UBOB", r.ID)
	if err != nil || got.PendingExtension() == nil || !got.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("first approval of two: %v, %+v", err, got)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "1 more") {
		t.Fatalf("same approver twice: %v", err)
	}
	got, err = h.svc.Approve(ctx, "UCAROL", r.ID)
	if err != nil || !got.ExpiresAt.Equal(r.ExpiresAt.Add(15*time.Minute)) {
		t.Fatalf("second approval: %v, until %v", err, got.ExpiresAt)
	}
	if _, err := h.svc.Approve(ctx, "UALICE", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "already approved by <@UCAROL>") {
		t.Fatalf("late click: %v", err)
	}
	h.svc.Wait()
	if acts := h.store.actions(r.ID); !slices.Equal(acts[len(acts)-3:], []string{ActionExtensionRequested, ActionExtensionApproval, ActionExtended}) {
		t.Errorf("audit events %v", acts)
	}
}

func TestSelfApprovedExtensionWhenAllowed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "self", 15*time.Minute, "UALICE")
	h.svc.Extend(ctx, "UALICE", r.ID, 15*time.Minute, "x")
	if got, err := h.svc.Approve(ctx, "UALICE", r.ID); err != nil || !got.ExpiresAt.Equal(r.ExpiresAt.Add(15*time.Minute)) {
		t.Fatalf("allowed self-approval of the extension: %v", err)
	}
}

func TestExtensionDeniedLeavesTheGrant(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x")
	got, err := h.svc.Deny(ctx, "UCAROL", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got.Status != StatusActive || !got.ExpiresAt.Equal(r.ExpiresAt) || got.LastExtension().Status != ExtensionDenied || got.LastExtension().DecidedBy != "UCAROL" {
		t.Fatalf("after denial: %s until %s, %+v", got.Status, got.ExpiresAt, got.LastExtension())
	}
	if _, dms := h.notifier.snapshot(); dms[len(dms)-1] != ActionExtensionDenied {
		t.Errorf("requester DMs %v", dms)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "denied by <@UCAROL>") {
		t.Fatalf("approve after denial: %v", err)
	}
	// After a decision a new extension may be asked for.
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "y"); err != nil {
		t.Fatalf("extend after a denied extension: %v", err)
	}
}

func TestExtensionClosedWhenTheGrantExpires(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x")
	h.svc.Wait()
	h.clock.Advance(time.Hour) // expired; the sweep has not run yet
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "nothing to extend") {
		t.Fatalf("approval after the expiry: %v", err)
	}
	if err := h.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.Status != StatusExpired || got.LastExtension().Status != ExtensionClosed || !got.ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("after the sweep: %s until %s, extension %s", got.Status, got.ExpiresAt, got.LastExtension().Status)
	}
	acts := h.store.actions(r.ID)
	if !slices.Equal(acts[len(acts)-2:], []string{ActionExpired, ActionExtensionClosed}) {
		t.Errorf("audit events %v", acts)
	}
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approval of a closed extension: %v", err)
	}
	if g, rev := h.provider.counts(); g != 1 || rev != 1 {
		t.Errorf("grants %d revokes %d", g, rev)
	}
}

func TestExtensionClosedWhenTheGrantIsRevoked(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x")
	h.svc.Wait()
	h.provider.failRevokes = 100 // the revoke stays due: the extension must not revive the grant
	if _, err := h.svc.Revoke(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if got.LastExtension().Status != ExtensionClosed {
		t.Fatalf("extension %s after the revoke was asked", got.LastExtension().Status)
	}
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != ECONFLICT {
		t.Fatalf("approval after the revoke: %v", err)
	}
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x"); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "being revoked") {
		t.Fatalf("extend while being revoked: %v", err)
	}
	audit, _ := h.notifier.snapshot()
	if !slices.Contains(audit, ActionExtensionClosed) {
		t.Errorf("audit channel got %v", audit)
	}
}

func TestConcurrentExtensionApprovalsExtendOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x")
	h.svc.Wait()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 20 {
		approver := []string{"UBOB", "UCAROL"}[i%2]
		wg.Go(func() {
			if _, err := h.svc.Approve(ctx, approver, r.ID); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	h.svc.Wait()
	got, _ := h.store.Request(ctx, r.ID)
	if ok != 1 || !got.ExpiresAt.Equal(r.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("%d successful clicks, until %s; want 1 and %s", ok, got.ExpiresAt, r.ExpiresAt.Add(time.Hour))
	}
	n := 0
	for _, a := range h.store.actions(r.ID) {
		if a == ActionExtended {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d extended events", n)
	}
}

func TestExtensionRecheckedAgainstThePolicyAtApproval(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, 3*time.Hour, "x")
	p := testPolicy()
	p.Resources[0].MaxDuration = 2 * time.Hour
	h.svc.policy.Store(p)
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "maximum for db is 2h") {
		t.Fatalf("approval beyond the new maximum: %v", err)
	}
	if got, _ := h.store.Request(ctx, r.ID); !got.ExpiresAt.Equal(r.ExpiresAt) || got.PendingExtension() == nil || len(got.PendingExtension().Approvals) != 0 {
		t.Fatalf("refused approval changed the grant: %+v", got.LastExtension())
	}
}

// An extension filed by a release that posted approval messages directly
// (no Asked on record, no message posted before it stopped) is asked at
// the next start.
func TestResumeAsksAnExtensionNeverAsked(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "x")
	h.svc.Wait()
	h.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		r.PendingExtension().Messages = nil
		r.PendingExtension().Asked = nil
		return nil, nil
	})
	if err := h.svc.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); len(got.PendingExtension().Messages) != 1 {
		t.Fatalf("extension messages after Resume: %+v", got.PendingExtension().Messages)
	}
}
