package store

import (
	"context"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// NextRevokeDue follows the revoke index: the earliest due instant, moved
// by an early revoke and gone with the last grant.
func TestNextRevokeDue(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	if _, ok, err := db.NextRevokeDue(ctx); ok || err != nil {
		t.Fatalf("empty database: ok %v err %v; want none due", ok, err)
	}
	mustGrant(t, db, "ar-late", "U0B", "db", t0, 2*time.Hour)
	mustGrant(t, db, "ar-soon", "U0A", "db", t0, 10*time.Minute)
	if next, ok, _ := db.NextRevokeDue(ctx); !ok || !next.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("next due %s (%v), want t0+10m", next, ok)
	}
	mustUpdate(t, db, "ar-late", func(r *approvals.Request) {
		r.RevokeRequestedBy, r.RevokeRequestedAt = "U0ADMIN", t0.Add(time.Minute)
	})
	if next, ok, _ := db.NextRevokeDue(ctx); !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after an early revoke: next due %s (%v), want t0+1m", next, ok)
	}
	for _, id := range []string{"ar-late", "ar-soon"} {
		mustUpdate(t, db, id, func(r *approvals.Request) {
			r.Status, r.EndedAt, r.EndedBy = approvals.StatusExpired, t0.Add(time.Hour), approvals.SystemActor
		})
	}
	if _, ok, _ := db.NextRevokeDue(ctx); ok {
		t.Fatal("a revoke is due after every grant ended")
	}
}
