package approvals

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeTimer is a Timer the test fires by hand; asked receives each wait
// the service arms.
type fakeTimer struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{asked: make(chan time.Duration, 100), fire: make(chan time.Time)}
}

func (f *fakeTimer) timer(d time.Duration) (<-chan time.Time, func() bool) {
	f.asked <- d
	return f.fire, func() bool { return true }
}

// awaitArmed waits until the service arms the timer for want.
func (f *fakeTimer) awaitArmed(t *testing.T, want time.Duration) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case d := <-f.asked:
			if d == want {
				return
			}
		case <-deadline:
			t.Fatalf("timer never armed for %s", want)
		}
	}
}

// timerHarness is a harness whose service waits through a fakeTimer, with
// RunTimer running until the test ends.
func timerHarness(t *testing.T) (*harness, *fakeTimer) {
	t.Helper()
	h := newHarness(t)
	ft := newFakeTimer()
	h.svc = New(Config{
		Store: h.store, Providers: map[string]Provider{"fake": h.provider}, Policy: testPolicy(),
		Now: h.clock.Now, RetryBackoff: time.Millisecond, Timer: ft.timer,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.svc.RunTimer(ctx) }()
	t.Cleanup(func() { cancel(); <-done; h.svc.Shutdown() })
	return h, ft
}

// eventually polls cond until it holds, for at most 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The timer is armed for the earliest expiry as soon as a grant is made,
// and revokes it when it fires, without waiting for a sweep.
func TestTimerRevokesAtExpiry(t *testing.T) {
	h, ft := timerHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	ft.awaitArmed(t, time.Hour)
	h.clock.Advance(time.Hour)
	ft.fire <- h.clock.Now()
	eventually(t, "expired by the timer", func() bool {
		got, _ := h.store.Request(ctx, r.ID)
		return got.Status == StatusExpired
	})
	if h.provider.held["alice"] {
		t.Error("access still held after the timer fired")
	}
}

// A revoke that fails is rescheduled, and the timer is armed again for
// its retry; an extension approved moves the timer with the expiry.
func TestTimerFollowsRescheduledRevokes(t *testing.T) {
	h, ft := timerHarness(t)
	ctx := context.Background()
	r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	h.svc.Approve(ctx, "UBOB", r.ID)
	h.svc.Wait()
	ft.awaitArmed(t, time.Hour)
	if _, err := h.svc.Extend(ctx, "UALICE", r.ID, 30*time.Minute, "more"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UCAROL", r.ID); err != nil {
		t.Fatal(err)
	}
	ft.awaitArmed(t, 90*time.Minute)
	h.provider.failRevokes = 3 // every attempt of the first revoke
	h.clock.Advance(90 * time.Minute)
	ft.fire <- h.clock.Now()
	ft.awaitArmed(t, 10*time.Second) // RevokeRetry's default
	h.clock.Advance(10 * time.Second)
	ft.fire <- h.clock.Now()
	eventually(t, "expired at the retry", func() bool {
		got, _ := h.store.Request(ctx, r.ID)
		return got.Status == StatusExpired
	})
}

// concurrencyProvider records how many revokes run at once; each revoke
// waits until limit are running (or a second has passed), so a sweep
// that runs them one by one shows 1.
type concurrencyProvider struct {
	*fakeProvider
	limit int

	mu       sync.Mutex
	inflight int
	peak     int
	full     chan struct{}
	fullOnce sync.Once
}

func (p *concurrencyProvider) Revoke(ctx context.Context, req RevokeRequest) error {
	p.mu.Lock()
	p.inflight++
	p.peak = max(p.peak, p.inflight)
	if p.inflight == p.limit {
		// Later batches reach the limit again: the channel is closed once.
		p.fullOnce.Do(func() { close(p.full) })
	}
	p.mu.Unlock()
	select {
	case <-p.full:
	case <-time.After(time.Second):
	}
	p.mu.Lock()
	p.inflight--
	p.mu.Unlock()
	return p.fakeProvider.Revoke(ctx, req)
}

// A sweep runs up to RevokeWorkers provider revokes at once, never more.
func TestSweepRevokesConcurrentlyWithinTheBound(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := &concurrencyProvider{fakeProvider: h.provider, limit: 4, full: make(chan struct{})}
	pol := testPolicy()
	for i := range 12 {
		user := fmt.Sprintf("U%02d", i)
		pol.Identities[user] = map[string]string{"fake": fmt.Sprintf("user%02d", i)}
	}
	h.svc = New(Config{
		Store: h.store, Providers: map[string]Provider{"fake": p}, Policy: pol,
		Now: h.clock.Now, RetryBackoff: time.Millisecond, RevokeWorkers: 4,
	})
	t.Cleanup(h.svc.Shutdown)
	var ids []string
	for i := range 12 {
		r, err := h.svc.Submit(ctx, fmt.Sprintf("U%02d", i), "db", time.Hour, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	h.svc.Wait()
	h.clock.Advance(time.Hour)
	if err := h.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got, _ := h.store.Request(ctx, id); got.Status != StatusExpired {
			t.Fatalf("%s is %s after the sweep", id, got.Status)
		}
	}
	if p.peak != 4 {
		t.Errorf("at most %d revokes ran at once, want 4 (RevokeWorkers)", p.peak)
	}
}
