package approvals

import (
	"context"
	"strings"
	"testing"
	"time"
)

// indexedStore is a memStore with a HolderIndex that counts its reads.
type indexedStore struct {
	*memStore
	reads int
}

func (m *indexedStore) HoldersAt(_ context.Context, resource string, at time.Time) ([]*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	var out []*Request
	for _, r := range m.requests {
		if r.Resource == resource && r.ActiveAt(at) {
			out = append(out, r.Clone())
		}
	}
	return out, nil
}

func TestWho(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	pending, _ := h.svc.Submit(ctx, "UCAROL", "db", time.Hour, "x")
	ended, _ := h.svc.Submit(ctx, "UBOB", "two", time.Hour, "x")
	h.svc.Approve(ctx, "UCAROL", ended.ID)
	h.svc.Approve(ctx, "UALICE", ended.ID)
	h.svc.Wait()
	h.svc.Revoke(ctx, "UBOB", ended.ID)
	h.svc.Wait()
	idx := &indexedStore{memStore: h.store}
	svc := New(Config{Store: idx, Policy: testPolicy(), Now: h.clock.Now})

	for _, actor := range []string{"UBOB", "UCAROL", "UADMIN"} {
		got, err := svc.Who(ctx, actor, "db")
		if err != nil || len(got) != 1 || got[0].ID != r.ID || got[0].Identity != "alice" {
			t.Fatalf("Who by %s: %v, %v; want only %s (not the pending %s)", actor, err, got, r.ID, pending.ID)
		}
	}
	if idx.reads == 0 {
		t.Error("Who did not read the holder index")
	}
	if got, err := svc.Who(ctx, "UADMIN", "two"); err != nil || len(got) != 0 {
		t.Fatalf("Who of a revoked grant: %v, %v", err, got)
	}
	if _, err := svc.Who(ctx, "UALICE", "db"); ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "approvers of db") {
		t.Fatalf("Who by a holder who is no approver: %v", err)
	}
	if _, err := svc.Who(ctx, "UBOB", "nope"); ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), `unknown resource "nope"`) {
		t.Fatalf("Who of an unknown resource: %v", err)
	}
	if _, err := svc.Who(ctx, "UADMIN", "nope"); ErrorCode(err) != EINVALID {
		t.Fatalf("Who of an unknown resource by an admin: %v", err)
	}

	// A resource that left the policy while held: admins still see it.
	p := testPolicy()
	p.Resources = p.Resources[1:]
	svc.policy.Store(p)
	if got, err := svc.Who(ctx, "UADMIN", "db"); err != nil || len(got) != 1 {
		t.Fatalf("Who of a held resource gone from the policy: %v, %v", err, got)
	}
	if _, err := svc.Who(ctx, "UBOB", "db"); ErrorCode(err) != EINVALID {
		t.Fatalf("Who by a former approver of a resource gone from the policy: %v", err)
	}

	// Past its expiry but not yet revoked, the grant is still held.
	svc.policy.Store(testPolicy())
	h.clock.Advance(2 * time.Hour)
	if got, _ := svc.Who(ctx, "UBOB", "db"); len(got) != 1 {
		t.Fatalf("a grant whose revoke is still due is not listed: %v", got)
	}
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	if got, _ := svc.Who(ctx, "UBOB", "db"); len(got) != 0 {
		t.Fatalf("an expired grant is listed: %v", got)
	}
}

func TestWhoWithoutHolderIndex(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.active(t, "db", time.Hour, "UBOB")
	got, err := h.svc.Who(ctx, "UCAROL", "db")
	if err != nil || len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("Who through open requests: %v, %v", err, got)
	}
}

func TestWhoAt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	t0 := h.clock.Now()
	r := h.active(t, "db", time.Hour, "UBOB")
	h.clock.Advance(2 * time.Hour)
	h.svc.ExpireDue(ctx)
	h.svc.Wait()
	idx := &indexedStore{memStore: h.store}
	svc := New(Config{Store: idx, Policy: testPolicy(), Now: h.clock.Now})

	tests := []struct {
		at   time.Time
		want int
	}{
		{t0.Add(-time.Minute), 0},
		{r.GrantedAt, 1},
		{r.GrantedAt.Add(30 * time.Minute), 1},
		{r.ExpiresAt.Add(time.Minute), 1}, // past its expiry, still held until the sweep at +2h
		{h.clock.Now(), 0},
		{time.Time{}, 0}, // now
	}
	for _, tt := range tests {
		got, err := svc.WhoAt(ctx, "UCAROL", "DB", tt.at)
		if err != nil || len(got) != tt.want {
			t.Errorf("WhoAt(%s) = %d holders, %v; want %d", tt.at, len(got), err, tt.want)
		}
	}
	if _, err := svc.WhoAt(ctx, "UCAROL", "db", h.clock.Now().Add(time.Minute)); ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "in the future") {
		t.Fatalf("WhoAt in the future: %v", err)
	}
	if _, err := svc.WhoAt(ctx, "UALICE", "db", r.GrantedAt); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("WhoAt by a holder who is no approver: %v", err)
	}
}

func TestWhoSuggestsOnlyWhatTheActorMaySee(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.svc.Who(ctx, "UBOB", "bd"); !strings.Contains(ErrorMessage(err), "did you mean db?") {
		t.Errorf("Who(bd) by an approver of db: %v", err)
	}
	if _, err := h.svc.Who(ctx, "UALICE", "bd"); strings.Contains(ErrorMessage(err), "did you mean") {
		t.Errorf("Who(bd) suggested db to someone who may not ask about it: %v", err)
	}
}
