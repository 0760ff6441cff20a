package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// instantProvider grants and revokes at once, recording when each revoke
// was asked for against the grant's expiry.
type instantProvider struct {
	now func() time.Time

	mu       sync.Mutex
	lateness []time.Duration
	revokes  int
}

func (p *instantProvider) Grant(context.Context, approvals.GrantRequest) (approvals.GrantResult, error) {
	return approvals.GrantResult{}, nil
}

func (p *instantProvider) Revoke(_ context.Context, req approvals.RevokeRequest) error {
	late := p.now().Sub(req.ExpiresAt)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lateness = append(p.lateness, late)
	p.revokes++
	return nil
}

func (p *instantProvider) Holds(context.Context, approvals.HoldsRequest) (bool, error) {
	return false, nil
}

func (p *instantProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.revokes
}

// benchPolicy has one resource and n requesters, each with an account.
func benchPolicy(n int) *approvals.Policy {
	p := &approvals.Policy{
		Identities: map[string]map[string]string{},
		Resources: []approvals.Resource{{
			Name: "db", Provider: "instant", Approvers: []string{"U0APPROVER"}, MaxDuration: 24 * time.Hour,
		}},
		Hash: "bench",
	}
	for i := range n {
		p.Identities[benchUser(i)] = map[string]string{"instant": fmt.Sprintf("user%04d", i)}
	}
	return p
}

func benchUser(i int) string { return fmt.Sprintf("U%06d", i) }

// grantAll files and approves one request per requester, duration(i) long,
// and waits until every grant is active.
func grantAll(b *testing.B, svc *approvals.Service, n int, duration func(i int) time.Duration) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				r, err := svc.Submit(ctx, benchUser(i), "db", duration(i), "benchmark")
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := svc.Approve(ctx, "U0APPROVER", r.ID); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	svc.Wait()
}

// BenchmarkRevokeLateness grants 200 requests expiring over 20 seconds and
// lets the expiry timer revoke them, with no cron sweep at all: the
// lateness of a revoke is the time from its expiry to the provider call.
// It takes about 20 seconds per iteration; run it with -benchtime=1x.
func BenchmarkRevokeLateness(b *testing.B) {
	const n = 200
	for range b.N {
		db, err := store.Open(filepath.Join(b.TempDir(), "accessbot.db"))
		if err != nil {
			b.Fatal(err)
		}
		p := &instantProvider{now: time.Now}
		svc := approvals.New(approvals.Config{
			Store: db, Providers: map[string]approvals.Provider{"instant": p}, Policy: benchPolicy(n),
			Logger: discardLogger(),
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); svc.RunTimer(ctx) }()
		// Expiries spread evenly over 20 seconds, from one second on.
		grantAll(b, svc, n, func(i int) time.Duration { return time.Second + time.Duration(i)*20*time.Second/n })
		for deadline := time.Now().Add(time.Minute); p.count() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d revoked after a minute", p.count(), n)
			}
		}
		cancel()
		<-done
		svc.Shutdown()
		db.Close()
		late := slices.Clone(p.lateness)
		slices.Sort(late)
		b.ReportMetric(float64(late[len(late)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(late[len(late)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "max-ms")
	}
}

// BenchmarkSweep1000 times one sweep of 1,000 due revokes with an instant
// provider against 1,000 sequential fsynced bbolt commits, in the same
// run: the ratio shows how far concurrent revokes share commits.
func BenchmarkSweep1000(b *testing.B) {
	const n = 1000
	var ratios, sweeps, serials []float64
	for range b.N {
		dir := b.TempDir()
		db, err := store.Open(filepath.Join(dir, "accessbot.db"))
		if err != nil {
			b.Fatal(err)
		}
		now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		p := &instantProvider{now: clock}
		svc := approvals.New(approvals.Config{
			Store: db, Providers: map[string]approvals.Provider{"instant": p}, Policy: benchPolicy(n),
			Now: clock, Logger: discardLogger(),
		})
		grantAll(b, svc, n, func(int) time.Duration { return time.Hour })
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		commits := db.Commits()

		start := time.Now()
		if err := svc.ExpireDue(context.Background()); err != nil {
			b.Fatal(err)
		}
		sweep := time.Since(start)
		if p.count() != n {
			b.Fatalf("%d revoked, want %d", p.count(), n)
		}
		b.ReportMetric(float64(db.Commits()-commits)/n, "commits/revoke")
		svc.Shutdown()
		db.Close()

		raw, err := bbolt.Open(filepath.Join(dir, "serial.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for i := range n {
			if err := raw.Update(func(tx *bbolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				return bk.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), make([]byte, 512))
			}); err != nil {
				b.Fatal(err)
			}
		}
		serial := time.Since(start)
		raw.Close()
		sweeps = append(sweeps, float64(sweep.Microseconds())/1000)
		serials = append(serials, float64(serial.Microseconds())/1000)
		ratios = append(ratios, float64(sweep)/float64(serial))
	}
	// Medians: on a shared machine one iteration can be slowed by
	// others; the ratio of each iteration compares the two halves of the
	// same few seconds.
	b.ReportMetric(median(sweeps), "sweep-ms")
	b.ReportMetric(median(serials), "serial-commits-ms")
	b.ReportMetric(median(ratios), "ratio")
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
