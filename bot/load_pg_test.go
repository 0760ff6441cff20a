package bot_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/pgstore"
	"github.com/accessbot/accessbot/store/pgstore/pgtest"
)

// BenchmarkRequestsUnderLoadPostgres measures the acknowledgement of
// `/access request` under the load of BenchmarkRequestsUnderLoad, through
// the real handler, service, store and delivery worker, once on the bbolt
// store and once on the PostgreSQL store (a fresh schema, dropped
// afterwards) in each iteration. It reports each one's p50 and p99 and the
// ratios PostgreSQL/bbolt, requests acknowledged per second and commits
// per request. It needs the test server (see package pgtest) and is
// skipped without one. Run it with:
//
//	go test -run '^$' -bench RequestsUnderLoadPostgres -benchtime 1x -count 5 ./bot/
func BenchmarkRequestsUnderLoadPostgres(b *testing.B) {
	pgtest.Admin(b) // skip before anything runs when there is no server
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for range b.N {
		bolt, err := store.Open(filepath.Join(b.TempDir(), "accessbot.db"))
		if err != nil {
			b.Fatal(err)
		}
		boltAcks, boltRate, _, boltCommits := accessbotUnderLoad(b, newHarnessOn(b, bolt))

		dsn, _ := pgtest.Schema(b)
		pg, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		pgAcks, pgRate, _, pgCommits := accessbotUnderLoad(b, newHarnessOn(b, pg))

		bolt50, bolt99 := percentile(boltAcks, 50), percentile(boltAcks, 99)
		pg50, pg99 := percentile(pgAcks, 50), percentile(pgAcks, 99)
		b.ReportMetric(ratio(pg50, bolt50), "p50-pg/bolt")
		b.ReportMetric(ratio(pg99, bolt99), "p99-pg/bolt")
		b.ReportMetric(ms(bolt50), "bolt-p50-ms")
		b.ReportMetric(ms(bolt99), "bolt-p99-ms")
		b.ReportMetric(ms(pg50), "pg-p50-ms")
		b.ReportMetric(ms(pg99), "pg-p99-ms")
		b.ReportMetric(boltRate, "bolt-acked/s")
		b.ReportMetric(pgRate, "pg-acked/s")
		b.ReportMetric(boltCommits, "bolt-commits/request")
		b.ReportMetric(pgCommits, "pg-commits/request")
	}
}
