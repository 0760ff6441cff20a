package pgstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// BenchmarkCreateUnderLoad has 30 goroutines file requests at once, as a
// burst of `/access request` commands would, each a CreateRequest with
// its audit event and the notice that asks the approvers: the commit the
// acknowledgement waits for. In every iteration the same burst runs
// against the bbolt store and against PostgreSQL, both group-committed
// (concurrent writes share a transaction and its flush), and it reports
// each one's p50 and p99 latency per request, the ratios PostgreSQL/bbolt,
// each one's requests per second and commits per request.
func BenchmarkCreateUnderLoad(b *testing.B) {
	const writers, perWriter = 30, 10
	ctx := context.Background()
	dsn, _ := newSchema(b)
	pg := open(b, dsn)
	bolt, err := store.Open(filepath.Join(b.TempDir(), "accessbot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer bolt.Close()

	var next atomic.Uint64
	create := func(s interface {
		CreateRequest(context.Context, *approvals.Request, approvals.Event, ...approvals.Notice) error
	}) error {
		i := next.Add(1)
		r := testRequest(fmt.Sprintf("ar-%08d", i), fmt.Sprintf("U%08d", i))
		r.Resource = "payments-admin"
		r.CreatedAt = time.Now()
		ev := requested(r)
		return s.CreateRequest(ctx, r, ev, approvals.Notice{At: r.CreatedAt, Event: &ev, Ask: []string{"UBOB", "UCAROL"}})
	}
	// burst runs the writers and returns every call's latency and the
	// burst's duration.
	burst := func(write func() error) ([]time.Duration, time.Duration) {
		var mu sync.Mutex
		lat := make([]time.Duration, 0, writers*perWriter)
		start := time.Now()
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range perWriter {
					t := time.Now()
					if err := write(); err != nil {
						b.Error(err)
					}
					d := time.Since(t)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return lat, time.Since(start)
	}
	var pgLat, boltLat []time.Duration
	var pgTime, boltTime time.Duration
	pgCommits, boltCommits := pg.Commits(), bolt.Commits()
	for b.Loop() {
		l, d := burst(func() error { return create(bolt) })
		boltLat, boltTime = append(boltLat, l...), boltTime+d
		l, d = burst(func() error { return create(pg) })
		pgLat, pgTime = append(pgLat, l...), pgTime+d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pg50, pg99 := percentile(pgLat, 50), percentile(pgLat, 99)
	bolt50, bolt99 := percentile(boltLat, 50), percentile(boltLat, 99)
	b.ReportMetric(ms(pg50), "pg-p50-ms")
	b.ReportMetric(ms(pg99), "pg-p99-ms")
	b.ReportMetric(ms(bolt50), "bolt-p50-ms")
	b.ReportMetric(ms(bolt99), "bolt-p99-ms")
	b.ReportMetric(float64(pg50)/float64(bolt50), "p50-pg/bolt")
	b.ReportMetric(float64(pg99)/float64(bolt99), "p99-pg/bolt")
	b.ReportMetric(float64(len(pgLat))/pgTime.Seconds(), "pg-creates/s")
	b.ReportMetric(float64(len(boltLat))/boltTime.Seconds(), "bolt-creates/s")
	b.ReportMetric(float64(pg.Commits()-pgCommits)/float64(len(pgLat)), "pg-commits/create")
	b.ReportMetric(float64(bolt.Commits()-boltCommits)/float64(len(boltLat)), "bolt-commits/create")
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
