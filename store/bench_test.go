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

// benchSizes are the audit log lengths the audit benchmarks compare: a
// small log as the baseline, and a million events (-short: ten thousand).
func benchSizes() []int {
	if testing.Short() {
		return []int{1_000, 10_000}
	}
	return []int{1_000, 1_000_000}
}

// lifecycle stores the history that nEvents audit events tell, written the
// way the approvals flow writes it (each request's record, its indexes and
// its events in one transaction, here many requests per transaction): one
// request every 3 minutes over 100 resources, each approved, granted for 1
// to 4 hours and expired, five events apiece, but for the last hundred or
// so, which are still active (four events). The events are typical, about
// 600 bytes of JSON each.
func lifecycle(nEvents int) func(db *DB) error {
	active := (5-nEvents%5)%5 + 100
	n := (nEvents + active) / 5
	return func(db *DB) error {
		const perTx = 10_000
		for start := 0; start < n; start += perTx {
			err := db.bolt.Update(func(tx *bbolt.Tx) error {
				for i := start; i < min(start+perTx, n); i++ {
					r, evs := lifecycleRequest(i, i >= n-active)
					if err := putRequest(tx, r); err != nil {
						return err
					}
					if err := reindex(tx, nil, r); err != nil {
						return err
					}
					if err := db.appendEvents(tx, evs...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		var head auditHead
		if err := db.bolt.View(func(tx *bbolt.Tx) (err error) { head, err = readHead(tx); return err }); err != nil {
			return err
		}
		if head.Seq != uint64(nEvents) {
			return fmt.Errorf("wrote %d events, want %d", head.Seq, nEvents)
		}
		return nil
	}
}

// lifecycleRequest is request i of lifecycle and its events.
func lifecycleRequest(i int, active bool) (*approvals.Request, []approvals.Event) {
	r := newRequest(fmt.Sprintf("ar-%08d", i), fmt.Sprintf("U0USER%04d", i%5000), lifecycleResource(i))
	r.Identity = fmt.Sprintf("user%04d-gh", i%5000)
	r.Reason = "INC-4211 hotfix for the payments outage, rolling back the ledger migration"
	r.Duration = time.Duration(1+i%4) * time.Hour
	r.CreatedAt = lifecycleCreated(i)
	approved := r.CreatedAt.Add(30 * time.Second)
	r.Approvals = []approvals.Approval{{Approver: "U0BOB12345", At: approved}}
	r.DecidedBy, r.DecidedAt = "U0BOB12345", approved
	r.GrantedAt = r.CreatedAt.Add(time.Minute)
	r.ExpiresAt = r.GrantedAt.Add(r.Duration)
	r.Status = approvals.StatusActive
	if !active {
		r.Status, r.EndedAt, r.EndedBy = approvals.StatusExpired, r.ExpiresAt, approvals.SystemActor
	}
	ev := func(action, actor string, at time.Time, status approvals.Status) approvals.Event {
		e := approvals.Event{
			Time: at, Action: action, Actor: actor, RequestID: r.ID, Resource: r.Resource,
			Provider: r.Provider, Requester: r.Requester, Identity: r.Identity, Duration: r.Duration,
			Reason: r.Reason, Outcome: string(status),
			PolicyHash: "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
		}
		if action != approvals.ActionRequested {
			e.Approvers = r.Approvers()
		}
		if action == approvals.ActionGranted || action == approvals.ActionExpired {
			e.ExpiresAt = r.ExpiresAt
		}
		return e
	}
	evs := []approvals.Event{
		ev(approvals.ActionRequested, r.Requester, r.CreatedAt, approvals.StatusPending),
		ev(approvals.ActionApproved, "U0BOB12345", approved, approvals.StatusApproved),
		ev(approvals.ActionGranting, approvals.SystemActor, r.GrantedAt, approvals.StatusGranting),
		ev(approvals.ActionGranted, approvals.SystemActor, r.GrantedAt, approvals.StatusActive),
	}
	if !active {
		evs = append(evs, ev(approvals.ActionExpired, approvals.SystemActor, r.EndedAt, approvals.StatusExpired))
	}
	return r, evs
}

func lifecycleResource(i int) string   { return fmt.Sprintf("res-%03d", i%100) }
func lifecycleCreated(i int) time.Time { return t0.Add(time.Duration(i) * 3 * time.Minute) }

// BenchmarkAuditVerify is `accessbot audit verify`: the hash chain of the
// whole log, at 1,000 and 1,000,000 events. The read-only baseline reads
// and decodes the same events without checking them, so verify/read-only
// is the price of verification and the 1M/1k ratio shows the cost is
// linear in the length of the log.
func BenchmarkAuditVerify(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes() {
		db := benchDB(b, fmt.Sprintf("lifecycle-%d", n), lifecycle(n))
		b.Run(fmt.Sprintf("events=%d/verify", n), func(b *testing.B) {
			for b.Loop() {
				res, err := db.Verify(ctx)
				if err != nil || res.Count != uint64(n) {
					b.Fatalf("Verify = %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
		})
		b.Run(fmt.Sprintf("events=%d/read-only", n), func(b *testing.B) {
			for b.Loop() {
				count := 0
				if err := db.Events(ctx, func(approvals.Event) error { count++; return nil }); err != nil || count != n {
					b.Fatalf("Events: %d, %v", count, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
		})
	}
}

// BenchmarkAuditWho is `accessbot audit who RESOURCE --at T` on the same
// databases, half way through their history, through the
// grants_by_resource index (HoldersAt), against two ways of answering
// without it: replaying the audit log, and scanning every request.
func BenchmarkAuditWho(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes() {
		db := benchDB(b, fmt.Sprintf("lifecycle-%d", n), lifecycle(n))
		mid := n / 5 / 2
		resource, at := lifecycleResource(mid), lifecycleCreated(mid).Add(31*time.Minute)
		want := -1
		b.Run(fmt.Sprintf("events=%d/index", n), func(b *testing.B) {
			for b.Loop() {
				got, err := db.HoldersAt(ctx, resource, at)
				if err != nil {
					b.Fatal(err)
				}
				want = len(got)
			}
			if want < 1 {
				b.Fatalf("HoldersAt found %d holders of %s at %s, want at least the grant made half an hour before", want, resource, at)
			}
			b.ReportMetric(float64(want), "holders")
		})
		b.Run(fmt.Sprintf("events=%d/replay-audit", n), func(b *testing.B) {
			for b.Loop() {
				type span struct{ from, to time.Time }
				grants := map[string]*span{}
				err := db.Events(ctx, func(ev approvals.Event) error {
					if ev.Resource != resource {
						return nil
					}
					switch ev.Action {
					case approvals.ActionGranted:
						grants[ev.RequestID] = &span{from: ev.Time}
					case approvals.ActionExpired, approvals.ActionRevoked:
						if g := grants[ev.RequestID]; g != nil {
							g.to = ev.Time
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for _, g := range grants {
					if !at.Before(g.from) && (g.to.IsZero() || at.Before(g.to)) {
						got++
					}
				}
				if got != want {
					b.Fatalf("replay found %d holders, the index %d", got, want)
				}
			}
		})
		b.Run(fmt.Sprintf("events=%d/scan-requests", n), func(b *testing.B) {
			for b.Loop() {
				got := 0
				if err := db.AllRequests(ctx, func(r *approvals.Request) error {
					if r.Resource == resource && r.ActiveAt(at) {
						got++
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if got != want {
					b.Fatalf("scan found %d holders, the index %d", got, want)
				}
			}
		})
	}
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
