package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// Benchmarks build their databases once per process, not once per b.N
// round, in a directory TestMain removes. -short shrinks them.

var (
	benchDir  string
	benchMu   sync.Mutex
	benchDBs  = map[string]*DB{}
	benchOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, db := range benchDBs {
		db.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchDB returns the database called name, building it with fill on first
// use. fill runs in write transactions of its own choosing.
func benchDB(b *testing.B, name string, fill func(db *DB) error) *DB {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if db, ok := benchDBs[name]; ok {
		return db
	}
	var err error
	benchOnce.Do(func() { benchDir, err = os.MkdirTemp("", "accessbot-bench-") })
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(filepath.Join(benchDir, name+".db"))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := fill(db); err != nil {
		b.Fatalf("build %s: %v", name, err)
	}
	b.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	benchDBs[name] = db
	return db
}

// benchEvent is a typical audit event: about 450 bytes of JSON.
func benchEvent(i int) approvals.Event {
	return approvals.Event{
		Time:       t0.Add(time.Duration(i) * time.Second),
		Action:     approvals.ActionGranted,
		Actor:      approvals.SystemActor,
		RequestID:  fmt.Sprintf("ar-%08d", i/6),
		Resource:   fmt.Sprintf("res-%03d", i%100),
		Provider:   "github",
		Requester:  fmt.Sprintf("U0USER%04d", i%5000),
		Identity:   fmt.Sprintf("user%04d-gh", i%5000),
		Duration:   2 * time.Hour,
		ExpiresAt:  t0.Add(time.Duration(i)*time.Second + 2*time.Hour),
		Reason:     "INC-4211 hotfix for the payments outage, rolling back the ledger migration",
		Approvers:  []string{"U0BOB12345", "U0CAROL123"},
		Outcome:    string(approvals.StatusActive),
		Detail:     "invitation sent; access starts once accepted",
		PolicyHash: "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
	}
}

func auditEvents(n int) func(db *DB) error {
	return func(db *DB) error {
		const perTx = 50_000
		for start := 0; start < n; start += perTx {
			evs := make([]approvals.Event, 0, perTx)
			for i := start; i < min(start+perTx, n); i++ {
				evs = append(evs, benchEvent(i))
			}
			if err := db.bolt.Update(func(tx *bbolt.Tx) error { return appendEvents(tx, evs...) }); err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkVerify checks the hash chain of a million-event log; the
// baseline reads and decodes the same events without checking them, so the
// ratio is the price of verification.
func BenchmarkVerify(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	ctx := context.Background()
	db := benchDB(b, fmt.Sprintf("audit-%d", n), auditEvents(n))
	b.Run(fmt.Sprintf("verify/events=%d", n), func(b *testing.B) {
		for b.Loop() {
			res, err := db.Verify(ctx)
			if err != nil || res.Count != uint64(n) {
				b.Fatalf("Verify = %+v, %v", res, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
	})
	b.Run(fmt.Sprintf("baseline-read/events=%d", n), func(b *testing.B) {
		for b.Loop() {
			count := 0
			if err := db.Events(ctx, func(approvals.Event) error { count++; return nil }); err != nil || count != n {
				b.Fatalf("Events: %d, %v", count, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
	})
}

// grantHistory stores n requests, each granted once, over resources
// resources: one grant every 6 minutes, for 1 to 4 hours, all ended but
// the last few hundred, which are still active.
func grantHistory(n, resources int) func(db *DB) error {
	return func(db *DB) error {
		const perTx = 20_000
		for start := 0; start < n; start += perTx {
			err := db.bolt.Update(func(tx *bbolt.Tx) error {
				for i := start; i < min(start+perTx, n); i++ {
					r := newRequest(fmt.Sprintf("ar-%08d", i), fmt.Sprintf("U0USER%04d", i%5000), fmt.Sprintf("res-%03d", i%resources))
					r.CreatedAt = t0.Add(time.Duration(i) * 6 * time.Minute)
					r.Status = approvals.StatusActive
					r.GrantedAt = r.CreatedAt.Add(time.Minute)
					r.ExpiresAt = r.GrantedAt.Add(time.Duration(1+i%4) * time.Hour)
					r.Approvals = []approvals.Approval{{Approver: "U0BOB12345", At: r.GrantedAt}}
					if i < n-300 {
						r.Status, r.EndedAt, r.EndedBy = approvals.StatusExpired, r.ExpiresAt, approvals.SystemActor
					}
					if err := putRequest(tx, r); err != nil {
						return err
					}
					if err := reindex(tx, nil, r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkHoldersAt asks who held one resource at an instant, through the
// grants_by_resource index, against the baseline of scanning every request.
func BenchmarkHoldersAt(b *testing.B) {
	n, resources := 100_000, 100 // about two years of grants at 140 a day
	if testing.Short() {
		n = 5_000
	}
	ctx := context.Background()
	db := benchDB(b, fmt.Sprintf("grants-%d", n), grantHistory(n, resources))
	last := t0.Add(time.Duration(n) * 6 * time.Minute)
	for _, at := range []struct {
		name string
		t    time.Time
	}{
		// Half an hour into a grant of res-007 half way through history.
		{"at=mid", t0.Add(time.Duration(n/2+7)*6*time.Minute + 31*time.Minute)},
		{"at=now", last},
	} {
		want := -1
		b.Run(fmt.Sprintf("index/grants=%d/%s", n, at.name), func(b *testing.B) {
			for b.Loop() {
				got, err := db.HoldersAt(ctx, "res-007", at.t)
				if err != nil {
					b.Fatal(err)
				}
				want = len(got)
			}
			b.ReportMetric(float64(want), "holders")
		})
		b.Run(fmt.Sprintf("baseline-scan/grants=%d/%s", n, at.name), func(b *testing.B) {
			for b.Loop() {
				var got int
				if err := db.AllRequests(ctx, func(r *approvals.Request) error {
					if r.Resource == "res-007" && r.ActiveAt(at.t) {
						got++
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if want >= 0 && got != want {
					b.Fatalf("scan found %d holders, the index %d", got, want)
				}
			}
		})
	}
}

// BenchmarkDueRevokes is the expiry sweep's read with many active grants of
// which few are due, against scanning every request.
func BenchmarkDueRevokes(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	ctx := context.Background()
	db := benchDB(b, fmt.Sprintf("grants-%d", n), grantHistory(n, 100))
	now := t0.Add(time.Duration(n-300)*6*time.Minute + 2*time.Hour)
	var want int
	b.Run(fmt.Sprintf("index/requests=%d", n), func(b *testing.B) {
		for b.Loop() {
			due, err := db.DueRevokes(ctx, now)
			if err != nil {
				b.Fatal(err)
			}
			want = len(due)
		}
		b.ReportMetric(float64(want), "due")
	})
	b.Run(fmt.Sprintf("baseline-scan/requests=%d", n), func(b *testing.B) {
		for b.Loop() {
			got := 0
			if err := db.AllRequests(ctx, func(r *approvals.Request) error {
				if due, ok := r.RevokeDueAt(); ok && !due.After(now) {
					got++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if got != want {
				b.Fatalf("scan found %d due, the index %d", got, want)
			}
		}
	})
}
