package approvals

import (
	"context"
	"slices"
	"testing"
	"time"
)

// nudgeNotices returns the reminder and warning notices queued for id.
func (m *memStore) nudgeNotices(id string) (reminders, warnings int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.notices {
		if n.RequestID != id {
			continue
		}
		if n.Remind {
			reminders++
		}
		if n.WarnExpiry {
			warnings++
		}
	}
	return reminders, warnings
}

func withTimeouts(t *testing.T, h *harness, timeout, remind time.Duration) {
	t.Helper()
	p := testPolicy()
	p.Resources[0].PendingTimeout, p.Resources[0].RemindAfter = timeout, remind
	p.Hash = "timeouts"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func TestNudgeRemindsOnceThenTimesOut(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	withTimeouts(t, h, 2*time.Hour, 30*time.Minute)
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	events := len(h.store.actions(r.ID))

	steps := []struct {
		advance       time.Duration
		wantStatus    Status
		wantReminders int
	}{
		{29 * time.Minute, StatusPending, 0},
		{time.Minute, StatusPending, 1},
		{time.Minute, StatusPending, 1}, // once
		{80 * time.Minute, StatusPending, 1},
		{9 * time.Minute, StatusTimedOut, 1},
		{time.Hour, StatusTimedOut, 1},
	}
	for i, st := range steps {
		h.clock.Advance(st.advance)
		if err := h.svc.Nudge(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := h.store.Request(ctx, r.ID)
		reminders, _ := h.store.nudgeNotices(r.ID)
		if got.Status != st.wantStatus || reminders != st.wantReminders {
			t.Fatalf("step %d (at +%s): status %s, %d reminders; want %s, %d", i, h.clock.Now().Sub(r.CreatedAt), got.Status, reminders, st.wantStatus, st.wantReminders)
		}
	}
	// The reminder is no audited change; the timeout is, once.
	got := h.store.actions(r.ID)
	if want := 1; len(got) != events+want || got[len(got)-1] != ActionTimedOut {
		t.Fatalf("events %v, want one timed_out after the first %d", got, events)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != ECONFLICT {
		t.Fatalf("approving a timed-out request: %v", err)
	}
}

func TestNudgeDefaultTimeout(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(DefaultPendingTimeout - time.Second)
	h.svc.Nudge(ctx)
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusPending {
		t.Fatalf("status %s before the default timeout", got.Status)
	}
	h.clock.Advance(time.Second)
	h.svc.Nudge(ctx)
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusTimedOut || got.EndedBy != SystemActor {
		t.Fatalf("status %s by %q at the default timeout", got.Status, got.EndedBy)
	}
}

func TestExpiryWarningAt(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		granted time.Duration
		want    time.Duration // before the expiry
	}{
		{time.Hour, 6 * time.Minute},
		{4 * time.Hour, 15 * time.Minute},
		{10 * time.Minute, time.Minute},
		{10 * time.Second, time.Second},
	}
	for _, tt := range tests {
		r := &Request{GrantedAt: t0, ExpiresAt: t0.Add(tt.granted)}
		if got := r.ExpiresAt.Sub(ExpiryWarningAt(r)); got != tt.want {
			t.Errorf("warning for a %s grant %s before expiry, want %s", tt.granted, got, tt.want)
		}
	}
}

func TestNudgeWarnsBeforeExpiryOncePerExpiry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	h.clock.Advance(53 * time.Minute)
	h.svc.Nudge(ctx)
	if _, w := h.store.nudgeNotices(r.ID); w != 0 {
		t.Fatalf("%d warnings 7m before the end of a 1h grant, want none yet", w)
	}
	events := len(h.store.actions(r.ID))
	h.clock.Advance(time.Minute)
	h.svc.Nudge(ctx)
	h.clock.Advance(time.Minute)
	h.svc.Nudge(ctx)
	if _, w := h.store.nudgeNotices(r.ID); w != 1 {
		t.Fatalf("%d warnings, want 1", w)
	}
	if got := h.store.actions(r.ID); len(got) != events {
		t.Errorf("a warning appended events: %v", got[events:])
	}
	// An extension moves the expiry: its end is warned of again.
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, time.Hour, "more"); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	h.svc.Nudge(ctx)
	if _, w := h.store.nudgeNotices(r.ID); w != 1 {
		t.Fatalf("warned again while an extension is pending")
	}
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(55 * time.Minute)
	h.svc.Nudge(ctx)
	if _, w := h.store.nudgeNotices(r.ID); w != 2 {
		t.Fatalf("%d warnings after the extension's end came near, want 2", w)
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Cancel(ctx, "UBOB", r.ID); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("cancel by an approver: %v", err)
	}
	got, err := h.svc.Cancel(ctx, "UALICE", r.ID)
	if err != nil || got.Status != StatusCancelled || got.EndedBy != "UALICE" {
		t.Fatalf("cancel: %v, %+v", err, got)
	}
	if _, err := h.svc.Cancel(ctx, "UALICE", r.ID); ErrorCode(err) != ECONFLICT {
		t.Fatalf("second cancel: %v", err)
	}
	if a := h.store.actions(r.ID); !slices.Contains(a, ActionCancelled) {
		t.Fatalf("no cancelled event: %v", a)
	}
}
