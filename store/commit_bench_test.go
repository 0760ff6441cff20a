package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// BenchmarkConcurrentCreate has 30 goroutines file requests at once, as a
// burst of slash commands would, through CreateRequest (the group
// committer) and, in the same iteration, the same writes each in its own
// fsynced bbolt Update, the way every write was committed before. It
// reports both rates, their ratio and the commits per write.
func BenchmarkConcurrentCreate(b *testing.B) {
	const writers, perWriter = 30, 10
	ctx := context.Background()
	dir := b.TempDir()
	db, err := Open(filepath.Join(dir, "group.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	raw, err := Open(filepath.Join(dir, "raw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()

	var next atomic.Uint64
	request := func() (*approvals.Request, approvals.Event) {
		i := next.Add(1)
		r := newRequest(fmt.Sprintf("ar-%08d", i), fmt.Sprintf("U%08d", i), "payments-admin")
		return r, eventOf(r, approvals.ActionRequested, t0)
	}
	burst := func(write func() error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range perWriter {
					if err := write(); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var groupTime, rawTime time.Duration
	commits := db.Commits()
	for b.Loop() {
		groupTime += burst(func() error {
			r, ev := request()
			return db.CreateRequest(ctx, r, ev)
		})
		rawTime += burst(func() error {
			r, ev := request()
			return raw.bolt.Update(func(tx *bbolt.Tx) error {
				if err := putRequest(tx, r); err != nil {
					return err
				}
				if err := reindex(tx, nil, r); err != nil {
					return err
				}
				return raw.appendEvents(tx, ev)
			})
		})
	}
	ops := float64(b.N * writers * perWriter)
	b.ReportMetric(ops/groupTime.Seconds(), "group-writes/s")
	b.ReportMetric(ops/rawTime.Seconds(), "raw-writes/s")
	b.ReportMetric(rawTime.Seconds()/groupTime.Seconds(), "group/raw")
	b.ReportMetric(float64(db.Commits()-commits)/ops, "commits/write")
}
