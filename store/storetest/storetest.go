// Package storetest is the conformance kit of accessbot's stores: every
// behaviour the approval flow and the delivery worker rely on, run against
// a store through its interfaces only. The bbolt store passes it; a new
// store (on another database) passes it before it is used.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// Store is what a store offers the approval flow, the `who` index, the
// summaries and the delivery worker.
type Store interface {
	approvals.Store
	approvals.AuditLog
	approvals.HolderIndex
	Notices(ctx context.Context, after uint64, limit int) ([]approvals.Notice, error)
	RecordDeliveries(ctx context.Context, ds []approvals.Delivery) error
	OutboxSignal() <-chan struct{}
}

// Open returns a new, empty store for one test; the kit closes nothing,
// so Open registers its own cleanup.
type Open func(t *testing.T) Store

// Run runs every check of the kit, each as a subtest on a fresh store.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"SecondOpenRequestConflicts", secondOpenRequestConflicts},
		{"TransitionIsAtomic", transitionIsAtomic},
		{"TransitionRefusedWritesNothing", transitionRefusedWritesNothing},
		{"DueRevokesByTime", dueRevokesByTime},
		{"NextRevokeDueAndResume", nextRevokeDueAndResume},
		{"PendingRequests", pendingRequests},
		{"HoldersAt", holdersAt},
		{"OutboxCommittedWithTheChange", outboxCommittedWithTheChange},
		{"OutboxDeliveries", outboxDeliveries},
		{"AuditChain", auditChain},
		{"ConcurrentWriters", concurrentWriters},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func request(id, requester, resource string) *approvals.Request {
	return &approvals.Request{
		ID: id, Requester: requester, Resource: resource, Provider: "fake", Identity: requester + "-acct",
		Duration: time.Hour, Reason: "kit", Settings: []byte(`{"k":"v"}`), Required: 1,
		Status: approvals.StatusPending, CreatedAt: t0,
	}
}

func event(r *approvals.Request, action string, at time.Time) approvals.Event {
	return approvals.Event{Time: at, Action: action, Actor: r.Requester, RequestID: r.ID, Resource: r.Resource,
		Requester: r.Requester, Outcome: string(r.Status)}
}

func create(t *testing.T, s Store, r *approvals.Request, notices ...approvals.Notice) {
	t.Helper()
	if err := s.CreateRequest(context.Background(), r, event(r, approvals.ActionRequested, t0), notices...); err != nil {
		t.Fatalf("CreateRequest %s: %v", r.ID, err)
	}
}

// grant makes request id active from at for d.
func grant(t *testing.T, s Store, id string, at time.Time, d time.Duration) {
	t.Helper()
	_, err := s.Transition(context.Background(), id, func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, at, at.Add(d)
		return approvals.Change{Events: []approvals.Event{event(r, approvals.ActionGranted, at)}}, nil
	})
	if err != nil {
		t.Fatalf("grant %s: %v", id, err)
	}
}

func secondOpenRequestConflicts(t *testing.T, s Store) {
	create(t, s, request("ar-1", "UALICE", "db"))
	err := s.CreateRequest(context.Background(), request("ar-2", "UALICE", "db"), event(request("ar-2", "UALICE", "db"), approvals.ActionRequested, t0))
	if approvals.ErrorCode(err) != approvals.ECONFLICT {
		t.Fatalf("second open request for the same person and resource: %v, want ECONFLICT", err)
	}
	create(t, s, request("ar-3", "UBOB", "db")) // someone else: fine
	if _, err := s.Request(context.Background(), "ar-2"); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Fatalf("the refused request was stored: %v", err)
	}
	// Once closed, the resource may be asked for again.
	if _, err := s.Transition(context.Background(), "ar-1", func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.EndedAt = approvals.StatusDenied, t0
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	create(t, s, request("ar-4", "UALICE", "db"))
	open, err := s.OpenRequests(context.Background(), "UALICE")
	if err != nil || len(open) != 1 || open[0].ID != "ar-4" {
		t.Fatalf("open requests of UALICE = %v, %v; want ar-4", ids(open), err)
	}
}

func ids(rs []*approvals.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func transitionIsAtomic(t *testing.T, s Store) {
	r := request("ar-1", "UALICE", "db")
	create(t, s, r)
	before, _ := s.AuditHead(context.Background())
	got, err := s.Transition(context.Background(), r.ID, func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.DecidedBy = approvals.StatusApproved, "UBOB"
		ev := event(r, approvals.ActionApproved, t0)
		return approvals.Change{Events: []approvals.Event{ev}, Notices: []approvals.Notice{{Event: &ev}}}, nil
	})
	if err != nil || got.Status != approvals.StatusApproved {
		t.Fatalf("Transition = %v, %v", got, err)
	}
	after, _ := s.AuditHead(context.Background())
	if after.Count != before.Count+1 {
		t.Errorf("audit head moved from %d to %d, want one event", before.Count, after.Count)
	}
	stored, _ := s.Request(context.Background(), r.ID)
	if stored.Status != approvals.StatusApproved || stored.DecidedBy != "UBOB" {
		t.Errorf("stored request %+v", stored)
	}
	if _, err := s.Transition(context.Background(), "ar-none", func(*approvals.Request) (approvals.Change, error) {
		return approvals.Change{}, nil
	}); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Errorf("Transition of a missing request: %v, want ENOTFOUND", err)
	}
}

func transitionRefusedWritesNothing(t *testing.T, s Store) {
	r := request("ar-1", "UALICE", "db")
	create(t, s, r)
	before, _ := s.AuditHead(context.Background())
	notices, _ := s.Notices(context.Background(), 0, 100)
	refusal := errors.New("no")
	_, err := s.Transition(context.Background(), r.ID, func(r *approvals.Request) (approvals.Change, error) {
		r.Status = approvals.StatusApproved
		ev := event(r, approvals.ActionApproved, t0)
		return approvals.Change{Events: []approvals.Event{ev}, Notices: []approvals.Notice{{Event: &ev}}}, refusal
	})
	if !errors.Is(err, refusal) {
		t.Fatalf("Transition returned %v, want fn's own error", err)
	}
	after, _ := s.AuditHead(context.Background())
	stored, _ := s.Request(context.Background(), r.ID)
	now, _ := s.Notices(context.Background(), 0, 100)
	if after != before || stored.Status != approvals.StatusPending || len(now) != len(notices) {
		t.Errorf("a refused transition wrote: head %v→%v, status %s, notices %d→%d", before, after, stored.Status, len(notices), len(now))
	}
}

func dueRevokesByTime(t *testing.T, s Store) {
	for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		id := fmt.Sprintf("ar-%d", i)
		create(t, s, request(id, fmt.Sprintf("U%d", i), "db"))
		grant(t, s, id, t0, d)
	}
	due, err := s.DueRevokes(context.Background(), t0.Add(2*time.Hour))
	if err != nil || !slices.Equal(ids(due), []string{"ar-1", "ar-2"}) {
		t.Fatalf("due at +2h = %v, %v; want ar-1, ar-2 (earliest first)", ids(due), err)
	}
	// An early revoke moves it to the front.
	if _, err := s.Transition(context.Background(), "ar-0", func(r *approvals.Request) (approvals.Change, error) {
		r.RevokeRequestedBy, r.RevokeRequestedAt = "UADMIN", t0.Add(time.Minute)
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueRevokes(context.Background(), t0.Add(30*time.Minute))
	if !slices.Equal(ids(due), []string{"ar-0"}) {
		t.Fatalf("due at +30m after an early revoke = %v, want ar-0", ids(due))
	}
	// Ended grants are due no more.
	if _, err := s.Transition(context.Background(), "ar-0", func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.EndedAt = approvals.StatusRevoked, t0.Add(time.Minute)
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueRevokes(context.Background(), t0.Add(10*time.Hour))
	if !slices.Equal(ids(due), []string{"ar-1", "ar-2"}) {
		t.Fatalf("due later = %v, want ar-1, ar-2", ids(due))
	}
}

func holdersAt(t *testing.T, s Store) {
	create(t, s, request("ar-a", "UA", "db"))
	grant(t, s, "ar-a", t0, time.Hour)
	create(t, s, request("ar-b", "UB", "db"))
	grant(t, s, "ar-b", t0.Add(30*time.Minute), time.Hour)
	if _, err := s.Transition(context.Background(), "ar-a", func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.EndedAt = approvals.StatusExpired, t0.Add(time.Hour)
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{t0.Add(-time.Minute), nil},
		{t0.Add(10 * time.Minute), []string{"ar-a"}},
		{t0.Add(45 * time.Minute), []string{"ar-a", "ar-b"}},
		{t0.Add(70 * time.Minute), []string{"ar-b"}},
	} {
		got, err := s.HoldersAt(context.Background(), "db", c.at)
		if err != nil || !slices.Equal(ids(got), c.want) {
			t.Errorf("HoldersAt(%s) = %v, %v; want %v", c.at.Sub(t0), ids(got), err, c.want)
		}
	}
}

func outboxCommittedWithTheChange(t *testing.T, s Store) {
	r := request("ar-1", "UALICE", "db")
	ev := event(r, approvals.ActionRequested, t0)
	create(t, s, r, approvals.Notice{At: t0, Event: &ev})
	select {
	case <-s.OutboxSignal():
	case <-time.After(5 * time.Second):
		t.Fatal("no outbox signal after a commit that queued a notice")
	}
	if _, err := s.Transition(context.Background(), r.ID, func(r *approvals.Request) (approvals.Change, error) {
		r.Asked = []string{"C0APPROVALS"}
		return approvals.Change{Notices: []approvals.Notice{{At: t0, Ask: r.Asked}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	ns, err := s.Notices(context.Background(), 0, 10)
	if err != nil || len(ns) != 2 {
		t.Fatalf("notices = %d, %v; want 2", len(ns), err)
	}
	if ns[0].Seq >= ns[1].Seq || ns[0].Event == nil || len(ns[1].Ask) != 1 {
		t.Errorf("notices out of commit order or changed: %+v", ns)
	}
	if ns[1].Request == nil || ns[1].Request.ID != r.ID || len(ns[1].Request.Asked) != 1 || ns[1].RequestID != r.ID {
		t.Errorf("notice not filled in with the request as committed: %+v", ns[1].Request)
	}
	later, _ := s.Notices(context.Background(), ns[0].Seq, 10)
	if len(later) != 1 || later[0].Seq != ns[1].Seq {
		t.Errorf("notices after %d = %v", ns[0].Seq, later)
	}
}

func outboxDeliveries(t *testing.T, s Store) {
	r := request("ar-1", "UALICE", "db")
	create(t, s, r, approvals.Notice{At: t0, Ask: []string{"UBOB", "UCAROL"}})
	ns, _ := s.Notices(context.Background(), 0, 10)
	seq := ns[0].Seq
	ref := approvals.MessageRef{ChannelID: "DUBOB", TS: "1.1"}
	if err := s.RecordDeliveries(context.Background(), []approvals.Delivery{{Seq: seq, Key: "ask:0:UBOB", RequestID: r.ID, Ref: ref}}); err != nil {
		t.Fatal(err)
	}
	ns, _ = s.Notices(context.Background(), 0, 10)
	if len(ns) != 1 || !slices.Equal(ns[0].Done, []string{"ask:0:UBOB"}) {
		t.Fatalf("after one delivery: %+v", ns)
	}
	stored, _ := s.Request(context.Background(), r.ID)
	if !slices.Equal(stored.Messages, []approvals.MessageRef{ref}) {
		t.Errorf("message reference not recorded on the request: %v", stored.Messages)
	}
	// Recording twice changes nothing; the last delivery removes the notice.
	thread := approvals.MessageRef{ChannelID: "C0AUDIT", TS: "2.2"}
	if err := s.RecordDeliveries(context.Background(), []approvals.Delivery{
		{Seq: seq, Key: "ask:0:UBOB", RequestID: r.ID, Ref: ref},
		{Seq: seq, Key: "ask:0:UCAROL", Last: true, RequestID: r.ID, Ref: thread, AuditThread: true},
	}); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.Notices(context.Background(), 0, 10); len(ns) != 0 {
		t.Errorf("notice still in the outbox after its last delivery: %+v", ns)
	}
	stored, _ = s.Request(context.Background(), r.ID)
	if len(stored.Messages) != 1 || stored.AuditThread != thread {
		t.Errorf("request after the deliveries: messages %v, thread %v", stored.Messages, stored.AuditThread)
	}
	head, _ := s.AuditHead(context.Background())
	if head.Count != 1 {
		t.Errorf("recording deliveries appended audit events: head %d, want 1", head.Count)
	}
}

func auditChain(t *testing.T, s Store) {
	r := request("ar-1", "UALICE", "db")
	create(t, s, r)
	grant(t, s, r.ID, t0.Add(time.Minute), time.Hour)
	if err := s.AppendEvent(context.Background(), approvals.Event{Time: t0.Add(2 * time.Minute), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}); err != nil {
		t.Fatal(err)
	}
	var evs []approvals.Event
	if err := s.EventsBetween(context.Background(), time.Time{}, time.Time{}, func(ev approvals.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	prev := ""
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.PrevHash != prev || ev.ChainHash(prev) != ev.Hash {
			t.Errorf("event %d: seq %d, prev %q, hash %q: not chained", i+1, ev.Seq, ev.PrevHash, ev.Hash)
		}
		prev = ev.Hash
	}
	head, err := s.AuditHead(context.Background())
	if err != nil || head.Count != 3 || head.Hash != prev {
		t.Errorf("head %v, %v; want the last event's hash @3", head, err)
	}
	var window []string
	s.EventsBetween(context.Background(), t0.Add(time.Minute), t0.Add(2*time.Minute), func(ev approvals.Event) error {
		window = append(window, ev.Action)
		return nil
	})
	if !slices.Equal(window, []string{approvals.ActionGranted}) {
		t.Errorf("events in [+1m, +2m) = %v, want granted", window)
	}
}

func concurrentWriters(t *testing.T, s Store) {
	const n = 40
	for i := range n {
		create(t, s, request(fmt.Sprintf("ar-%02d", i), fmt.Sprintf("U%02d", i), "db"))
	}
	var wg sync.WaitGroup
	// Each request approved from two places at once: one transition wins,
	// the other sees it and refuses, as two clicks on two replicas would.
	var won sync.Map
	for i := range n {
		for range 2 {
			wg.Go(func() {
				id := fmt.Sprintf("ar-%02d", i)
				_, err := s.Transition(context.Background(), id, func(r *approvals.Request) (approvals.Change, error) {
					if r.Status != approvals.StatusPending {
						return approvals.Change{}, approvals.Errorf(approvals.ECONFLICT, "already decided")
					}
					r.Status = approvals.StatusApproved
					return approvals.Change{Events: []approvals.Event{event(r, approvals.ActionApproved, t0)}}, nil
				})
				if err == nil {
					if _, dup := won.LoadOrStore(id, true); dup {
						t.Errorf("%s approved twice", id)
					}
				} else if approvals.ErrorCode(err) != approvals.ECONFLICT {
					t.Errorf("%s: %v", id, err)
				}
			})
		}
	}
	wg.Wait()
	head, _ := s.AuditHead(context.Background())
	if head.Count != 2*n {
		t.Errorf("audit head %d, want %d (one request and one approval each)", head.Count, 2*n)
	}
	open, _ := s.OpenRequests(context.Background(), "")
	for _, r := range open {
		if r.Status != approvals.StatusApproved {
			t.Errorf("%s is %s", r.ID, r.Status)
		}
	}
}

func nextRevokeDueAndResume(t *testing.T, s Store) {
	ctx := context.Background()
	if _, ok, err := s.NextRevokeDue(ctx); ok || err != nil {
		t.Fatalf("NextRevokeDue of an empty store = %v, %v; want none", ok, err)
	}
	create(t, s, request("ar-late", "UA", "db"))
	grant(t, s, "ar-late", t0, 2*time.Hour)
	create(t, s, request("ar-soon", "UB", "db"))
	grant(t, s, "ar-soon", t0, time.Hour)
	next, ok, err := s.NextRevokeDue(ctx)
	if err != nil || !ok || next.Sub(t0.Add(time.Hour)).Abs() > time.Microsecond {
		t.Errorf("NextRevokeDue = %v, %v, %v; want %v", next, ok, err, t0.Add(time.Hour))
	}
	// An approved request (its grant interrupted) needs resuming; an
	// active one does not.
	create(t, s, request("ar-approved", "UC", "db"))
	if _, err := s.Transition(ctx, "ar-approved", func(r *approvals.Request) (approvals.Change, error) {
		r.Status = approvals.StatusApproved
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.NeedingResume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		if r.NeedsResume() {
			got = append(got, r.ID)
		} else {
			t.Errorf("NeedingResume returned %s (%s), which needs nothing", r.ID, r.Status)
		}
	}
	if !slices.Contains(got, "ar-approved") {
		t.Errorf("NeedingResume = %v; want ar-approved", got)
	}
}

// pendingRequests checks, for a store that lists pending requests apart
// (approvals.PendingLister), that it returns exactly the pending ones,
// however their reasons are worded.
func pendingRequests(t *testing.T, s Store) {
	pl, ok := s.(approvals.PendingLister)
	if !ok {
		t.Skip("the store does not list pending requests apart")
	}
	ctx := context.Background()
	p := request("ar-p", "UA", "db")
	create(t, s, p)
	tricky := request("ar-t", "UB", "db")
	tricky.Reason = `looks like "status":"pending" but is not`
	create(t, s, tricky)
	grant(t, s, "ar-t", t0, time.Hour)
	got, err := pl.PendingRequests(ctx)
	if err != nil || len(got) != 1 || got[0].ID != "ar-p" {
		t.Fatalf("PendingRequests = %v, %v; want ar-p only", ids(got), err)
	}
}
