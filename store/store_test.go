package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// t0 is the tests' "now": every instant is derived from it.
var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// mustOpen opens a new database file under tb.TempDir and closes it when the
// test ends.
func mustOpen(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "accessbot.db"))
}

func mustOpenPath(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// reopen closes db and opens its file again, as a restart would.
func reopen(tb testing.TB, db *DB) *DB {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return mustOpenPath(tb, db.path)
}

// tamper closes db, changes its file with bbolt directly (as someone with
// write access to the file could), and reopens it.
func tamper(tb testing.TB, db *DB, fn func(tx *bbolt.Tx) error) *DB {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	editFile(tb, db.path, fn)
	return mustOpenPath(tb, db.path)
}

// editFile changes the bbolt file at path in one transaction.
func editFile(tb testing.TB, path string, fn func(tx *bbolt.Tx) error) {
	tb.Helper()
	raw, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("bbolt.Open: %v", err)
	}
	if err := raw.Update(fn); err != nil {
		tb.Fatalf("edit %s: %v", path, err)
	}
	if err := raw.Close(); err != nil {
		tb.Fatalf("bbolt Close: %v", err)
	}
}

func newRequest(id, requester, resource string) *approvals.Request {
	return &approvals.Request{
		ID:        id,
		Requester: requester,
		Resource:  resource,
		Provider:  "github",
		Identity:  strings.ToLower(requester),
		Duration:  time.Hour,
		Reason:    "INC-1 hotfix",
		Settings:  json.RawMessage(`{"org":"acme"}`),
		Required:  1,
		Status:    approvals.StatusPending,
		CreatedAt: t0,
	}
}

func eventOf(r *approvals.Request, action string, at time.Time) approvals.Event {
	return approvals.Event{
		Time: at, Action: action, Actor: r.Requester, RequestID: r.ID,
		Resource: r.Resource, Requester: r.Requester, Outcome: string(r.Status),
	}
}

func mustCreate(tb testing.TB, db *DB, r *approvals.Request) {
	tb.Helper()
	if err := db.CreateRequest(context.Background(), r, eventOf(r, approvals.ActionRequested, r.CreatedAt)); err != nil {
		tb.Fatalf("CreateRequest %s: %v", r.ID, err)
	}
}

// mustUpdate changes request id with change and appends one event.
func mustUpdate(tb testing.TB, db *DB, id string, change func(r *approvals.Request)) *approvals.Request {
	tb.Helper()
	r, err := db.UpdateRequest(context.Background(), id, func(r *approvals.Request) ([]approvals.Event, error) {
		change(r)
		return []approvals.Event{eventOf(r, "update", t0)}, nil
	})
	if err != nil {
		tb.Fatalf("UpdateRequest %s: %v", id, err)
	}
	return r
}

// mustGrant creates request id and makes it active from granted for d.
func mustGrant(tb testing.TB, db *DB, id, requester, resource string, granted time.Time, d time.Duration) {
	tb.Helper()
	mustCreate(tb, db, newRequest(id, requester, resource))
	mustUpdate(tb, db, id, func(r *approvals.Request) {
		r.Status = approvals.StatusActive
		r.GrantedAt = granted
		r.ExpiresAt = granted.Add(d)
	})
}

func ids(rs []*approvals.Request) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, ",")
}

func jsonOf(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// keys returns the keys of bucket name, as strings.
func keys(tb testing.TB, db *DB, name []byte) []string {
	tb.Helper()
	var out []string
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(name).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func allEvents(tb testing.TB, db *DB) []approvals.Event {
	tb.Helper()
	var evs []approvals.Event
	if err := db.Events(context.Background(), func(ev approvals.Event) error {
		evs = append(evs, ev)
		return nil
	}); err != nil {
		tb.Fatalf("Events: %v", err)
	}
	return evs
}

func mustVerify(tb testing.TB, db *DB) VerifyResult {
	tb.Helper()
	res, err := db.Verify(context.Background())
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return res
}

func TestOpenCreatesSchema(t *testing.T) {
	db := mustOpen(t)
	fi, err := os.Stat(db.path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %o, want 600", mode)
	}
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); string(v) != "4" {
			t.Errorf("meta/schema = %q, want 4", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenLockedFailsFast(t *testing.T) {
	db := mustOpen(t)
	start := time.Now()
	second, err := Open(db.path)
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if elapsed > 2*time.Second {
		t.Errorf("second Open took %s, want under 2s", elapsed)
	}
	if msg := err.Error(); !strings.Contains(msg, "locked") || !strings.Contains(msg, "accessbot serve") || !strings.Contains(msg, db.path) {
		t.Errorf("error = %q, want it to name the file, say it is locked and suggest a running accessbot serve", msg)
	}
}

func TestOpenRefusesUnknownSchema(t *testing.T) {
	db := mustOpen(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, db.path, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("5"))
	})
	_, err := Open(db.path)
	if err == nil || !strings.Contains(err.Error(), `schema version "5"`) {
		t.Fatalf("Open of a version 5 file: err = %v, want an unsupported schema version", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()

	foreign := filepath.Join(dir, "other.db")
	raw, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("kubernetes"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(foreign); err == nil || !strings.Contains(err.Error(), "not an accessbot database") {
		t.Errorf("Open of another program's bbolt file: err = %v", err)
	}

	text := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(text, bytes.Repeat([]byte("admins: [U0ADMIN]\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(text); err == nil || !strings.Contains(err.Error(), "open bolt "+text) {
		t.Errorf("Open of a text file: err = %v", err)
	}
}

func TestCreateAndRead(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	// Every field set, so a field the encoding drops shows up here.
	r := &approvals.Request{
		ID: "ar-full", Requester: "U0ALICE", Resource: "payments-admin", Provider: "github",
		Identity: "alice-gh", Duration: 2 * time.Hour, Reason: "INC-4211 hotfix",
		Settings: json.RawMessage(`{"org":"acme","team":"payments-admins"}`), Required: 2,
		Status: approvals.StatusActive, CreatedAt: t0,
		Approvals: []approvals.Approval{{Approver: "U0BOB", At: t0.Add(time.Minute)}, {Approver: "U0CAROL", At: t0.Add(2 * time.Minute)}},
		DecidedBy: "U0CAROL", DecidedAt: t0.Add(2 * time.Minute),
		GrantedAt: t0.Add(3 * time.Minute), ExpiresAt: t0.Add(2*time.Hour + 3*time.Minute), GrantNote: "invitation sent",
		RevokeRequestedBy: "U0ADMIN", RevokeRequestedAt: t0.Add(time.Hour), RevokeRetryAt: t0.Add(time.Hour + time.Minute),
		RevokeFailures: 1, LastError: "502", EndedAt: t0.Add(3 * time.Hour), EndedBy: "U0ADMIN",
		Messages: []approvals.MessageRef{{ChannelID: "C0APPROVALS", TS: "1700000000.000100"}},
	}
	if err := db.CreateRequest(ctx, r, eventOf(r, approvals.ActionRequested, t0)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, got), jsonOf(t, r); g != w {
		t.Errorf("stored request differs:\n got %s\nwant %s", g, w)
	}

	bare := newRequest("ar-bare", "U0BOB", "db")
	bare.Settings = nil
	mustCreate(t, db, bare)
	if got, _ := db.Request(ctx, "ar-bare"); got.Settings != nil {
		t.Errorf("nil settings came back as %q", got.Settings)
	}

	_, err = db.Request(ctx, "ar-nope")
	if code := approvals.ErrorCode(err); code != approvals.ENOTFOUND {
		t.Errorf("Request of a missing id: code %q (err %v), want %q", code, err, approvals.ENOTFOUND)
	}
}

func TestCreateRefusesSecondOpenRequest(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))

	dup := newRequest("ar-2", "U0ALICE", "db")
	err := db.CreateRequest(ctx, dup, eventOf(dup, approvals.ActionRequested, t0))
	if code := approvals.ErrorCode(err); code != approvals.ECONFLICT {
		t.Fatalf("second request: code %q (err %v), want conflict", code, err)
	}
	want := "you already have request ar-1 open for db (pending); wait for it or revoke it"
	if msg := approvals.ErrorMessage(err); msg != want {
		t.Errorf("message = %q, want %q", msg, want)
	}
	if _, err := db.Request(ctx, "ar-2"); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Errorf("refused request was stored: %v", err)
	}
	if n := len(allEvents(t, db)); n != 1 {
		t.Errorf("%d audit events after a refused request, want 1", n)
	}

	// Other resources and other people are independent; the requester
	// "U0ALICE2" shares a prefix with "U0ALICE", which the NUL separator
	// keeps apart.
	mustCreate(t, db, newRequest("ar-3", "U0ALICE", "db2"))
	mustCreate(t, db, newRequest("ar-4", "U0ALICE2", "db"))
	mustCreate(t, db, newRequest("ar-5", "U0BOB", "db"))

	// An active grant blocks as well, and says until when.
	mustUpdate(t, db, "ar-1", func(r *approvals.Request) {
		r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, t0, t0.Add(time.Hour)
	})
	err = db.CreateRequest(ctx, dup, eventOf(dup, approvals.ActionRequested, t0))
	if msg := approvals.ErrorMessage(err); !strings.Contains(msg, "(active until 2026-11-22 10:00 UTC)") {
		t.Errorf("conflict with an active grant: %q", msg)
	}

	bad := newRequest("ar-6", "U0\x00EVE", "db")
	if err := db.CreateRequest(ctx, bad, eventOf(bad, approvals.ActionRequested, t0)); approvals.ErrorCode(err) != approvals.EINVALID {
		t.Errorf("NUL in requester: %v, want invalid", err)
	}
	if err := db.CreateRequest(ctx, newRequest("ar-1", "U0DAN", "x"), approvals.Event{}); err == nil {
		t.Error("CreateRequest reused an existing id")
	}
}

func TestFinalStatesClearOpenIndex(t *testing.T) {
	ctx := context.Background()
	for _, status := range []approvals.Status{
		approvals.StatusDenied, approvals.StatusCancelled, approvals.StatusAlreadyHeld,
		approvals.StatusFailed, approvals.StatusExpired, approvals.StatusRevoked,
	} {
		t.Run(string(status), func(t *testing.T) {
			db := mustOpen(t)
			mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))
			for _, s := range []approvals.Status{approvals.StatusApproved, approvals.StatusGranting} {
				mustUpdate(t, db, "ar-1", func(r *approvals.Request) { r.Status = s })
				if got, _ := db.OpenRequests(ctx, "U0ALICE"); ids(got) != "ar-1" {
					t.Fatalf("%s request not open: %q", s, ids(got))
				}
			}
			mustUpdate(t, db, "ar-1", func(r *approvals.Request) { r.Status, r.EndedAt = status, t0 })
			got, err := db.OpenRequests(ctx, "")
			if err != nil || len(got) != 0 {
				t.Fatalf("OpenRequests after %s = %q, %v; want none", status, ids(got), err)
			}
			if k := keys(t, db, bucketOpen); len(k) != 0 {
				t.Errorf("open index keeps %q", k)
			}
			mustCreate(t, db, newRequest("ar-2", "U0ALICE", "db"))
		})
	}
}

func TestOpenRequestsOldestFirst(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	for i, spec := range []struct{ id, user, res string }{
		{"ar-c", "U0ALICE", "db"}, {"ar-a", "U0BOB", "db"}, {"ar-b", "U0ALICE", "repo"}, {"ar-d", "U0ALICE2", "db"},
	} {
		r := newRequest(spec.id, spec.user, spec.res)
		r.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		mustCreate(t, db, r)
	}
	mustCreate(t, db, newRequest("ar-old", "U0CAROL", "db"))
	mustUpdate(t, db, "ar-old", func(r *approvals.Request) { r.Status = approvals.StatusDenied })

	for _, tc := range []struct{ requester, want string }{
		{"", "ar-c,ar-a,ar-b,ar-d"},
		{"U0ALICE", "ar-c,ar-b"},
		{"U0ALICE2", "ar-d"},
		{"U0CAROL", ""},
		{"U0NOBODY", ""},
	} {
		got, err := db.OpenRequests(ctx, tc.requester)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != tc.want {
			t.Errorf("OpenRequests(%q) = %q, want %q", tc.requester, ids(got), tc.want)
		}
	}
}

var errMovedOn = errors.New("request already moved on")

func TestUpdateRequest(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))

	// An error from fn writes nothing and comes back as it is.
	_, err := db.UpdateRequest(ctx, "ar-1", func(r *approvals.Request) ([]approvals.Event, error) {
		r.Status = approvals.StatusApproved
		return nil, errMovedOn
	})
	if err != errMovedOn {
		t.Errorf("fn error came back as %v", err)
	}
	if r, _ := db.Request(ctx, "ar-1"); r.Status != approvals.StatusPending {
		t.Errorf("status = %s after a failed update, want pending", r.Status)
	}

	_, err = db.UpdateRequest(ctx, "ar-nope", func(r *approvals.Request) ([]approvals.Event, error) {
		t.Error("fn called for a missing request")
		return nil, nil
	})
	if approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Errorf("update of a missing request: %v", err)
	}

	_, err = db.UpdateRequest(ctx, "ar-1", func(r *approvals.Request) ([]approvals.Event, error) {
		r.ID = "ar-2"
		return nil, nil
	})
	if err == nil || approvals.ErrorCode(err) != approvals.EINTERNAL {
		t.Errorf("update changing the id: %v, want an internal error", err)
	}
	if _, err := db.Request(ctx, "ar-2"); approvals.ErrorCode(err) != approvals.ENOTFOUND {
		t.Errorf("id change was stored")
	}

	var seen *approvals.Request
	got, err := db.UpdateRequest(ctx, "ar-1", func(r *approvals.Request) ([]approvals.Event, error) {
		seen = r
		r.Approvals = append(r.Approvals, approvals.Approval{Approver: "U0BOB", At: t0})
		r.Status = approvals.StatusApproved
		return []approvals.Event{eventOf(r, approvals.ActionApproved, t0), eventOf(r, "second", t0)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := db.Request(ctx, "ar-1")
	if jsonOf(t, got) != jsonOf(t, stored) || stored.Status != approvals.StatusApproved {
		t.Errorf("returned %s, stored %s", jsonOf(t, got), jsonOf(t, stored))
	}
	seen.Approvals[0].Approver = "U0MALLORY" // the caller's copy is not the store's
	if stored, _ := db.Request(ctx, "ar-1"); stored.Approvals[0].Approver != "U0BOB" || got.Approvals[0].Approver != "U0BOB" {
		t.Error("fn's request aliases the stored or returned one")
	}
	evs := allEvents(t, db)
	if len(evs) != 3 || evs[1].Action != approvals.ActionApproved || evs[2].Action != "second" {
		t.Errorf("events = %+v, want requested, approved, second", evs)
	}
}

func TestDueRevokesFollowsTheIndex(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustGrant(t, db, "ar-soon", "U0A", "db", t0, 10*time.Minute) // due t0+10m
	mustGrant(t, db, "ar-late", "U0B", "db", t0, 2*time.Hour)    // due t0+2h
	mustGrant(t, db, "ar-early", "U0C", "db", t0, 5*time.Minute) // due t0+5m
	mustGrant(t, db, "ar-asked", "U0D", "db", t0, 3*time.Hour)   // revoke requested below
	mustGrant(t, db, "ar-retry", "U0E", "db", t0, 1*time.Minute) // revoke failed below
	mustGrant(t, db, "ar-done", "U0F", "db", t0, 1*time.Minute)  // ended below
	mustCreate(t, db, newRequest("ar-pending", "U0G", "db"))     // never due
	mustUpdate(t, db, "ar-asked", func(r *approvals.Request) {   // early revoke: due at once
		r.RevokeRequestedBy, r.RevokeRequestedAt = "U0ADMIN", t0.Add(time.Minute)
	})
	mustUpdate(t, db, "ar-retry", func(r *approvals.Request) { // retry in an hour
		r.RevokeFailures, r.RevokeRetryAt = 1, t0.Add(time.Hour)
	})
	mustUpdate(t, db, "ar-done", func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusExpired, t0.Add(time.Minute), approvals.SystemActor
	})

	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{t0, ""},
		{t0.Add(time.Minute), "ar-asked"},
		{t0.Add(5 * time.Minute), "ar-asked,ar-early"},
		{t0.Add(10 * time.Minute), "ar-asked,ar-early,ar-soon"},
		{t0.Add(time.Hour), "ar-asked,ar-early,ar-soon,ar-retry"},
		{t0.Add(5 * time.Hour), "ar-asked,ar-early,ar-soon,ar-retry,ar-late"},
	} {
		got, err := db.DueRevokes(ctx, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != tc.want {
			t.Errorf("DueRevokes(t0+%s) = %q, want %q", tc.now.Sub(t0), ids(got), tc.want)
		}
	}
	if n := len(keys(t, db, bucketRevokes)); n != 5 {
		t.Errorf("revoke index has %d keys, want one per active grant (5)", n)
	}

	// A successful revoke ends the grant and drops it from the index.
	mustUpdate(t, db, "ar-asked", func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusRevoked, t0.Add(2*time.Minute), "U0ADMIN"
	})
	if got, _ := db.DueRevokes(ctx, t0.Add(5*time.Minute)); ids(got) != "ar-early" {
		t.Errorf("after the revoke: due = %q, want ar-early", ids(got))
	}
}

func TestReopenKeepsStateAndIndexes(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustGrant(t, db, "ar-1", "U0ALICE", "db", t0, time.Hour)
	mustCreate(t, db, newRequest("ar-2", "U0BOB", "db"))
	before := mustVerify(t, db)

	db = reopen(t, db)

	if r, err := db.Request(ctx, "ar-1"); err != nil || r.Status != approvals.StatusActive || !r.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
	// The bot was down past the expiry: the first sweep finds it.
	if due, _ := db.DueRevokes(ctx, t0.Add(2*time.Hour)); ids(due) != "ar-1" {
		t.Errorf("due after reopen = %q, want ar-1", ids(due))
	}
	if open, _ := db.OpenRequests(ctx, ""); ids(open) != "ar-1,ar-2" {
		t.Errorf("open after reopen = %q", ids(open))
	}
	if err := db.CreateRequest(ctx, newRequest("ar-3", "U0BOB", "db"), approvals.Event{}); approvals.ErrorCode(err) != approvals.ECONFLICT {
		t.Errorf("open index lost on reopen: %v", err)
	}
	if after := mustVerify(t, db); after != before {
		t.Errorf("verify after reopen = %+v, before %+v", after, before)
	}
	mustUpdate(t, db, "ar-2", func(r *approvals.Request) { r.Status = approvals.StatusDenied })
	if res := mustVerify(t, db); res.Count != before.Count+1 {
		t.Errorf("chain did not continue after reopen: %+v", res)
	}
}

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	if res := mustVerify(t, db); res != (VerifyResult{}) {
		t.Errorf("empty log: %+v", res)
	}
	paris := time.FixedZone("CET", 3600)
	r := newRequest("ar-1", "U0ALICE", "db")
	r.Reason = "bad utf-8: \xff\xfe, kept verbatim-ish"
	ev := eventOf(r, approvals.ActionRequested, t0.In(paris))
	ev.Reason = r.Reason
	ev.ExpiresAt = t0.Add(time.Hour).In(paris)
	ev.Seq, ev.Hash, ev.PrevHash = 99, "forged", "forged" // the store assigns these
	if err := db.CreateRequest(ctx, r, ev); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, "ar-1", func(r *approvals.Request) { r.Status = approvals.StatusApproved })
	if err := db.AppendEvent(ctx, approvals.Event{Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, PolicyHash: "abc"}); err != nil {
		t.Fatal(err)
	}

	evs := allEvents(t, db)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	prev := ""
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.PrevHash != prev || ev.Hash != ev.ChainHash(prev) || len(ev.Hash) != 64 {
			t.Errorf("event %d: seq %d prev %q hash %q; want seq %d chained to %q", i, ev.Seq, ev.PrevHash, ev.Hash, i+1, prev)
		}
		if ev.Time.Location() != time.UTC {
			t.Errorf("event %d time %v is not UTC", i, ev.Time)
		}
		prev = ev.Hash
	}
	if !evs[0].Time.Equal(t0) || !evs[0].ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("instants changed: %v, %v", evs[0].Time, evs[0].ExpiresAt)
	}
	if evs[2].Time.IsZero() {
		t.Error("an event without a time was not stamped")
	}
	res := mustVerify(t, db)
	if res.Count != 3 || res.Head != prev || res.Anchor() != fmt.Sprintf("%s@3", prev) {
		t.Errorf("Verify = %+v (anchor %s), want 3 records ending in %s", res, res.Anchor(), prev)
	}
}

func TestEventsBetween(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	for i := range 5 {
		if err := db.AppendEvent(ctx, approvals.Event{Time: t0.Add(time.Duration(i) * time.Hour), Action: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		since, until time.Time
		want         string
	}{
		{time.Time{}, time.Time{}, "01234"},
		{t0.Add(time.Hour), time.Time{}, "1234"},
		{time.Time{}, t0.Add(2 * time.Hour), "01"},
		{t0.Add(time.Hour), t0.Add(3 * time.Hour), "12"},
		{t0.Add(30 * time.Minute), t0.Add(90 * time.Minute), "1"},
		{t0.Add(9 * time.Hour), time.Time{}, ""},
	} {
		got := ""
		if err := db.EventsBetween(ctx, tc.since, tc.until, func(ev approvals.Event) error {
			got += ev.Action
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("EventsBetween(%v, %v) = %q, want %q", tc.since, tc.until, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := db.Events(ctx, func(approvals.Event) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Events did not stop at fn's error: %v after %d", err, n)
	}
}

// TestLongWalksCrossBatches reads more records than one read transaction
// takes, to exercise resuming after the last key of a batch.
func TestLongWalksCrossBatches(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	const n = 2*batchSize + 7
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			r := newRequest(fmt.Sprintf("ar-%05d", i), fmt.Sprintf("U%05d", i), "db")
			if err := putRequest(tx, r); err != nil {
				return err
			}
			if err := reindex(tx, nil, r); err != nil {
				return err
			}
			if err := db.appendEvents(tx, eventOf(r, approvals.ActionRequested, t0)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	if err := db.Events(ctx, func(ev approvals.Event) error {
		if seq++; ev.Seq != seq {
			return fmt.Errorf("event %d has seq %d", seq, ev.Seq)
		}
		return nil
	}); err != nil || seq != n {
		t.Errorf("Events: %v after %d events, want %d", err, seq, n)
	}
	i := 0
	if err := db.AllRequests(ctx, func(r *approvals.Request) error {
		if want := fmt.Sprintf("ar-%05d", i); r.ID != want {
			return fmt.Errorf("request %d is %s, want %s", i, r.ID, want)
		}
		i++
		return nil
	}); err != nil || i != n {
		t.Errorf("AllRequests: %v after %d requests, want %d", err, i, n)
	}
	if res := mustVerify(t, db); res.Count != n {
		t.Errorf("Verify counted %d, want %d", res.Count, n)
	}
}

// TestVerifyDetectsTampering edits the file behind the store's back, the
// way someone with write access to it could, and expects Verify to name the
// first record that no longer fits.
func TestVerifyDetectsTampering(t *testing.T) {
	get := func(tx *bbolt.Tx, seq uint64) approvals.Event {
		ev, err := decodeEvent(seqKey(seq), tx.Bucket(bucketAudit).Get(seqKey(seq)))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	// put stores ev, with the hash it carries, in the format of the
	// record it replaces (the current one for a new key).
	put := func(tx *bbolt.Tx, key uint64, ev approvals.Event) error {
		b := tx.Bucket(bucketAudit)
		v, err := storedValue(ev, isLegacy(b.Get(seqKey(key))))
		if err != nil {
			return err
		}
		return b.Put(seqKey(key), v)
	}
	for _, tc := range []struct {
		name   string
		tamper func(tx *bbolt.Tx) error
		want   string
		// wantNew, when set, replaces want when record 5 is in the
		// current format.
		wantNew string
	}{{
		name: "changed field",
		tamper: func(tx *bbolt.Tx) error {
			ev := get(tx, 5)
			ev.Actor = "U0MALLORY"
			return put(tx, 5, ev)
		},
		want: "audit record 5: hash mismatch (changed or reordered)",
	}, {
		name: "changed field with its own hash recomputed",
		tamper: func(tx *bbolt.Tx) error {
			ev := get(tx, 5)
			ev.Approvers = []string{"U0MALLORY"}
			ev.Hash = ev.ChainHash(ev.PrevHash)
			return put(tx, 5, ev)
		},
		want: "audit record 6: previous hash does not match record 5",
	}, {
		name: "unknown field added",
		tamper: func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			v := bytes.Replace(b.Get(seqKey(5)), []byte(`"action":`), []byte(`"note":"nothing happened","action":`), 1)
			return b.Put(seqKey(5), v)
		},
		want:    "audit record 5: stored bytes are not the encoding of the event (changed)",
		wantNew: "audit record 5: hash mismatch (changed or reordered)",
	}, {
		name: "unreadable",
		tamper: func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketAudit).Put(seqKey(5), []byte("{"))
		},
		want: "audit record 5: unreadable (changed)",
	}, {
		name: "cut short",
		tamper: func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			v := b.Get(seqKey(5))
			return b.Put(seqKey(5), bytes.Clone(v[:len(v)/2]))
		},
		want: "audit record 5: unreadable (changed)",
	}, {
		name: "unknown format",
		tamper: func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketAudit).Put(seqKey(5), []byte{0x7f, 1, 2, 3})
		},
		want: "audit record 5: unreadable (changed): unknown record format 0x7f",
	}, {
		name:   "removed record",
		tamper: func(tx *bbolt.Tx) error { return tx.Bucket(bucketAudit).Delete(seqKey(4)) },
		want:   "audit record 5: sequence gap, record 4 missing (removed)",
	}, {
		name: "removed records",
		tamper: func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			return errors.Join(b.Delete(seqKey(4)), b.Delete(seqKey(5)))
		},
		want: "audit record 6: sequence gap, records 4 to 5 missing (removed)",
	}, {
		name:   "removed first record",
		tamper: func(tx *bbolt.Tx) error { return tx.Bucket(bucketAudit).Delete(seqKey(1)) },
		want:   "audit record 2: sequence gap, record 1 missing (removed)",
	}, {
		name:   "removed last record",
		tamper: func(tx *bbolt.Tx) error { return tx.Bucket(bucketAudit).Delete(seqKey(10)) },
		want:   "audit log ends at record 9 but the store's head is record 10",
	}, {
		name: "removed last record and head rewritten",
		tamper: func(tx *bbolt.Tx) error {
			return errors.Join(tx.Bucket(bucketAudit).Delete(seqKey(10)), writeHead(tx, auditHead{9, get(tx, 9).Hash}))
		},
		want: "audit log ends at record 9 but its sequence counter is at 10",
	}, {
		name: "swapped records",
		tamper: func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			v3, v4 := bytes.Clone(b.Get(seqKey(3))), bytes.Clone(b.Get(seqKey(4)))
			return errors.Join(b.Put(seqKey(3), v4), b.Put(seqKey(4), v3))
		},
		want: "audit record 3: holds record 4 (reordered or inserted)",
	}, {
		name: "swapped records, renumbered",
		tamper: func(tx *bbolt.Tx) error {
			e3, e4 := get(tx, 3), get(tx, 4)
			e3.Seq, e4.Seq = 4, 3
			return errors.Join(put(tx, 3, e4), put(tx, 4, e3))
		},
		want: "audit record 3: previous hash does not match record 2",
	}, {
		name: "swapped records, renumbered and relinked",
		tamper: func(tx *bbolt.Tx) error {
			e3, e4 := get(tx, 3), get(tx, 4)
			e3.Seq, e4.Seq = 4, 3
			e4.PrevHash, e3.PrevHash = e3.PrevHash, e4.Hash
			return errors.Join(put(tx, 3, e4), put(tx, 4, e3))
		},
		want: "audit record 3: hash mismatch (changed or reordered)",
	}, {
		name: "inserted record, later ones shifted",
		tamper: func(tx *bbolt.Tx) error {
			// A forged record 5 that chains correctly onto record 4; the
			// old 5..10 move up a key and are renumbered, but their hashes
			// cannot be fixed without rewriting the rest of the chain.
			for seq := uint64(10); seq >= 5; seq-- {
				ev := get(tx, seq)
				ev.Seq = seq + 1
				if err := put(tx, seq+1, ev); err != nil {
					return err
				}
			}
			forged := approvals.Event{Seq: 5, Time: t0, Action: approvals.ActionApproved, Actor: "U0MALLORY", PrevHash: get(tx, 4).Hash}
			forged.Hash = forged.ChainHash(forged.PrevHash)
			return put(tx, 5, forged)
		},
		want: "audit record 6: previous hash does not match record 5",
	}, {
		name: "inserted record at the end",
		tamper: func(tx *bbolt.Tx) error {
			forged := approvals.Event{Seq: 11, Time: t0, Action: approvals.ActionApproved, Actor: "U0MALLORY", PrevHash: get(tx, 10).Hash}
			forged.Hash = forged.ChainHash(forged.PrevHash)
			return put(tx, 11, forged)
		},
		want: "audit log ends at record 11 but the store's head is record 10",
	}, {
		name: "inserted odd key",
		tamper: func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketAudit).Put(append(seqKey(4), 'x'), []byte(`{}`))
		},
		want: "audit key 0000000000000004" + "78 after record 4: not an 8-byte sequence number (inserted)",
	}, {
		name: "inserted record 0",
		tamper: func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketAudit).Put(seqKey(0), []byte(`{}`))
		},
		want: "audit record 0: sequence numbers start at 1 (inserted)",
	}} {
		// Each tampering is tried on a log in the current format, one of
		// schema 1 and one that has both: records 1 to 5 written by schema
		// 1, then 6 to 10 after the migration.
		for _, legacy := range []int{0, 10, 5} {
			t.Run(fmt.Sprintf("%s/schema-1-records=%d", tc.name, legacy), func(t *testing.T) {
				db := mustOpenWithLegacy(t, legacy, 10, func(i int) approvals.Event {
					return approvals.Event{Time: t0.Add(time.Duration(i) * time.Minute), Action: approvals.ActionApproval, Actor: fmt.Sprintf("U%d", i)}
				})
				mustVerify(t, db)
				db = tamper(t, db, tc.tamper)
				_, err := db.Verify(context.Background())
				if err == nil {
					t.Fatalf("Verify passed a log with a %s", tc.name)
				}
				want := tc.want
				if tc.wantNew != "" && legacy < 5 {
					want = tc.wantNew
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Verify = %q, want it to contain %q", err, want)
				}
			})
		}
	}
}

func TestVerifyAnchorCatchesRegrownLog(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	appendN := func(from, n int, actor string) {
		for i := from; i < from+n; i++ {
			if err := db.AppendEvent(ctx, approvals.Event{Time: t0.Add(time.Duration(i) * time.Minute), Action: "x", Actor: actor}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(0, 10, "U0ALICE")
	anchor := mustVerify(t, db)
	if err := db.VerifyAnchor(ctx, anchor.Head, anchor.Count); err != nil {
		t.Fatalf("VerifyAnchor of the current head: %v", err)
	}
	appendN(10, 2, "U0ALICE")
	if err := db.VerifyAnchor(ctx, anchor.Head, anchor.Count); err != nil {
		t.Fatalf("VerifyAnchor after appending: %v", err)
	}
	if err := db.VerifyAnchor(ctx, anchor.Head, 0); approvals.ErrorCode(err) != approvals.EINVALID {
		t.Errorf("anchor at record 0: %v", err)
	}

	// Cut back to 6 records, leaving a consistent head and counter, then
	// grow past the anchor again: the chain is intact, the anchor is not.
	db = tamper(t, db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		for seq := uint64(7); seq <= 12; seq++ {
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		last, err := decodeEvent(seqKey(6), b.Get(seqKey(6)))
		if err != nil {
			return err
		}
		return errors.Join(b.SetSequence(6), writeHead(tx, auditHead{6, last.Hash}))
	})
	err := db.VerifyAnchor(ctx, anchor.Head, anchor.Count)
	if err == nil || !strings.Contains(err.Error(), "audit record 10 is missing: the log ends at record 6") {
		t.Errorf("VerifyAnchor of a cut-back log: %v", err)
	}
	appendN(6, 6, "U0MALLORY")
	if res := mustVerify(t, db); res.Count != 12 {
		t.Fatalf("regrown log: %+v", res)
	}
	err = db.VerifyAnchor(ctx, anchor.Head, anchor.Count)
	if err == nil || !strings.Contains(err.Error(), "audit record 10 has hash") {
		t.Errorf("VerifyAnchor of a regrown log: %v", err)
	}
}

func TestHoldersAt(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustGrant(t, db, "ar-alice", "U0ALICE", "db", t0, time.Hour)                 // t0 .. t0+1h
	mustGrant(t, db, "ar-bob", "U0BOB", "db", t0.Add(30*time.Minute), time.Hour) // ended early below
	mustGrant(t, db, "ar-carol", "U0CAROL", "db2", t0, time.Hour)                // another resource, sharing a prefix
	mustCreate(t, db, newRequest("ar-dan", "U0DAN", "db"))                       // never granted
	mustUpdate(t, db, "ar-bob", func(r *approvals.Request) {
		r.RevokeRequestedBy, r.RevokeRequestedAt = "U0ADMIN", t0.Add(40*time.Minute)
	})
	mustUpdate(t, db, "ar-bob", func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusRevoked, t0.Add(45*time.Minute), "U0ADMIN"
	})
	mustUpdate(t, db, "ar-alice", func(r *approvals.Request) {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusExpired, t0.Add(time.Hour), approvals.SystemActor
	})

	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{-time.Minute, ""},
		{0, "ar-alice"},
		{30 * time.Minute, "ar-alice,ar-bob"},
		{44 * time.Minute, "ar-alice,ar-bob"},
		{45 * time.Minute, "ar-alice"}, // bob's grant ended early
		{time.Hour - 1, "ar-alice"},
		{time.Hour, ""},
		{24 * time.Hour, ""},
	} {
		got, err := db.HoldersAt(ctx, "db", t0.Add(tc.at))
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != tc.want {
			t.Errorf("HoldersAt(db, t0+%s) = %q, want %q", tc.at, ids(got), tc.want)
		}
	}
	if got, _ := db.HoldersAt(ctx, "db2", t0); ids(got) != "ar-carol" {
		t.Errorf("HoldersAt(db2) = %q", ids(got))
	}
	if got, _ := db.HoldersAt(ctx, "d", t0); len(got) != 0 {
		t.Errorf("HoldersAt(d) = %q", ids(got))
	}
	if n := len(keys(t, db, bucketGrants)); n != 3 {
		t.Errorf("grant index has %d keys, want 3: ended grants stay as history", n)
	}
}

// TestConcurrentUpdatesSerialise has many approvers click at once: each
// update adds its approver only if absent, and only while the request is
// pending, so exactly Required distinct approvals land and exactly one
// update decides.
func TestConcurrentUpdatesSerialise(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	r := newRequest("ar-1", "U0ALICE", "db")
	r.Required = 3
	mustCreate(t, db, r)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		decided  int
		accepted int
	)
	for i := range 20 {
		wg.Go(func() {
			approver := fmt.Sprintf("U0APPROVER%d", i%5)
			_, err := db.UpdateRequest(ctx, "ar-1", func(r *approvals.Request) ([]approvals.Event, error) {
				if r.Status != approvals.StatusPending {
					return nil, approvals.Errorf(approvals.ECONFLICT, "already %s", r.Status)
				}
				if r.HasApproved(approver) {
					return nil, approvals.Errorf(approvals.ECONFLICT, "already approved by %s", approver)
				}
				r.Approvals = append(r.Approvals, approvals.Approval{Approver: approver, At: t0})
				action := approvals.ActionApproval
				if len(r.Approvals) >= r.Required {
					r.Status, r.DecidedBy, action = approvals.StatusApproved, approver, approvals.ActionApproved
				}
				return []approvals.Event{eventOf(r, action, t0)}, nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted++
			case approvals.ErrorCode(err) != approvals.ECONFLICT:
				t.Errorf("approver %s: %v", approver, err)
			}
		})
	}
	wg.Wait()

	got, err := db.Request(ctx, "ar-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != approvals.StatusApproved || len(got.Approvals) != 3 || accepted != 3 {
		t.Errorf("status %s with %d approvals after %d accepted updates; want approved with 3", got.Status, len(got.Approvals), accepted)
	}
	seen := map[string]bool{}
	for _, a := range got.Approvals {
		if seen[a.Approver] {
			t.Errorf("%s approved twice", a.Approver)
		}
		seen[a.Approver] = true
	}
	for _, ev := range allEvents(t, db) {
		if ev.Action == approvals.ActionApproved {
			decided++
		}
	}
	if decided != 1 {
		t.Errorf("%d approved events, want 1", decided)
	}
	if res := mustVerify(t, db); res.Count != 4 {
		t.Errorf("audit log has %d records, want 4", res.Count)
	}
}

func TestCancelledContext(t *testing.T) {
	db := mustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.CreateRequest(ctx, newRequest("ar-1", "U0A", "db"), approvals.Event{}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateRequest: %v", err)
	}
	if _, err := db.Verify(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify: %v", err)
	}
}

func TestAuditHeadAndLastEvent(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	if a, err := db.AuditHead(ctx); err != nil || a.Count != 0 || a.Hash != "" {
		t.Fatalf("empty log: AuditHead = %+v, %v; want zero anchor", a, err)
	}
	if _, ok, err := db.LastEvent(ctx); ok || err != nil {
		t.Fatalf("empty log: LastEvent found=%v err=%v; want nothing", ok, err)
	}
	for _, h := range []string{"p1", "p2"} {
		if err := db.AppendEvent(ctx, approvals.Event{Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, PolicyHash: h}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, ok, err := db.LastEvent(ctx)
	if err != nil || !ok {
		t.Fatalf("LastEvent: found=%v err=%v", ok, err)
	}
	if a.Count != 2 || a.Hash != last.Hash || last.PolicyHash != "p2" {
		t.Errorf("AuditHead = %+v, last event seq %d hash %s policy %s; want 2 records ending at the p2 event", a, last.Seq, last.Hash, last.PolicyHash)
	}
	res, err := db.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.VerifyAnchor(ctx, a.Hash, a.Count); err != nil {
		t.Errorf("the published anchor does not verify: %v (verify result %+v)", err, res)
	}
}
