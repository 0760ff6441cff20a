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

// groupDirectory is a Directory whose groups tests set and change. It
// counts the lookups that had to be fresh.
type groupDirectory struct {
	mu     sync.Mutex
	groups map[string][]string
	down   bool
	fresh  int
}

func (d *groupDirectory) Members(_ context.Context, group string, fresh bool) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fresh {
		d.fresh++
	}
	if d.down {
		return nil, errors.New("slack usergroups.users.list: ratelimited")
	}
	m, ok := d.groups[group]
	if !ok {
		return nil, errors.New("no_such_subteam")
	}
	return slices.Clone(m), nil
}

func (d *groupDirectory) set(group string, members ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[group] = members
}

// newGroupHarness is the test harness with a directory and a policy that
// names user groups: "grp" is approved by the group SDBA and may be
// requested by the group SENG and by UCAROL.
func newGroupHarness(t *testing.T) (*harness, *groupDirectory) {
	t.Helper()
	h := newHarness(t)
	dir := &groupDirectory{groups: map[string][]string{"SDBA": {"UBOB", "UDAN"}, "SENG": {"UALICE"}}}
	p := testPolicy()
	p.Identities["UDAN"] = map[string]string{"fake": "dan"}
	p.Resources = append(p.Resources, Resource{
		Name: "grp", Provider: "fake", Approvers: []string{"SDBA"}, Requesters: []string{"SENG", "UCAROL"},
		MaxDuration: time.Hour,
	})
	h.svc = New(Config{
		Store: h.store, Providers: map[string]Provider{"fake": h.provider}, Policy: p,
		Directory: dir, Now: h.clock.Now, RetryBackoff: time.Millisecond,
	})
	t.Cleanup(h.svc.Shutdown)
	return h, dir
}

func TestRequestersRefuseOutsiders(t *testing.T) {
	h, dir := newGroupHarness(t)
	ctx := context.Background()
	// UBOB has an identity but is neither in SENG nor named.
	_, err := h.svc.Submit(ctx, "UBOB", "grp", time.Hour, "x")
	if ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "grp can be requested only by <!subteam^SENG>, <@UCAROL>") {
		t.Fatalf("outsider: %v", err)
	}
	if slices.ContainsFunc(h.svc.Requestable(ctx, "UBOB"), func(r Resource) bool { return r.Name == "grp" }) {
		t.Error("grp is listed as requestable by an outsider")
	}
	// A member of the group and a named requester may.
	for _, who := range []string{"UALICE", "UCAROL"} {
		if !slices.ContainsFunc(h.svc.Requestable(ctx, who), func(r Resource) bool { return r.Name == "grp" }) {
			t.Errorf("grp is not listed as requestable by %s", who)
		}
		if _, err := h.svc.Submit(ctx, who, "grp", time.Hour, "x"); err != nil {
			t.Errorf("%s: %v", who, err)
		}
	}
	// A group that cannot be resolved lets nobody in through it, and says so.
	dir.mu.Lock()
	dir.down = true
	dir.mu.Unlock()
	_, err = h.svc.Submit(ctx, "UDAN", "grp", time.Hour, "x")
	if ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "could not read the members of <!subteam^SENG>") {
		t.Fatalf("unresolvable group: %v", err)
	}
	// The policy alone does not know the group's members: fail closed.
	if slices.ContainsFunc(h.svc.Policy().Requestable("UALICE"), func(r Resource) bool { return r.Name == "grp" }) {
		t.Error("Policy.Requestable lists a resource open to a group it cannot resolve")
	}
}

func TestGroupApproversAreAskedByDMAndCheckedAtTheClick(t *testing.T) {
	h, dir := newGroupHarness(t)
	ctx := context.Background()
	r1, err := h.svc.Submit(ctx, "UALICE", "grp", time.Hour, "first")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.svc.Submit(ctx, "UCAROL", "grp", time.Hour, "second")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r1.ID); !slices.Equal(got.Asked, []string{"UBOB", "UDAN"}) {
		t.Fatalf("asked %v, want each member of SDBA by DM", got.Asked)
	}

	// UDAN leaves the group after being asked: their click no longer counts.
	dir.set("SDBA", "UBOB")
	_, err = h.svc.Approve(ctx, "UDAN", r1.ID)
	if ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "not an approver of grp") {
		t.Fatalf("removed member's click: %v", err)
	}
	if _, err := h.svc.Deny(ctx, "UDAN", r1.ID); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("removed member's deny: %v", err)
	}
	got, err := h.svc.Approve(ctx, "UBOB", r1.ID)
	if err != nil || got.Status != StatusApproved {
		t.Fatalf("member's approval: %v, %+v", err, got)
	}
	if dir.fresh < 3 {
		t.Errorf("%d fresh lookups for 3 clicks; a click must not be judged by a cached group", dir.fresh)
	}

	// Slack cannot say who is in the group: the click is refused, clearly.
	dir.mu.Lock()
	dir.down = true
	dir.mu.Unlock()
	_, err = h.svc.Approve(ctx, "UBOB", r2.ID)
	if ErrorCode(err) != EFORBIDDEN || !strings.Contains(err.Error(), "could not read the members of <!subteam^SDBA>") {
		t.Fatalf("click with the group unresolvable: %v", err)
	}
	if got, _ := h.store.Request(ctx, r2.ID); got.Status != StatusPending || len(got.Approvals) != 0 {
		t.Fatalf("a click judged without the group changed the request: %s, %v", got.Status, got.Approvals)
	}
}

func TestGroupMembersRemovedDoNotCountTowardsTheThreshold(t *testing.T) {
	h, dir := newGroupHarness(t)
	ctx := context.Background()
	p := h.svc.Policy()
	np := *p
	np.Resources = slices.Clone(p.Resources)
	np.Resources[len(np.Resources)-1].ApprovalsRequired = 2
	np.Hash = "two-of-group"
	if err := h.svc.SetPolicy(ctx, &np); err != nil {
		t.Fatal(err)
	}
	r, err := h.svc.Submit(ctx, "UALICE", "grp", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UDAN", r.ID); err != nil {
		t.Fatal(err)
	}
	dir.set("SDBA", "UBOB", "UEVE")
	got, err := h.svc.Approve(ctx, "UBOB", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusPending {
		t.Fatalf("status %s: the approval of a member who left the group counted", got.Status)
	}
	if got, err := h.svc.Approve(ctx, "UEVE", r.ID); err != nil || got.Status != StatusApproved {
		t.Fatalf("second current member: %v, %v", err, got)
	}
}

// An approver named through a user group may revoke a grant early, as one
// named directly may; one removed from the group no longer may, and a
// group that cannot be read lets nobody through it.
func TestGroupApproverRevokes(t *testing.T) {
	h, dir := newGroupHarness(t)
	ctx := context.Background()
	grant := func() string {
		t.Helper()
		r, err := h.svc.Submit(ctx, "UALICE", "grp", time.Hour, "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
			t.Fatal(err)
		}
		h.svc.Wait()
		return r.ID
	}
	id := grant()
	dir.set("SDBA", "UBOB")
	if _, err := h.svc.Revoke(ctx, "UDAN", id); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("revoke by a member removed from the group: %v, want EFORBIDDEN", err)
	}
	dir.mu.Lock()
	dir.down = true
	dir.mu.Unlock()
	if _, err := h.svc.Revoke(ctx, "UBOB", id); ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("revoke with the group unreadable: %v, want EFORBIDDEN", err)
	}
	dir.mu.Lock()
	dir.down = false
	dir.mu.Unlock()
	if _, err := h.svc.Revoke(ctx, "UBOB", id); err != nil {
		t.Fatalf("revoke by a group approver: %v", err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, id); got.Status != StatusRevoked {
		t.Fatalf("status %s after the group approver's revoke", got.Status)
	}
}
