package bot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/store"
)

// rig is the outbox and its Deliverer on a real store, against a fake
// Slack: tests commit notices the way approvals does and look at what
// Slack received.
type rig struct {
	t     *testing.T
	db    *store.DB
	slack *slackfake.Server
	svc   *approvals.Service
	d     *runningDeliverer
}

func newRig(t *testing.T, audit string, opts ...func(*bot.DelivererConfig)) *rig {
	t.Helper()
	g := &rig{t: t, slack: slackfake.NewServer(t)}
	db, err := store.Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	g.db = db
	g.svc = approvals.New(approvals.Config{Store: db, Policy: testPolicy(), Logger: testLogger()})
	g.d = startDelivererTo(t, g.slack.Client(), db, g.svc, testLogger(), audit, opts...)
	t.Cleanup(func() {
		g.d.stop()
		g.svc.Shutdown()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
		if v := g.slack.Violations(); len(v) > 0 {
			t.Errorf("Slack rules broken: %v", v)
		}
	})
	return g
}

// idle waits until the outbox is delivered.
func (g *rig) idle() {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.d.Idle(ctx); err != nil {
		g.t.Fatalf("outbox not delivered: %v\n%s", err, g.slack.Summary())
	}
}

// file stores r with its "requested" event and queues notices with it.
func (g *rig) file(r *approvals.Request, notices ...approvals.Notice) {
	g.t.Helper()
	if err := g.db.CreateRequest(context.Background(), r, eventOf(r, approvals.ActionRequested, r.Requester), notices...); err != nil {
		g.t.Fatal(err)
	}
}

// change applies fn to request id and commits it with notices, each of
// which the store fills in with the request as changed.
func (g *rig) change(id string, fn func(r *approvals.Request), notices ...approvals.Notice) *approvals.Request {
	g.t.Helper()
	r, err := g.db.Transition(context.Background(), id, func(r *approvals.Request) (approvals.Change, error) {
		fn(r)
		return approvals.Change{Notices: notices}, nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

// request returns request id as stored.
func (g *rig) request(id string) *approvals.Request {
	g.t.Helper()
	r, err := g.db.Request(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	return r
}

// eventOf is the audit event of action on r, as approvals writes it.
func eventOf(r *approvals.Request, action, actor string) approvals.Event {
	return approvals.Event{Time: start, Action: action, Actor: actor, RequestID: r.ID, Resource: r.Resource,
		Provider: r.Provider, Requester: r.Requester, Identity: r.Identity, Duration: r.Duration,
		ExpiresAt: r.ExpiresAt, Reason: r.Reason, Approvers: r.Approvers(), Outcome: string(r.Status)}
}

// told is the notice that announces ev, as approvals queues it.
func told(ev approvals.Event, tellRequester bool) approvals.Notice {
	return approvals.Notice{At: ev.Time, Event: &ev, Update: ev.Action != approvals.ActionRequested, TellRequester: tellRequester}
}

func pendingRequest() *approvals.Request {
	return &approvals.Request{
		ID: "ar-test", Requester: alice, Resource: "payments-admin", Provider: "github", Identity: "alice-gh",
		Duration: time.Hour, Reason: "hotfix", Required: 2, Status: approvals.StatusPending, CreatedAt: start,
	}
}
