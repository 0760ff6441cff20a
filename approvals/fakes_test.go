package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for the domain's own tests; the bbolt
// store has its own tests against real files.
type memStore struct {
	mu       sync.Mutex
	requests map[string]*Request
	events   []Event
	notices  []Notice
	// edited are requests a test changed directly, as a crash or an
	// older version would have left them; their log does not tell them.
	edited map[string]bool
	// deliver, when set, is the chat side: it sees each notice as it is
	// committed, with the lock held, and may record message references on
	// the request the way the delivery worker does.
	deliver func(r *Request, n Notice)
}

func newMemStore() *memStore {
	return &memStore{requests: map[string]*Request{}, edited: map[string]bool{}}
}

func (m *memStore) append(evs ...Event) {
	for _, ev := range evs {
		prev := ""
		if n := len(m.events); n > 0 {
			prev = m.events[n-1].Hash
		}
		ev.Seq = uint64(len(m.events) + 1)
		ev.PrevHash = prev
		ev.Hash = ev.ChainHash(prev)
		m.events = append(m.events, ev)
	}
}

// queue records notices committed with r (nil for none).
func (m *memStore) queue(r *Request, notices []Notice) {
	for _, n := range notices {
		if r != nil {
			n.Request = r.Clone()
		}
		n.Seq = uint64(len(m.notices) + 1)
		m.notices = append(m.notices, n)
		if m.deliver != nil {
			m.deliver(r, n)
		}
	}
}

func (m *memStore) CreateRequest(_ context.Context, r *Request, ev Event, notices ...Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.requests {
		if o.Requester == r.Requester && o.Resource == r.Resource && o.Status.Open() {
			return Errorf(ECONFLICT, "you already have %s open for %s", o.ID, o.Resource)
		}
	}
	m.requests[r.ID] = r.Clone()
	m.append(ev)
	m.queue(m.requests[r.ID], notices)
	return nil
}

func (m *memStore) Transition(_ context.Context, id string, fn func(r *Request) (Change, error)) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.requests[id]
	if !ok {
		return nil, Errorf(ENOTFOUND, "no request %s", id)
	}
	r := cur.Clone()
	c, err := fn(r)
	if err != nil {
		return nil, err
	}
	m.requests[id] = r.Clone()
	m.append(c.Events...)
	m.queue(m.requests[id], c.Notices)
	return m.requests[id].Clone(), nil
}

// UpdateRequest is Transition for changes that queue no notice.
func (m *memStore) UpdateRequest(ctx context.Context, id string, fn func(r *Request) ([]Event, error)) (*Request, error) {
	return m.Transition(ctx, id, func(r *Request) (Change, error) {
		evs, err := fn(r)
		return Change{Events: evs}, err
	})
}

func (m *memStore) Enqueue(_ context.Context, notices ...Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queue(nil, notices)
	return nil
}

func (m *memStore) Request(_ context.Context, id string) (*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.requests[id]
	if !ok {
		return nil, Errorf(ENOTFOUND, "no request %s", id)
	}
	return r.Clone(), nil
}

func (m *memStore) NeedingResume(_ context.Context) ([]*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Request
	for _, r := range m.requests {
		if r.NeedsResume() {
			out = append(out, r.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *memStore) OpenRequests(_ context.Context, requester string) ([]*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Request
	for _, r := range m.requests {
		if r.Status.Open() && (requester == "" || r.Requester == requester) {
			out = append(out, r.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (m *memStore) DueRevokes(_ context.Context, now time.Time) ([]*Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Request
	for _, r := range m.requests {
		if due, ok := r.RevokeDueAt(); ok && !due.After(now) {
			out = append(out, r.Clone())
		}
	}
	return out, nil
}

func (m *memStore) NextRevokeDue(context.Context) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	found := false
	for _, r := range m.requests {
		if due, ok := r.RevokeDueAt(); ok && (!found || due.Before(next)) {
			next, found = due, true
		}
	}
	return next, found, nil
}

func (m *memStore) AppendEvent(_ context.Context, ev Event, notices ...Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.append(ev)
	m.queue(nil, notices)
	return nil
}

func (m *memStore) actions(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.actionsLocked(id)
}

func (m *memStore) actionsLocked(id string) []string {
	var out []string
	for _, ev := range m.events {
		if ev.RequestID == id {
			out = append(out, ev.Action)
		}
	}
	return out
}

// fakeProvider keeps who holds the access in a set and can be told to fail.
type fakeProvider struct {
	mu          sync.Mutex
	held        map[string]bool
	grants      int
	revokes     int
	failRevokes int   // the next n revokes fail transiently
	failGrant   error // every grant fails with this
	// lostAnswer makes every grant take effect and then fail with it, as
	// a call that timed out after the provider acted.
	lostAnswer error
	holdsErr   error
	revokeErr  error        // every revoke fails with this
	lastGrant  GrantRequest // the last grant asked for
}

func newFakeProvider() *fakeProvider { return &fakeProvider{held: map[string]bool{}} }

func (p *fakeProvider) Grant(_ context.Context, req GrantRequest) (GrantResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastGrant = req
	if p.failGrant != nil {
		return GrantResult{}, p.failGrant
	}
	p.grants++
	p.held[req.Identity] = true
	return GrantResult{}, p.lostAnswer
}

func (p *fakeProvider) Revoke(_ context.Context, req RevokeRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revokeErr != nil {
		return p.revokeErr
	}
	if p.failRevokes > 0 {
		p.failRevokes--
		return Transient(errors.New("502 bad gateway"))
	}
	p.revokes++
	delete(p.held, req.Identity)
	return nil
}

func (p *fakeProvider) Holds(_ context.Context, req HoldsRequest) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[req.Identity], p.holdsErr
}

func (p *fakeProvider) counts() (grants, revokes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants, p.revokes
}

// fakeNotifier records what the chat side would say, from the notices as
// they are committed.
type fakeNotifier struct {
	mu        sync.Mutex
	approvals []string // request IDs posted to approvers
	updates   []Status
	dms       []string // actions told to requesters
	audit     []string // actions posted to the audit channel
}

// deliver is memStore.deliver: approval messages land in C0APPROVALS and
// are recorded on the request, as the delivery worker records them.
func (n *fakeNotifier) deliver(r *Request, nt Notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(nt.Ask) > 0 {
		n.approvals = append(n.approvals, r.ID)
		ref := MessageRef{ChannelID: "C0APPROVALS", TS: fmt.Sprintf("%d.0", nt.Seq)}
		if nt.Round == 0 {
			r.Messages = append(r.Messages, ref)
		} else {
			r.Extensions[nt.Round-1].Messages = append(r.Extensions[nt.Round-1].Messages, ref)
		}
	}
	if nt.Update && r != nil && (len(r.Messages) > 0 || (r.LastExtension() != nil && len(r.LastExtension().Messages) > 0)) {
		n.updates = append(n.updates, r.Status)
	}
	if nt.TellRequester && nt.Event != nil {
		n.dms = append(n.dms, nt.Event.Action)
	}
	if nt.Event != nil {
		n.audit = append(n.audit, nt.Event.Action)
	}
}

func (n *fakeNotifier) snapshot() (audit, dms []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.audit), slices.Clone(n.dms)
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	svc      *Service
	store    *memStore
	provider *fakeProvider
	notifier *fakeNotifier
	clock    *clock
}

func testPolicy() *Policy {
	return &Policy{
		Admins: []string{"UADMIN"},
		Identities: map[string]map[string]string{
			"UALICE": {"fake": "alice"},
			"UBOB":   {"fake": "bob"},
			"UCAROL": {"fake": "carol"},
		},
		Resources: []Resource{
			{Name: "db", Provider: "fake", Settings: json.RawMessage(`{"role":"rw"}`), Approvers: []string{"UBOB", "UCAROL"}, MaxDuration: 4 * time.Hour},
			{Name: "two", Provider: "fake", Approvers: []string{"UBOB", "UCAROL", "UALICE"}, ApprovalsRequired: 2, MaxDuration: time.Hour},
			{Name: "self", Provider: "fake", Approvers: []string{"UALICE"}, AllowSelfApproval: true, MaxDuration: time.Hour, MinDuration: 10 * time.Minute},
			{Name: "nobody", Provider: "fake", IdentityKey: "payroll", Approvers: []string{"UBOB"}, MaxDuration: time.Hour},
		},
		Hash: "policyhash",
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		store:    newMemStore(),
		provider: newFakeProvider(),
		notifier: &fakeNotifier{},
		clock:    &clock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
	}
	h.store.deliver = h.notifier.deliver
	// Runs after the service has shut down (cleanups run last first).
	t.Cleanup(func() { h.store.checkReplay(t) })
	h.svc = New(Config{
		Store:        h.store,
		Providers:    map[string]Provider{"fake": h.provider},
		Policy:       testPolicy(),
		Now:          h.clock.Now,
		RetryBackoff: time.Millisecond,
	})
	t.Cleanup(h.svc.Shutdown)
	return h
}

func (m *memStore) EventsBetween(_ context.Context, since, until time.Time, fn func(Event) error) error {
	m.mu.Lock()
	evs := slices.Clone(m.events)
	m.mu.Unlock()
	for _, ev := range evs {
		if (!since.IsZero() && ev.Time.Before(since)) || (!until.IsZero() && !ev.Time.Before(until)) {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) AuditHead(context.Context) (Anchor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) == 0 {
		return Anchor{}, nil
	}
	return Anchor{Count: uint64(len(m.events)), Hash: m.events[len(m.events)-1].Hash}, nil
}

// Holders makes fakeProvider a HolderLister.
func (p *fakeProvider) Holders(_ context.Context, _ HoldersRequest) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id, ok := range p.held {
		if ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// checkReplay checks that the audit log alone tells each request's status
// and expiry (StatusAfter, and the expiry of its last event), as the bbolt
// store's state check expects, whatever flows the test ran. Requests a
// test edited behind the service's back (edited) are skipped.
func (m *memStore) checkReplay(t *testing.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	status := map[string]Status{}
	expiry := map[string]time.Time{}
	for _, ev := range m.events {
		if ev.RequestID == "" {
			continue
		}
		status[ev.RequestID] = StatusAfter(ev, status[ev.RequestID])
		expiry[ev.RequestID] = ev.ExpiresAt
	}
	for id, r := range m.requests {
		if m.edited[id] {
			continue
		}
		if status[id] != r.Status || !expiry[id].Equal(r.ExpiresAt) {
			t.Errorf("request %s: %s until %s in the store, %s until %s by its events %v", id, r.Status, r.ExpiresAt, status[id], expiry[id], m.actionsLocked(id))
		}
	}
}
