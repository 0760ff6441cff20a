package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/pgstore/pgtest"
	"github.com/accessbot/accessbot/store/storetest"
)

// These tests run against a real PostgreSQL server. In CI (CI set) a
// server that cannot be reached fails them; elsewhere they are skipped with
// a message saying how to run them. Each test works in a schema of its own,
// dropped afterwards.

var (
	testDSN   = pgtest.DSN
	admin     = pgtest.Admin
	newSchema = pgtest.Schema
)

func open(tb testing.TB, dsn string, opts ...Option) *DB {
	tb.Helper()
	db, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		dsn, _ := newSchema(t)
		return open(t, dsn)
	})
}

// TestMigrationsApplyOnce starts several replicas at once on an empty
// schema: each opens, and the schema is migrated once.
func TestMigrationsApplyOnce(t *testing.T) {
	dsn, schema := newSchema(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			db, err := Open(context.Background(), dsn, MaxConns(2))
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	conn := admin(t)
	var n, max int
	if err := conn.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), max(version) FROM %s.schema_migrations`, schema)).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || max != len(migrations) {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, max, len(migrations))
	}
	// Opening a migrated schema again changes nothing.
	db := open(t, dsn)
	if got := db.Schema(); got != schema {
		t.Errorf("Schema() = %q, want %q", got, schema)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn, schema := newSchema(t)
	open(t, dsn).Close()
	conn := admin(t)
	if _, err := conn.Exec(context.Background(), fmt.Sprintf(`INSERT INTO %s.schema_migrations (version) VALUES (99)`, schema)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), dsn)
	if err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("Open of a schema at version 99: %v, want a refusal naming it", err)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	u, err := url.Parse(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("accessbot_no_such_user", "s3cret-pa55word")
	u.Host = "127.0.0.1:1" // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Open(ctx, u.String())
	if err == nil {
		t.Fatal("Open succeeded without a server")
	}
	if strings.Contains(err.Error(), "s3cret-pa55word") {
		t.Errorf("the error shows the password: %v", err)
	}
	_, err = Open(ctx, "postgres://u:s3cret-pa55word@127.0.0.1:5432/x?sslmode=nonsense")
	if err == nil || strings.Contains(err.Error(), "s3cret-pa55word") {
		t.Errorf("a DSN that does not parse: %v", err)
	}
}

func testRequest(id, requester string) *approvals.Request {
	return &approvals.Request{
		ID: id, Requester: requester, Resource: "db", Provider: "fake", Identity: requester + "-acct",
		Duration: time.Hour, Reason: "test", Settings: []byte(`{"k":"v"}`), Required: 1,
		Status: approvals.StatusPending, CreatedAt: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
	}
}

func requested(r *approvals.Request) approvals.Event {
	return approvals.Event{Time: r.CreatedAt, Action: approvals.ActionRequested, Actor: r.Requester,
		RequestID: r.ID, Resource: r.Resource, Requester: r.Requester, Outcome: string(r.Status)}
}

// drain empties ch, then checks that it stays quiet for a moment.
func drain(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	for {
		select {
		case <-ch:
		case <-time.After(300 * time.Millisecond):
			return
		}
	}
}

func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no outbox signal %s", what)
	}
}

func quiet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Errorf("outbox signal %s", what)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestSecondReplica opens two DBs on one schema, as two replicas would:
// each sees the other's commits, the conflict index holds across them, and
// a commit of notices on one wakes the delivery worker of the other.
func TestSecondReplica(t *testing.T) {
	dsn, _ := newSchema(t)
	a := open(t, dsn)
	b := open(t, dsn)
	waitSignal(t, b.OutboxSignal(), "when the listener starts")
	drain(t, b.OutboxSignal())
	ctx := context.Background()

	r := testRequest("ar-1", "UALICE")
	ev := requested(r)
	if err := a.CreateRequest(ctx, r, ev, approvals.Notice{At: r.CreatedAt, Event: &ev}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, b.OutboxSignal(), "on the second replica after the first committed a notice")
	got, err := b.Request(ctx, r.ID)
	if err != nil || got.Status != approvals.StatusPending {
		t.Fatalf("second replica reads %+v, %v", got, err)
	}
	if ns, err := b.Notices(ctx, 0, 10); err != nil || len(ns) != 1 || ns[0].RequestID != r.ID {
		t.Errorf("second replica's notices: %+v, %v", ns, err)
	}
	// The same person, the same resource, the other replica: refused.
	r2 := testRequest("ar-2", "UALICE")
	if err := b.CreateRequest(ctx, r2, requested(r2)); approvals.ErrorCode(err) != approvals.ECONFLICT || !strings.Contains(err.Error(), "ar-1") {
		t.Errorf("second open request on the other replica: %v, want ECONFLICT naming ar-1", err)
	}
	// Both append to one chain.
	if err := b.AppendEvent(ctx, approvals.Event{Time: r.CreatedAt, Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}); err != nil {
		t.Fatal(err)
	}
	head, err := a.AuditHead(ctx)
	if err != nil || head.Count != 2 {
		t.Errorf("head on the first replica: %v, %v; want 2 records", head, err)
	}

	// A commit in another schema of the same database wakes no one here.
	drain(t, b.OutboxSignal())
	other, _ := newSchema(t)
	c := open(t, other)
	if err := c.Enqueue(ctx, approvals.Notice{At: r.CreatedAt}); err != nil {
		t.Fatal(err)
	}
	quiet(t, b.OutboxSignal(), "after a commit in another schema")
}

// TestListenerReconnects cuts the listening connection: the worker is
// woken (it should poll), and once the listener is back a commit on
// another replica wakes it again.
func TestListenerReconnects(t *testing.T) {
	dsn, schema := newSchema(t)
	a := open(t, dsn)
	b := open(t, dsn, PollInterval(200*time.Millisecond))
	waitSignal(t, b.OutboxSignal(), "when the listener starts")
	conn := admin(t)
	waitListener := func() int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			rows, _ := conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, listenerName(schema))
			pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			if len(pids) == 2 { // one per replica
				return pids[0]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the listeners did not connect")
		return 0
	}
	waitListener()
	var killed int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, listenerName(schema)).Scan(&killed); err != nil || killed != 2 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	waitSignal(t, b.OutboxSignal(), "after the listener was cut")
	waitListener()
	drain(t, b.OutboxSignal())
	if err := a.Enqueue(context.Background(), approvals.Notice{At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, b.OutboxSignal(), "after the listener reconnected and the other replica committed")
}

// TestAuditRecordsMatchBbolt writes the same history to the bbolt store
// and to PostgreSQL: the audit records and the head are the same bytes.
func TestAuditRecordsMatchBbolt(t *testing.T) {
	dsn, _ := newSchema(t)
	pg := open(t, dsn)
	path := filepath.Join(t.TempDir(), "accessbot.db")
	bolt, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, s := range []interface {
		CreateRequest(context.Context, *approvals.Request, approvals.Event, ...approvals.Notice) error
		Transition(context.Context, string, func(*approvals.Request) (approvals.Change, error)) (*approvals.Request, error)
		AppendEvent(context.Context, approvals.Event, ...approvals.Notice) error
	}{bolt, pg} {
		r := testRequest("ar-1", "UALICE")
		r.Reason = "INC-1 \xff not UTF-8, <html> & \u2028"
		ev := requested(r)
		ev.Reason = r.Reason
		ev.Approvers = []string{"UBOB", "U\xfe"}
		if err := s.CreateRequest(ctx, r, ev); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, r.ID, func(r *approvals.Request) (approvals.Change, error) {
			r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, t0, t0.Add(time.Hour)
			evs := []approvals.Event{
				{Time: t0, Action: approvals.ActionApproved, Actor: "UBOB", RequestID: r.ID},
				{Time: t0.Add(time.Second), Action: approvals.ActionGranted, Actor: approvals.SystemActor, RequestID: r.ID, ExpiresAt: r.ExpiresAt, Duration: time.Hour},
			}
			return approvals.Change{Events: evs}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendEvent(ctx, approvals.Event{Time: t0.Add(2 * time.Second), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, PolicyHash: "abc"}); err != nil {
			t.Fatal(err)
		}
	}
	wantVerify, err := bolt.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := pg.Verify(ctx); err != nil || got != wantVerify {
		t.Errorf("Verify = %+v, %v; the bbolt store's %+v", got, err, wantVerify)
	}
	if err := bolt.Close(); err != nil {
		t.Fatal(err)
	}

	// The bbolt side, read as the external contract draws it: audit/<8B
	// seq> and meta/audit_head.
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var want [][]byte
	var wantHead []byte
	bdb.View(func(tx *bbolt.Tx) error {
		tx.Bucket([]byte("audit")).ForEach(func(k, v []byte) error {
			if binary.BigEndian.Uint64(k) != uint64(len(want)+1) {
				t.Errorf("bbolt audit key %x out of order", k)
			}
			want = append(want, bytes.Clone(v))
			return nil
		})
		wantHead = bytes.Clone(tx.Bucket([]byte("meta")).Get([]byte("audit_head")))
		return nil
	})
	var got [][]byte
	if err := pg.AuditRecords(ctx, func(seq uint64, v []byte) error {
		if seq != uint64(len(got)+1) {
			t.Errorf("audit seq %d out of order", seq)
		}
		got = append(got, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("%d records in PostgreSQL, %d in bbolt; want 4 each", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("record %d differs:\n postgres %q\n bbolt    %q", i+1, got[i], want[i])
		}
	}
	head, err := pg.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%d %s", binary.BigEndian.Uint64(wantHead), wantHead[8:]) != fmt.Sprintf("%d %s", head.Count, head.Hash) {
		t.Errorf("head %v, bbolt's %d %s", head, binary.BigEndian.Uint64(wantHead), wantHead[8:])
	}
	// And the chain reads back whole.
	prev := ""
	pg.Events(ctx, func(ev approvals.Event) error {
		if ev.PrevHash != prev || ev.ChainHash(prev) != ev.Hash {
			t.Errorf("event %d not chained", ev.Seq)
		}
		prev = ev.Hash
		return nil
	})
}

// TestOutboxOrderFollowsCommits holds a transaction that queued a notice
// open while another commits: the later commit's notice gets the later
// sequence number, so a worker that read past it misses nothing.
func TestOutboxOrderFollowsCommits(t *testing.T) {
	dsn, _ := newSchema(t)
	db := open(t, dsn)
	ctx := context.Background()
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	wt := newWtx(c.Conn(), nil, nil)
	if err := appendAndQueue(ctx, wt, nil, nil, nil, []approvals.Notice{{Ask: []string{"first"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := wt.finish(ctx, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- db.Enqueue(ctx, approvals.Notice{Ask: []string{"second"}}) }()
	select {
	case err := <-done:
		t.Fatalf("a second notice committed while the first transaction held the outbox head: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := c.Exec(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ns, err := db.Notices(ctx, 0, 10)
	if err != nil || len(ns) != 2 || ns[0].Ask[0] != "first" || ns[1].Ask[0] != "second" || ns[0].Seq >= ns[1].Seq {
		t.Errorf("notices %+v, %v; want first, then second", ns, err)
	}
}

// TestConcurrentCreatesConflict files the same person's request for the
// same resource from many connections at once: the requests_open index
// lets exactly one through, and a transition that would reopen a closed
// request beside an open one is refused too.
func TestConcurrentCreatesConflict(t *testing.T) {
	dsn, _ := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := testRequest(fmt.Sprintf("ar-%d", i), "UALICE")
			errs[i] = []*DB{a, b}[i%2].CreateRequest(ctx, r, requested(r))
		})
	}
	wg.Wait()
	won := ""
	for i, err := range errs {
		switch {
		case err == nil && won == "":
			won = fmt.Sprintf("ar-%d", i)
		case err == nil:
			t.Errorf("ar-%d filed beside %s", i, won)
		case approvals.ErrorCode(err) != approvals.ECONFLICT:
			t.Errorf("ar-%d: %v, want ECONFLICT", i, err)
		}
	}
	if won == "" {
		t.Fatal("no request filed")
	}
	if _, err := a.Transition(ctx, won, func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.EndedAt = approvals.StatusDenied, r.CreatedAt
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	r := testRequest("ar-new", "UALICE")
	if err := b.CreateRequest(ctx, r, requested(r)); err != nil {
		t.Fatal(err)
	}
	_, err := a.Transition(ctx, won, func(r *approvals.Request) (approvals.Change, error) {
		r.Status = approvals.StatusPending
		return approvals.Change{Events: []approvals.Event{requested(r)}}, nil
	})
	if approvals.ErrorCode(err) != approvals.ECONFLICT || !strings.Contains(err.Error(), "ar-new") {
		t.Errorf("reopening beside an open request: %v, want ECONFLICT naming ar-new", err)
	}
	if head, _ := a.AuditHead(ctx); head.Count != 2 {
		t.Errorf("audit head %d after a refused transition, want 2", head.Count)
	}
}

// TestOwnSchemaIsEnough opens the store as a role that may do nothing but
// use and create in its own schema, as doc.go says suffices.
func TestOwnSchemaIsEnough(t *testing.T) {
	conn := admin(t)
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	role := "accessbot_test_role_" + hex.EncodeToString(b[:])
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE SCHEMA " + role + " AUTHORIZATION " + role,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		for _, q := range []string{"DROP SCHEMA " + role + " CASCADE", "DROP ROLE " + role} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	u, err := url.Parse(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	q := u.Query()
	q.Set("search_path", role)
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String())
	if err != nil {
		if strings.Contains(err.Error(), "password") && os.Getenv("CI") == "" {
			t.Skipf("the test server asks %s for a password (not trust auth): %v", role, err)
		}
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Schema(); got != role {
		t.Errorf("schema %q, want %q", got, role)
	}
	r := testRequest("ar-1", "UALICE")
	ev := requested(r)
	if err := db.CreateRequest(ctx, r, ev, approvals.Notice{At: r.CreatedAt, Event: &ev}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, db.OutboxSignal(), "for the unprivileged role")
}

// TestBatchedWrites runs a burst of writes through the committer: they
// share commits, a refused or conflicting write fails alone, a panic
// reaches its own caller, and the chain stays whole.
func TestBatchedWrites(t *testing.T) {
	dsn, _ := newSchema(t)
	db := open(t, dsn)
	ctx := context.Background()
	for i := range 10 {
		r := testRequest(fmt.Sprintf("ar-old-%d", i), fmt.Sprintf("U%d", i))
		if err := db.CreateRequest(ctx, r, requested(r)); err != nil {
			t.Fatal(err)
		}
	}
	commits := db.Commits()
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			switch i % 4 {
			case 0: // conflicts with ar-old-*
				r := testRequest(fmt.Sprintf("ar-%d", i), fmt.Sprintf("U%d", i%10))
				errs[i] = db.CreateRequest(ctx, r, requested(r))
			case 1: // fine
				r := testRequest(fmt.Sprintf("ar-%d", i), fmt.Sprintf("UNEW%d", i))
				ev := requested(r)
				errs[i] = db.CreateRequest(ctx, r, ev, approvals.Notice{At: r.CreatedAt, Event: &ev})
			case 2: // refused by fn
				_, errs[i] = db.Transition(ctx, fmt.Sprintf("ar-old-%d", i%10), func(r *approvals.Request) (approvals.Change, error) {
					r.Status = approvals.StatusDenied
					return approvals.Change{Events: []approvals.Event{requested(r)}}, approvals.Errorf(approvals.EFORBIDDEN, "no")
				})
			case 3: // panics
				defer func() {
					if v := recover(); v != "boom" {
						errs[i] = fmt.Errorf("recovered %v, want boom", v)
					} else {
						errs[i] = nil
					}
				}()
				db.Transition(ctx, fmt.Sprintf("ar-old-%d", i%10), func(r *approvals.Request) (approvals.Change, error) {
					panic("boom")
				})
				errs[i] = errors.New("no panic")
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		var want string
		switch i % 4 {
		case 0:
			want = approvals.ECONFLICT
		case 2:
			want = approvals.EFORBIDDEN
		}
		if want == "" && err != nil || want != "" && approvals.ErrorCode(err) != want {
			t.Errorf("write %d (kind %d): %v, want %s", i, i%4, err, cmp.Or(want, "success"))
		}
	}
	if c := db.Commits() - commits; c >= n/4 {
		t.Logf("%d commits for %d writes: no batching seen (a slow machine may serialise them)", c, n)
	}
	head, err := db.AuditHead(ctx)
	if err != nil || head.Count != 10+n/4 {
		t.Errorf("audit head %v, %v; want %d records", head, err, 10+n/4)
	}
	prev := ""
	db.Events(ctx, func(ev approvals.Event) error {
		if ev.PrevHash != prev || ev.ChainHash(prev) != ev.Hash {
			t.Errorf("event %d not chained", ev.Seq)
		}
		prev = ev.Hash
		return nil
	})
	if c, err := db.Counts(ctx); err != nil || c.Open != 10+n/4 || c.Active != 0 {
		t.Errorf("Counts = %+v, %v; want %d open, none active", c, err, 10+n/4)
	}
	ns, _ := db.Notices(ctx, 0, 100)
	if len(ns) != n/4 {
		t.Errorf("%d notices, want %d", len(ns), n/4)
	}
	for i := 1; i < len(ns); i++ {
		if ns[i].Seq != ns[i-1].Seq+1 {
			t.Errorf("notice sequence jumps from %d to %d", ns[i-1].Seq, ns[i].Seq)
		}
	}
	for i := range 10 {
		if r, _ := db.Request(ctx, fmt.Sprintf("ar-old-%d", i)); r.Status != approvals.StatusPending {
			t.Errorf("ar-old-%d is %s after refused and panicking transitions", i, r.Status)
		}
	}
}

// TestSubMicrosecondTimes checks the indexes by time, which PostgreSQL
// keeps to the microsecond, against instants that differ by nanoseconds,
// as the bbolt store's nanosecond keys tell them apart.
func TestSubMicrosecondTimes(t *testing.T) {
	dsn, _ := newSchema(t)
	db := open(t, dsn)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 1500, time.UTC) // 1.5 µs past
	r := testRequest("ar-1", "UALICE")
	if err := db.CreateRequest(ctx, r, requested(r)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Transition(ctx, r.ID, func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, t0, t0.Add(time.Hour)
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	due := t0.Add(time.Hour)
	for _, c := range []struct {
		now  time.Time
		want int
	}{{due.Add(-time.Nanosecond), 0}, {due, 1}, {due.Add(time.Nanosecond), 1}} {
		got, err := db.DueRevokes(ctx, c.now)
		if err != nil || len(got) != c.want {
			t.Errorf("DueRevokes(due%+v) = %d requests, %v; want %d", c.now.Sub(due), len(got), err, c.want)
		}
	}
	for _, c := range []struct {
		at   time.Time
		want int
	}{{t0.Add(-time.Nanosecond), 0}, {t0, 1}} {
		got, err := db.HoldersAt(ctx, "db", c.at)
		if err != nil || len(got) != c.want {
			t.Errorf("HoldersAt(granted%+v) = %d, %v; want %d", c.at.Sub(t0), len(got), err, c.want)
		}
	}
	end := t0.Add(time.Minute)
	if _, err := db.Transition(ctx, r.ID, func(r *approvals.Request) (approvals.Change, error) {
		r.Status, r.EndedAt = approvals.StatusExpired, end
		return approvals.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want int
	}{{end.Add(-time.Nanosecond), 1}, {end, 0}} {
		got, err := db.HoldersAt(ctx, "db", c.at)
		if err != nil || len(got) != c.want {
			t.Errorf("HoldersAt(ended%+v) = %d, %v; want %d", c.at.Sub(end), len(got), err, c.want)
		}
	}
}

// TestVerifyCatchesTampering changes, removes and cuts back records in the
// database, as someone with write access to the schema could.
func TestVerifyCatchesTampering(t *testing.T) {
	dsn, schema := newSchema(t)
	db := open(t, dsn)
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := db.AppendEvent(ctx, approvals.Event{Time: at.Add(time.Duration(i) * time.Second), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := db.Verify(ctx)
	if err != nil || res.Count != 3 {
		t.Fatalf("Verify of an intact log = %+v, %v", res, err)
	}
	var anchors []approvals.Event
	db.Events(ctx, func(ev approvals.Event) error { anchors = append(anchors, ev); return nil })
	for _, ev := range anchors {
		if err := db.VerifyAnchor(ctx, ev.Hash, ev.Seq); err != nil {
			t.Errorf("anchor %d: %v", ev.Seq, err)
		}
	}
	conn := admin(t)
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, strings.ReplaceAll(q, "S.", schema+".")); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A changed record (one byte of its body).
	exec(`CREATE TABLE S.saved AS SELECT * FROM S.audit`)
	exec(`UPDATE S.audit SET record = overlay(record placing 'X'::bytea from length(record) - 40) WHERE seq = 2`)
	if _, err := db.Verify(ctx); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("Verify after changing record 2: %v", err)
	}
	exec(`UPDATE S.audit a SET record = s.record FROM S.saved s WHERE a.seq = s.seq`)
	if _, err := db.Verify(ctx); err != nil {
		t.Fatalf("Verify after restoring: %v", err)
	}
	// A removed record.
	exec(`DELETE FROM S.audit WHERE seq = 2`)
	if _, err := db.Verify(ctx); err == nil || !strings.Contains(err.Error(), "record 2 missing") {
		t.Errorf("Verify after removing record 2: %v", err)
	}
	exec(`INSERT INTO S.audit SELECT * FROM S.saved WHERE seq = 2`)
	// Cut back, head and all: only the anchor tells.
	exec(`DELETE FROM S.audit WHERE seq = 3`)
	if _, err := db.Verify(ctx); err == nil || !strings.Contains(err.Error(), "head") {
		t.Errorf("Verify after cutting record 3: %v", err)
	}
	exec(fmt.Sprintf(`UPDATE S.audit_head SET seq = 2, hash = '%s'`, anchors[1].Hash))
	if _, err := db.Verify(ctx); err != nil {
		t.Errorf("Verify of a log cut back with its head: %v (only the anchor can tell)", err)
	}
	if err := db.VerifyAnchor(ctx, anchors[2].Hash, 3); err == nil || !strings.Contains(err.Error(), "cut back") {
		t.Errorf("VerifyAnchor past the cut: %v", err)
	}
}

// TestReplicasMoveCachedHeads has two replicas append and queue in turn
// and then at once: each starts its batches from the heads its own last
// commit left, which the other has moved, so its write-back or its insert
// fails, and it runs the batch again on locked heads. The chain stays
// one, the outbox has no gap, and every write committed once.
func TestReplicasMoveCachedHeads(t *testing.T) {
	dsn, _ := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	appendOn := func(db *DB, i int) error {
		ev := approvals.Event{Time: at.Add(time.Duration(i) * time.Second), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, Detail: fmt.Sprint(i)}
		return db.AppendEvent(ctx, ev, approvals.Notice{At: ev.Time, Event: &ev})
	}
	const turns, burst = 6, 40
	n := 0
	for i := range turns {
		db := a
		if i%2 == 1 {
			db = b
		}
		if err := appendOn(db, n); err != nil {
			t.Fatal(err)
		}
		n++
	}
	var wg sync.WaitGroup
	for i := range burst {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			if err := appendOn(db, turns+i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n += burst
	res, err := b.Verify(ctx)
	if err != nil || res.Count != uint64(n) {
		t.Fatalf("Verify: %+v, %v; want %d records", res, err, n)
	}
	seen := map[string]bool{}
	if err := a.Events(ctx, func(ev approvals.Event) error {
		if seen[ev.Detail] {
			t.Errorf("event %s appended twice", ev.Detail)
		}
		seen[ev.Detail] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ns, err := a.Notices(ctx, 0, 2*n)
	if err != nil || len(ns) != n {
		t.Fatalf("%d notices, %v; want %d", len(ns), err, n)
	}
	for i, no := range ns {
		if no.Seq != uint64(i+1) {
			t.Fatalf("notice %d has seq %d: the outbox has a gap", i, no.Seq)
		}
	}
}

// TestKeyedChain chains the audit log with HMAC-SHA-256 under an audit
// key, rotates the key, and checks what the bbolt store checks: Verify
// and VerifyAnchor pass with the keys, a store without the key is
// refused, and a chain recomputed from some record on without the key is
// caught.
func TestKeyedChain(t *testing.T) {
	dsn, schema := newSchema(t)
	ctx := context.Background()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	appendN := func(db *DB, from, n int) {
		for i := range n {
			ev := approvals.Event{Time: at.Add(time.Duration(from+i) * time.Minute), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}
			if err := db.AppendEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, err := Open(ctx, dsn, AuditKeys(k1))
	if err != nil {
		t.Fatal(err)
	}
	appendN(db, 0, 2)
	db.Close()
	if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("Open of a keyed log without the key: %v", err)
	}
	if _, err := Open(ctx, dsn, AuditKeys(k2)); err == nil || !strings.Contains(err.Error(), "not among the keys given") {
		t.Errorf("Open of a keyed log with another key only: %v", err)
	}
	if _, err := Open(ctx, dsn, AuditKeys(k1[:8])); err == nil {
		t.Error("Open with a key of 8 bytes: no error")
	}
	db = open(t, dsn, AuditKeys(k2, k1)) // rotated
	appendN(db, 2, 2)
	res, err := db.Verify(ctx)
	if err != nil || res.Count != 4 || res.KeyedFrom != 1 {
		t.Fatalf("Verify = %+v, %v; want 4 records keyed from 1", res, err)
	}
	if err := db.VerifyAnchor(ctx, res.Head, res.Count); err != nil {
		t.Errorf("VerifyAnchor: %v", err)
	}
	// The records are the bbolt store's: its verifier, with the keys,
	// passes them, and without them refuses the first.
	chain, err := store.NewAuditChain(store.Options{AuditKey: k2, AuditKeys: [][]byte{k1}})
	if err != nil {
		t.Fatal(err)
	}
	vf := chain.Verifier()
	if err := db.AuditRecords(ctx, vf.Check); err != nil || vf.Result() != res {
		t.Errorf("store verifier with the keys: %+v, %v; want %+v", vf.Result(), err, res)
	}
	if err := db.AuditRecords(ctx, store.NewAuditVerifier().Check); err == nil || !strings.Contains(err.Error(), "audit record 1 is keyed") {
		t.Errorf("store verifier without the keys: %v", err)
	}

	// Recompute records 3 and 4, and the head, with plain SHA-256.
	conn := admin(t)
	var prev string
	for seq := uint64(1); seq <= 4; seq++ {
		var v []byte
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT record FROM %s.audit WHERE seq = $1`, schema), int64(seq)).Scan(&v); err != nil {
			t.Fatal(err)
		}
		ev, err := store.DecodeAuditRecord(seq, v)
		if err != nil {
			t.Fatal(err)
		}
		if seq <= 2 {
			prev = ev.Hash
			continue
		}
		v, prev, err = store.EncodeAuditRecord(ev, prev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(`UPDATE %s.audit SET record = $2 WHERE seq = $1`, schema), int64(seq), v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`UPDATE %s.audit_head SET hash = $1`, schema), prev); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Verify(ctx); err == nil || !strings.Contains(err.Error(), "audit record 3 is not keyed, but record 2 before it is") {
		t.Errorf("Verify of a chain recomputed without the key: %v", err)
	}
}
