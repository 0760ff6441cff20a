package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// TestCounts follows the indexes: pending requests are open, active grants
// are open and due a revoke, ended ones are neither.
func TestCounts(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	for i := range 3 {
		mustGrant(t, db, fmt.Sprintf("ar-g%d", i), fmt.Sprintf("U%d", i), "payments-admin", t0, time.Hour)
	}
	mustCreate(t, db, newRequest("ar-p1", "U9", "payments-admin"))
	mustUpdate(t, db, "ar-g0", func(r *approvals.Request) { r.Status, r.EndedAt = approvals.StatusExpired, t0.Add(time.Hour) })
	c, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Open != 3 || c.Active != 2 {
		t.Errorf("Counts = %+v, want 3 open of which 2 active", c)
	}
}

// BenchmarkCounts is the cost of one metrics scrape's counts with 100,000
// active grants.
func BenchmarkCounts(b *testing.B) {
	db := mustOpen(b)
	ctx := context.Background()
	const n = 100_000
	for i := 0; i < n; i += 1000 {
		// One transaction per thousand grants, written straight into the
		// indexes a grant occupies.
		if err := db.update(func(tx *bbolt.Tx) error {
			for j := i; j < i+1000; j++ {
				id := fmt.Sprintf("ar-%06d", j)
				if err := tx.Bucket(bucketOpen).Put(openKey(id, "r"), []byte(id)); err != nil {
					return err
				}
				if err := tx.Bucket(bucketRevokes).Put(revokeKey(t0.Add(time.Duration(j)), id), nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		c, err := db.Counts(ctx)
		if err != nil || c.Active != n {
			b.Fatalf("Counts = %+v, %v", c, err)
		}
	}
}
