package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// ProvidersInUse returns the number of open requests (pending, approved,
// granting or active) of each provider, read through the requests_open
// index: its cost follows the open requests, not the history.
func (db *DB) ProvidersInUse(ctx context.Context) (map[string]int, error) {
	open, err := db.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range open {
		out[r.Provider]++
	}
	return out, nil
}

// logState is a request's state after its last audit event.
type logState struct {
	seq    uint64
	status approvals.Status
	expiry time.Time
}

// CheckState checks that each request agrees with the audit log (its
// status and expiry after its last event, approvals.StatusAfter) and
// that the columns indexed from the record (status, revoke_due, the
// grants row) agree with it, calling fn with each disagreement. It
// returns an error only when it cannot read the database. The log and the
// requests are read in one snapshot (a read-only repeatable read
// transaction), so replicas writing meanwhile cause no false alarm. It
// does not verify the hash chain: Verify does.
func (db *DB) CheckState(ctx context.Context, fn func(store.Disagreement)) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("check state: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	states := map[string]logState{}
	rows, err := tx.Query(ctx, `SELECT seq, record FROM audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	for rows.Next() {
		var seq int64
		var v []byte
		if err := rows.Scan(&seq, &v); err != nil {
			rows.Close()
			return fmt.Errorf("read audit log: %w", err)
		}
		ev, err := store.DecodeAuditRecord(uint64(seq), v)
		if err != nil {
			rows.Close()
			return fmt.Errorf("audit record %d: %w", seq, err)
		}
		if ev.RequestID == "" {
			continue
		}
		s := states[ev.RequestID]
		states[ev.RequestID] = logState{seq: uint64(seq), status: approvals.StatusAfter(ev, s.status), expiry: ev.ExpiresAt}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT r.id, r.record, r.status, r.revoke_due, g.resource, g.granted_at, g.ended_at
		FROM requests r LEFT JOIN grants g ON g.id = r.id ORDER BY r.id`)
	if err != nil {
		return fmt.Errorf("read requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, status      string
			v               []byte
			due             *time.Time
			gResource       *string
			gGranted, gEnds *time.Time
		)
		if err := rows.Scan(&id, &v, &status, &due, &gResource, &gGranted, &gEnds); err != nil {
			return fmt.Errorf("read requests: %w", err)
		}
		r, err := decodeRequest(id, v)
		if err != nil {
			return err
		}
		s, ok := states[id]
		delete(states, id)
		switch {
		case !ok:
			fn(store.Disagreement{RequestID: id, Text: fmt.Sprintf("request %s: in the record but no event of it in the log", id)})
		default:
			if r.Status != s.status {
				fn(store.Disagreement{RequestID: id, Seq: s.seq, Text: fmt.Sprintf("request %s: status %s in the record, %s in the log (event %d)", id, r.Status, s.status, s.seq)})
			}
			if !r.ExpiresAt.Equal(s.expiry) {
				fn(store.Disagreement{RequestID: id, Seq: s.seq, Text: fmt.Sprintf("request %s: expiry %s in the record, %s in the log (event %d)", id, timeText(r.ExpiresAt), timeText(s.expiry), s.seq)})
			}
		}
		if status != string(r.Status) {
			fn(store.Disagreement{RequestID: id, Index: "requests.status", Text: fmt.Sprintf("request %s: status column %s, record %s", id, status, r.Status)})
		}
		if want := revokeDue(r); !sameMicros(due, want) {
			fn(store.Disagreement{RequestID: id, Index: "requests_revoke_due", Text: fmt.Sprintf("request %s: revoke_due %s, the record says %s", id, ptrText(due), ptrText(want))})
		}
		var wantEnd *time.Time
		if !r.EndedAt.IsZero() {
			wantEnd = &r.EndedAt
		}
		switch {
		case r.GrantedAt.IsZero() && gResource != nil:
			fn(store.Disagreement{RequestID: id, Index: "grants", Text: fmt.Sprintf("request %s: a grants row for a request never granted", id)})
		case !r.GrantedAt.IsZero() && gResource == nil:
			fn(store.Disagreement{RequestID: id, Index: "grants", Text: fmt.Sprintf("request %s: granted at %s, no grants row", id, timeText(r.GrantedAt))})
		case gResource != nil && (*gResource != r.Resource || !sameMicros(gGranted, &r.GrantedAt) || !sameMicros(gEnds, wantEnd)):
			fn(store.Disagreement{RequestID: id, Index: "grants", Text: fmt.Sprintf("request %s: the grants row (%s, %s to %s) differs from the record (%s, %s to %s)", id, *gResource, ptrText(gGranted), ptrText(gEnds), r.Resource, timeText(r.GrantedAt), ptrText(wantEnd))})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read requests: %w", err)
	}
	for id, s := range states {
		fn(store.Disagreement{RequestID: id, Seq: s.seq, Text: fmt.Sprintf("request %s: in the log (event %d) but not in the record", id, s.seq)})
	}
	return nil
}

// sameMicros compares two optional instants as PostgreSQL keeps them, to
// the microsecond.
func sameMicros(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func ptrText(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return timeText(*t)
}
