package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
)

// NeedingResume returns the open requests a restart must carry on
// (approvals.Request.NeedsResume), oldest first. It reads the open
// requests, so its cost follows their number, not the history.
func (db *DB) NeedingResume(ctx context.Context) ([]*approvals.Request, error) {
	open, err := db.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	out := open[:0]
	for _, r := range open {
		if r.NeedsResume() {
			out = append(out, r)
		}
	}
	return out, nil
}

// NextRevokeDue returns the earliest instant a revoke is due, read from
// the requests_revoke_due index, and false when none is. The index keeps
// microseconds, so the instant may be up to a microsecond early: the timer
// then finds nothing due yet and reads again.
func (db *DB) NextRevokeDue(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	var due time.Time
	err := db.pool.QueryRow(ctx, `SELECT revoke_due FROM requests WHERE revoke_due IS NOT NULL ORDER BY revoke_due LIMIT 1`).Scan(&due)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read the next revoke due: %w", err)
	}
	return due, true, nil
}
