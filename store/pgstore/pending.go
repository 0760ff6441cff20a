package pgstore

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/accessbot/accessbot/approvals"
)

var _ approvals.PendingLister = (*DB)(nil)

// PendingRequests returns the pending requests, oldest first, read by
// status: with many active grants, the periodic nudges read little more
// than the pending ones.
func (db *DB) PendingRequests(ctx context.Context) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := db.queryRequests(ctx, `SELECT id, record FROM requests WHERE status = $1`, string(approvals.StatusPending))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *approvals.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
