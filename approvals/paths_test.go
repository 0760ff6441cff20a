package approvals

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStepUp answers Verify with ok and err, counting calls.
type fakeStepUp struct {
	mu    sync.Mutex
	ok    bool
	err   error
	calls []string
}

func (f *fakeStepUp) Verify(_ context.Context, approver, reason string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, approver+": "+reason)
	return f.ok, f.err
}

// fakeOnCall answers OnCall with schedule, on and err.
type fakeOnCall struct {
	schedule string
	on       bool
	err      error
}

func (f fakeOnCall) OnCall(context.Context, string, []string, time.Time) (string, bool, error) {
	return f.schedule, f.on, f.err
}

func newPathsHarness(t *testing.T, edit func(*Policy), cfg func(*Config)) *harness {
	t.Helper()
	h := newHarness(t)
	pol := testPolicy()
	if edit != nil {
		edit(pol)
	}
	c := Config{Store: h.store, Providers: map[string]Provider{"fake": h.provider}, Policy: pol, Now: h.clock.Now, RetryBackoff: time.Millisecond}
	if cfg != nil {
		cfg(&c)
	}
	h.svc = New(c)
	t.Cleanup(h.svc.Shutdown)
	return h
}

func TestReviewOnlyOfBreakGlass(t *testing.T) {
	h := newPathsHarness(t, func(p *Policy) { p.Resources[0].BreakGlass = true }, nil)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "normal")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Review(ctx, "UBOB", r.ID, true); ErrorCode(err) != EINVALID {
		t.Errorf("review of a normal request: %v, want EINVALID", err)
	}
	if _, err := h.svc.BreakGlass(ctx, "UALICE", "db", time.Hour, "dup"); ErrorCode(err) != ECONFLICT {
		t.Errorf("break-glass with a request open: %v, want ECONFLICT", err)
	}
	if _, err := h.svc.BreakGlass(ctx, "UBOB", "two", time.Hour, "x"); ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "does not allow break-glass") {
		t.Errorf("break-glass on a resource without it: %v", err)
	}
	h.svc.Wait()
	bg, err := h.svc.BreakGlass(ctx, "UCAROL", "db", time.Hour, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got := h.store.actions(bg.ID); !slices.Equal(got, []string{ActionBreakGlass, ActionGranting, ActionGranted}) {
		t.Errorf("events %v", got)
	}
	sum, err := h.svc.Summarize(ctx, h.store, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Unreviewed) != 1 || sum.Unreviewed[0].ID != bg.ID {
		t.Errorf("unreviewed %v", sum.Unreviewed)
	}
}

func TestStepUp(t *testing.T) {
	ctx := context.Background()
	stepUp := func(p *Policy) { p.Resources[0].StepUp = "duo" }
	t.Run("refused, recorded", func(t *testing.T) {
		su := &fakeStepUp{}
		h := newPathsHarness(t, stepUp, func(c *Config) { c.StepUp = map[string]StepUp{"duo": su} })
		r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
		h.svc.Wait()
		_, err := h.svc.Approve(ctx, "UBOB", r.ID)
		if ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "Duo push was denied or timed out") {
			t.Fatalf("refused push: %v", err)
		}
		if got := h.store.actions(r.ID); !slices.Equal(got, []string{ActionRequested, ActionStepUpRefused}) {
			t.Errorf("events %v", got)
		}
		// Nobody who may not approve is pushed.
		if _, err := h.svc.Approve(ctx, "UALICE", r.ID); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("own request: %v", err)
		}
		if len(su.calls) != 1 || !strings.Contains(su.calls[0], r.ID) {
			t.Errorf("pushes %v", su.calls)
		}
	})
	t.Run("error", func(t *testing.T) {
		su := &fakeStepUp{ok: true, err: errors.New("duo unreachable")}
		h := newPathsHarness(t, stepUp, func(c *Config) { c.StepUp = map[string]StepUp{"duo": su} })
		r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
		h.svc.Wait()
		if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("push error: %v", err)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		h := newPathsHarness(t, stepUp, nil)
		r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
		h.svc.Wait()
		if _, err := h.svc.Approve(ctx, "UBOB", r.ID); ErrorCode(err) != EFORBIDDEN {
			t.Errorf("no step-up configured: %v", err)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		h := newPathsHarness(t, stepUp, func(c *Config) { c.StepUp = map[string]StepUp{"duo": &fakeStepUp{ok: true}} })
		r, _ := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
		h.svc.Wait()
		if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
			t.Fatal(err)
		}
		h.svc.Wait()
		h.store.mu.Lock()
		defer h.store.mu.Unlock()
		for _, ev := range h.store.events {
			if ev.RequestID == r.ID && ev.Action == ActionApproved && ev.Detail != "step-up: duo" {
				t.Errorf("approved detail %q", ev.Detail)
			}
		}
	})
}

func TestAutoApprove(t *testing.T) {
	ctx := context.Background()
	rule := func(p *Policy) { p.Resources[0].AutoApprove = &AutoApprove{PagerDutySchedules: []string{"P1"}} }
	for _, tt := range []struct {
		name   string
		onCall OnCall
		want   []string
		status Status
	}{
		{"on call", fakeOnCall{schedule: "P1", on: true}, []string{ActionRequested, ActionAutoApproved, ActionGranting, ActionGranted}, StatusActive},
		{"not on call", fakeOnCall{}, []string{ActionRequested}, StatusPending},
		{"error", fakeOnCall{err: errors.New("pagerduty: 500")}, []string{ActionRequested, ActionAutoApproveFailed}, StatusPending},
		{"not configured", nil, []string{ActionRequested, ActionAutoApproveFailed}, StatusPending},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newPathsHarness(t, rule, func(c *Config) { c.OnCall = tt.onCall })
			r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
			if err != nil {
				t.Fatal(err)
			}
			h.svc.Wait()
			if got := h.store.actions(r.ID); !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			got, _ := h.store.Request(ctx, r.ID)
			if got.Status != tt.status {
				t.Errorf("status %s, want %s", got.Status, tt.status)
			}
			if tt.status == StatusPending && len(got.Asked) == 0 {
				t.Error("approvers not asked")
			}
		})
	}
}

func TestDiffPoliciesNamesPathChanges(t *testing.T) {
	a, b := testPolicy(), testPolicy()
	b.Resources[0].BreakGlass, b.Resources[0].BreakGlassMax = true, 30*time.Minute
	b.Resources[1].AutoApprove = &AutoApprove{PagerDutySchedules: []string{"P1"}}
	b.Resources[2].StepUp = "duo"
	got := DiffPolicies(a, b)
	for _, want := range []string{"db break_glass: off -> up to 30m", "two auto_approve pagerduty schedules: [] -> [P1]", `self step_up: "" -> "duo"`} {
		if !strings.Contains(got, want) {
			t.Errorf("diff %q does not contain %q", got, want)
		}
	}
}
