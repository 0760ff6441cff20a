package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// step changes request id the way approvals does: the change, then an
// event made from the request as changed (as approvals' eventFor makes
// it: its status as Outcome, its expiry as ExpiresAt).
func step(tb testing.TB, db *DB, id, action string, at time.Time, change func(r *approvals.Request)) {
	tb.Helper()
	_, err := db.Transition(context.Background(), id, func(r *approvals.Request) (approvals.Change, error) {
		change(r)
		ev := eventOf(r, action, at)
		ev.ExpiresAt = r.ExpiresAt
		return approvals.Change{Events: []approvals.Event{ev}}, nil
	})
	if err != nil {
		tb.Fatalf("%s %s: %v", action, id, err)
	}
}

// granted files request id and carries it through approval to a grant
// of d from at, as the approvals flow does.
func granted(tb testing.TB, db *DB, id, requester, resource string, at time.Time, d time.Duration) {
	tb.Helper()
	mustCreate(tb, db, newRequest(id, requester, resource))
	step(tb, db, id, approvals.ActionApproved, at, func(r *approvals.Request) { r.Status = approvals.StatusApproved })
	step(tb, db, id, approvals.ActionGranting, at, func(r *approvals.Request) { r.Status = approvals.StatusGranting })
	step(tb, db, id, approvals.ActionGranted, at, func(r *approvals.Request) {
		r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, at, at.Add(d)
	})
}

// history builds a database with requests in each kind of state.
func history(tb testing.TB) *DB {
	tb.Helper()
	db := mustOpen(tb)
	granted(tb, db, "ar-active", "U1", "res-a", t0, time.Hour)
	granted(tb, db, "ar-ended", "U2", "res-a", t0, time.Hour)
	step(tb, db, "ar-ended", approvals.ActionExpired, t0.Add(time.Hour), func(r *approvals.Request) {
		r.Status, r.EndedAt = approvals.StatusExpired, t0.Add(time.Hour)
	})
	granted(tb, db, "ar-extended", "U3", "res-b", t0, time.Hour)
	step(tb, db, "ar-extended", "extended", t0.Add(time.Minute), func(r *approvals.Request) { r.ExpiresAt = r.ExpiresAt.Add(time.Hour) })
	step(tb, db, "ar-extended", approvals.ActionRevokeFailed, t0.Add(2*time.Minute), func(r *approvals.Request) {
		r.RevokeRequestedBy, r.RevokeRequestedAt = "U3", t0.Add(2*time.Minute)
	})
	mustCreate(tb, db, newRequest("ar-pending", "U4", "res-b"))
	mustCreate(tb, db, newRequest("ar-asked", "U5", "res-b"))
	_, err := db.Transition(context.Background(), "ar-asked", func(r *approvals.Request) (approvals.Change, error) {
		r.Asked = []string{"C1"}
		return approvals.Change{}, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	mustCreate(tb, db, newRequest("ar-denied", "U6", "res-b"))
	step(tb, db, "ar-denied", approvals.ActionDenied, t0, func(r *approvals.Request) { r.Status, r.EndedAt = approvals.StatusDenied, t0 })
	if err := db.AppendEvent(context.Background(), approvals.Event{Time: t0, Action: approvals.ActionPolicyLoaded, Actor: "accessbot"}); err != nil {
		tb.Fatal(err)
	}
	return db
}

func checkState(tb testing.TB, db *DB) []string {
	tb.Helper()
	var out []string
	if err := db.CheckState(context.Background(), func(d Disagreement) { out = append(out, d.Text) }); err != nil {
		tb.Fatalf("CheckState: %v", err)
	}
	return out
}

func checkOpen(tb testing.TB, db *DB) []string {
	tb.Helper()
	var out []string
	if err := db.CheckOpen(context.Background(), func(d Disagreement) { out = append(out, d.Text) }); err != nil {
		tb.Fatalf("CheckOpen: %v", err)
	}
	return out
}

func TestCheckStateAgrees(t *testing.T) {
	db := history(t)
	if ds := checkState(t, db); len(ds) != 0 {
		t.Errorf("CheckState of an untouched history:\n%s", strings.Join(ds, "\n"))
	}
	if ds := checkOpen(t, db); len(ds) != 0 {
		t.Errorf("CheckOpen of an untouched history:\n%s", strings.Join(ds, "\n"))
	}
	rs, err := db.NeedingResume(context.Background())
	if err != nil || ids(rs) != "ar-pending" {
		t.Errorf("NeedingResume = %s, %v; want ar-pending (ar-asked was asked)", ids(rs), err)
	}
	used, err := db.ProvidersInUse(context.Background())
	if err != nil || len(used) != 1 || used["github"] != 4 {
		t.Errorf("ProvidersInUse = %v, %v; want github: 4", used, err)
	}
}

// editRequest changes the stored JSON of request id.
func editRequest(id string, fn func(m map[string]any)) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		var m map[string]any
		if err := json.Unmarshal(tx.Bucket(bucketRequests).Get([]byte(id)), &m); err != nil {
			return err
		}
		fn(m)
		v, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketRequests).Put([]byte(id), v)
	}
}

func TestCheckStateNamesEachDisagreement(t *testing.T) {
	due := t0.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		edit   func(tx *bbolt.Tx) error
		want   []string
		repair bool
	}{{
		name:   "revoke key deleted",
		edit:   func(tx *bbolt.Tx) error { return tx.Bucket(bucketRevokes).Delete(revokeKey(due, "ar-active")) },
		want:   []string{"request ar-active: revoke due at 2026-11-22T10:00:00Z but no revokes_by_time key (index removed)"},
		repair: true,
	}, {
		name: "revoke key moved later",
		edit: func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucketRevokes).Delete(revokeKey(due, "ar-active")); err != nil {
				return err
			}
			return tx.Bucket(bucketRevokes).Put(revokeKey(due.Add(24*time.Hour), "ar-active"), []byte{})
		},
		want:   []string{"request ar-active: revoke due at 2026-11-22T10:00:00Z but its revokes_by_time key is at 2026-11-23T10:00:00Z (index moved)"},
		repair: true,
	}, {
		name:   "revoke key for an ended grant",
		edit:   func(tx *bbolt.Tx) error { return tx.Bucket(bucketRevokes).Put(revokeKey(due, "ar-ended"), []byte{}) },
		want:   []string{"revokes_by_time key at 2026-11-22T10:00:00Z for ar-ended points at no active request (ar-ended is expired)"},
		repair: true,
	}, {
		name:   "pending key deleted",
		edit:   func(tx *bbolt.Tx) error { return tx.Bucket(bucketPending).Delete([]byte("ar-asked")) },
		want:   []string{"request ar-asked: pending and waiting for a decision, but no pending key (index removed)"},
		repair: true,
	}, {
		name:   "pending key for a grant",
		edit:   func(tx *bbolt.Tx) error { return tx.Bucket(bucketPending).Put([]byte("ar-active"), []byte{}) },
		want:   []string{`pending key "ar-active" for ar-active does not match request ar-active (active)`},
		repair: true,
	}, {
		name: "status changed",
		edit: editRequest("ar-active", func(m map[string]any) { m["status"] = "expired" }),
		want: []string{"request ar-active: status expired in the record, active in the log (event 4)"},
	}, {
		name: "expiry changed",
		edit: editRequest("ar-active", func(m map[string]any) { m["expires_at"] = "2026-11-23T09:00:00Z" }),
		want: []string{"request ar-active: expiry 2026-11-23T09:00:00Z in the record, 2026-11-22T10:00:00Z in the log (event 4)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			db := tamper(t, history(t), tc.edit)
			got := checkState(t, db)
			for _, w := range tc.want {
				if !contains(got, w) {
					t.Errorf("CheckState:\n%s\nwant a line %q", strings.Join(got, "\n"), w)
				}
			}
			if open := checkOpen(t, db); !strings.Contains(strings.Join(open, "\n"), strings.Join(tc.want, "\n")) {
				t.Errorf("CheckOpen:\n%s\nwant %q", strings.Join(open, "\n"), tc.want)
			}
			fixed, err := db.CheckAtStart(context.Background(), t0)
			if !tc.repair {
				if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), tc.want[0]) {
					t.Fatalf("CheckAtStart = %v; want a refusal naming %q", err, tc.want[0])
				}
				return
			}
			if err != nil || len(fixed) == 0 {
				t.Fatalf("CheckAtStart = %v, %v; want a repair", fixed, err)
			}
			if ds := checkState(t, db); len(ds) != 0 {
				t.Errorf("after the repair:\n%s", strings.Join(ds, "\n"))
			}
			last, _, err := db.LastEvent(context.Background())
			if err != nil || last.Action != approvals.ActionIndexRepaired || !strings.Contains(last.Detail, tc.want[0]) {
				t.Errorf("last event %+v, %v; want index_repaired naming %q", last, err, tc.want[0])
			}
			dueNow, err := db.DueRevokes(context.Background(), due)
			if err != nil || !strings.Contains(ids(dueNow), "ar-active") {
				t.Errorf("DueRevokes at expiry after the repair = %s, %v; want ar-active among them", ids(dueNow), err)
			}
			if _, err := db.Verify(context.Background()); err != nil {
				t.Errorf("Verify after the repair: %v", err)
			}
		})
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// TestCheckStateFindsWhatOnlyTheLogHas checks the disagreements found only
// by replaying the whole log.
func TestCheckStateFindsWhatOnlyTheLogHas(t *testing.T) {
	db := tamper(t, history(t), func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketRequests).Delete([]byte("ar-ended")); err != nil {
			return err
		}
		return editRequest("ar-denied", func(m map[string]any) { m["status"] = "active" })(tx)
	})
	got := strings.Join(checkState(t, db), "\n")
	for _, w := range []string{
		"request ar-ended: in the log (event 9, expired) but not in the record",
		"request ar-denied: status active in the record, denied in the log (event 19)",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("CheckState:\n%s\nwant %q", got, w)
		}
	}
}

// TestMigrationBuildsIndexes opens a schema 2 file, which has none of the
// indexes schema 3 adds: they are built from the log and the requests.
func TestMigrationBuildsIndexes(t *testing.T) {
	db := history(t)
	db.Close()
	editFile(t, db.path, func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketRequestLog, bucketProviders, bucketResume, bucketPending} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("2"))
	})
	ro, err := OpenReadOnly(db.path)
	if err != nil {
		t.Fatalf("read-only open of a schema 2 file: %v", err)
	}
	if ds := checkState(t, ro); len(ds) != 0 {
		t.Errorf("CheckState of a schema 2 file:\n%s", strings.Join(ds, "\n"))
	}
	ro.Close()
	db = mustOpenPath(t, db.path)
	if ds := checkState(t, db); len(ds) != 0 {
		t.Errorf("CheckState after the migration:\n%s", strings.Join(ds, "\n"))
	}
	rs, err := db.NeedingResume(context.Background())
	if err != nil || ids(rs) != "ar-pending" {
		t.Errorf("NeedingResume = %s, %v; want ar-pending", ids(rs), err)
	}
	ps, err := db.PendingRequests(context.Background())
	if err != nil || ids(ps) != "ar-asked,ar-pending" {
		t.Errorf("PendingRequests = %s, %v; want ar-asked,ar-pending", ids(ps), err)
	}
}

// TestMigrationBuildsPendingIndex opens a schema 3 file, which has no
// pending index: read-only, the pending requests are found from the open
// index; opened for writing, the index is built and kept.
func TestMigrationBuildsPendingIndex(t *testing.T) {
	db := history(t)
	db.Close()
	editFile(t, db.path, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketPending); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("3"))
	})
	ro, err := OpenReadOnly(db.path)
	if err != nil {
		t.Fatalf("read-only open of a schema 3 file: %v", err)
	}
	if ps, err := ro.PendingRequests(context.Background()); err != nil || ids(ps) != "ar-asked,ar-pending" {
		t.Errorf("PendingRequests of a schema 3 file = %s, %v; want ar-asked,ar-pending", ids(ps), err)
	}
	if ds := checkState(t, ro); len(ds) != 0 {
		t.Errorf("CheckState of a schema 3 file:\n%s", strings.Join(ds, "\n"))
	}
	ro.Close()
	db = mustOpenPath(t, db.path)
	if n := countKeys(t, db, bucketPending); n != 2 {
		t.Errorf("pending index after the migration has %d keys, want 2", n)
	}
	if ds := checkOpen(t, db); len(ds) != 0 {
		t.Errorf("CheckOpen after the migration:\n%s", strings.Join(ds, "\n"))
	}
	step(t, db, "ar-asked", approvals.ActionDenied, t0, func(r *approvals.Request) { r.Status, r.EndedAt = approvals.StatusDenied, t0 })
	if ps, err := db.PendingRequests(context.Background()); err != nil || ids(ps) != "ar-pending" {
		t.Errorf("PendingRequests after a deny = %s, %v; want ar-pending", ids(ps), err)
	}
	if n := countKeys(t, db, bucketPending); n != 1 {
		t.Errorf("pending index after a deny has %d keys, want 1", n)
	}
}

func countKeys(tb testing.TB, db *DB, bucket []byte) int {
	tb.Helper()
	n := 0
	if err := db.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}
