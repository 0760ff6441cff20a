package store

import (
	"context"

	"go.etcd.io/bbolt"
)

// Counts are the sizes of the open and revokes_by_time indexes.
type Counts struct {
	// Open is the number of open requests (pending, approved, granting or
	// active): one key each in the open index.
	Open int
	// Active is the number of active grants: every active grant has its
	// revoke due at some instant, one key each in revokes_by_time.
	Active int
}

// Counts returns the number of open requests and active grants. It counts
// keys page by page (bbolt's bucket statistics) without reading a single
// request, so it stays cheap for metrics scrapes with many grants.
func (db *DB) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	if err := ctx.Err(); err != nil {
		return c, err
	}
	err := db.view(func(tx *bbolt.Tx) error {
		c.Open = tx.Bucket(bucketOpen).Stats().KeyN
		c.Active = tx.Bucket(bucketRevokes).Stats().KeyN
		return nil
	})
	return c, err
}
