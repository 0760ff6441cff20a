package store

import (
	"context"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"
)

// NextRevokeDue returns the earliest instant a revoke is due, from the
// first key of the revokes_by_time index, and false when none is. It reads
// one key whatever the number of grants, so the expiry timer can ask
// after every change that moves a revoke.
func (db *DB) NextRevokeDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	var (
		due time.Time
		ok  bool
	)
	err := db.view(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketRevokes).Cursor().First()
		if len(k) < 8 {
			return nil
		}
		due, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
		return nil
	})
	return due, ok, err
}
