package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

var _ approvals.PendingLister = (*DB)(nil)

// pendingMark is how a pending request's record spells its status. Inside
// a JSON string a quote is escaped, so these bytes come only from the
// status field itself: records without them are skipped undecoded.
var pendingMark = []byte(`"status":"pending"`)

// PendingRequests returns the pending requests, oldest first. It reads
// the pending index, so the periodic nudges read the pending requests
// and none of the grants in force. A file of schema 3 opened read-only
// has no pending index: the open index is walked instead, decoding only
// the records of pending requests.
func (db *DB) PendingRequests(ctx context.Context) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		requests := tx.Bucket(bucketRequests)
		if b := tx.Bucket(bucketPending); b != nil {
			return b.ForEach(func(id, _ []byte) error {
				v := requests.Get(id)
				if v == nil {
					return nil // a stray key, for the state check to report
				}
				r, err := decodeRequest(id, v)
				if err != nil {
					return fmt.Errorf("pending index %q: %w", id, err)
				}
				if r.Status == approvals.StatusPending {
					out = append(out, r)
				}
				return nil
			})
		}
		defer releasePages(tx)
		c := tx.Bucket(bucketOpen).Cursor()
		n := 0
		for k, id := c.First(); k != nil; k, id = c.Next() {
			if n++; n%checkBatch == 0 {
				releasePages(tx)
			}
			v := requests.Get(id)
			if v == nil || !bytes.Contains(v, pendingMark) {
				continue
			}
			r, err := decodeRequest(id, v)
			if err != nil {
				return fmt.Errorf("open index %q: %w", k, err)
			}
			if r.Status == approvals.StatusPending {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *approvals.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
