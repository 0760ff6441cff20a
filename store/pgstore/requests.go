package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

var (
	_ approvals.Store       = (*DB)(nil)
	_ approvals.AuditLog    = (*DB)(nil)
	_ approvals.HolderIndex = (*DB)(nil)
)

// CreateRequest stores the new request r with its index entries, appends
// ev and queues notices (filled in with r), in one transaction. It returns
// ECONFLICT when r.Requester already has an open request for r.Resource
// (the requests_open index refuses it, whichever replica filed the other),
// and EINVALID when a requester or resource contains a NUL byte.
func (db *DB) CreateRequest(ctx context.Context, r *approvals.Request, ev approvals.Event, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(r); err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode request %s: %w", r.ID, err)
	}
	err = db.write(ctx, func(ctx context.Context, tx *wtx) error {
		// One round trip: the row, its index entries, the event and the
		// notices are sent together.
		var b pgx.Batch
		b.Queue(`INSERT INTO requests (id, requester, resource, status, revoke_due, record) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.Requester, r.Resource, string(r.Status), revokeDue(r), v)
		reindexGrant(&b, nil, r)
		return appendAndQueue(ctx, tx, &b, []approvals.Event{ev}, r, notices, func(err error) error { return insertError(r, err) })
	})
	if errors.Is(err, errOpenConflict) {
		return db.conflict(ctx, r)
	}
	if err == nil && len(notices) > 0 {
		db.wakeOutbox()
	}
	return err
}

// errOpenConflict is what a write that the requests_open index refused
// returns from its transaction; the caller then explains the conflict,
// after the transaction has given its connection back.
var errOpenConflict = errors.New("a second open request for the same requester and resource")

// insertError explains a refused insert of r: the ID taken, or another
// open request of the same person for the same resource.
func insertError(r *approvals.Request, err error) error {
	code, constraint := pgCode(err)
	switch {
	case code == "23505" && constraint == "requests_pkey":
		return fnError{fmt.Errorf("create request %s: the id is taken", r.ID)}
	case code == "23505" && constraint == "requests_open":
		return fnError{errOpenConflict}
	}
	return fmt.Errorf("create request %s: %w", r.ID, err)
}

// conflict explains which open request is in the way of r. It reads
// outside the failed transaction; if the other request closed meanwhile
// the answer is still ECONFLICT, without its details.
func (db *DB) conflict(ctx context.Context, r *approvals.Request) error {
	var v []byte
	var id string
	err := db.pool.QueryRow(ctx, `SELECT id, record FROM requests WHERE requester = $1 AND resource = $2 AND status IN `+openStatuses+` AND id <> $3`,
		r.Requester, r.Resource, r.ID).Scan(&id, &v)
	if err != nil {
		return approvals.Errorf(approvals.ECONFLICT, "you already have a request open for %s; wait for it or revoke it", r.Resource)
	}
	o, err := decodeRequest(id, v)
	if err != nil {
		return approvals.Errorf(approvals.ECONFLICT, "you already have request %s open for %s; wait for it or revoke it", id, r.Resource)
	}
	state := string(o.Status)
	if o.Status == approvals.StatusActive {
		state += " until " + o.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return approvals.Errorf(approvals.ECONFLICT, "you already have request %s open for %s (%s); wait for it or revoke it", o.ID, o.Resource, state)
}

// Transition locks request id (SELECT … FOR UPDATE), calls fn with a copy
// of it and, unless fn fails, writes the changed request, its index
// entries, the events fn returns and its notices (each filled in with the
// request as committed) in the same transaction, and returns the stored
// request. If fn returns an error nothing is written and that error is
// returned as it is. Errors: ENOTFOUND when there is no request id,
// ECONFLICT when the change would open a second request for the same user
// and resource, EINVALID for a NUL byte in requester or resource; fn may
// not change the ID.
//
// fn may run more than once: a transaction that fails on a serialization
// failure or a deadlock is run again from the start, re-reading the
// request. Only the last run's results count.
func (db *DB) Transition(ctx context.Context, id string, fn func(r *approvals.Request) (approvals.Change, error)) (*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *approvals.Request
	queued := false
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		old, err := lockRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		r := old.Clone()
		change, err := fn(r)
		if err != nil {
			return refusal{err}
		}
		if r.ID != id {
			return refusal{fmt.Errorf("update request %s: the update changed its id to %q", id, r.ID)}
		}
		if err := validate(r); err != nil {
			return refusal{err}
		}
		v, err := json.Marshal(r)
		if err != nil {
			return refusal{fmt.Errorf("encode request %s: %w", r.ID, err)}
		}
		var b pgx.Batch
		b.Queue(`UPDATE requests SET requester = $2, resource = $3, status = $4, revoke_due = $5, record = $6 WHERE id = $1`,
			r.ID, r.Requester, r.Resource, string(r.Status), revokeDue(r), v)
		reindexGrant(&b, old, r)
		err = appendAndQueue(ctx, tx, &b, change.Events, r, change.Notices, func(err error) error {
			if code, constraint := pgCode(err); code == "23505" && constraint == "requests_open" {
				out = r
				return fnError{errOpenConflict}
			}
			return fmt.Errorf("update request %s: %w", id, err)
		})
		if err != nil {
			return fmt.Errorf("update request %s: %w", id, err)
		}
		queued = len(change.Notices) > 0
		out = r.Clone()
		return nil
	})
	if errors.Is(err, errOpenConflict) {
		return nil, db.conflict(ctx, out)
	}
	if err != nil {
		return nil, err
	}
	if queued {
		db.wakeOutbox()
	}
	return out, nil
}

// UpdateRequest is Transition for a change that queues no notices.
func (db *DB) UpdateRequest(ctx context.Context, id string, fn func(r *approvals.Request) ([]approvals.Event, error)) (*approvals.Request, error) {
	return db.Transition(ctx, id, func(r *approvals.Request) (approvals.Change, error) {
		evs, err := fn(r)
		return approvals.Change{Events: evs}, err
	})
}

// lockRequest reads request id and locks its row until tx ends. Not
// finding it is a refusal: nothing was written.
func lockRequest(ctx context.Context, tx *wtx, id string) (*approvals.Request, error) {
	var v []byte
	err := tx.queryRow(ctx, []any{&v}, `SELECT record FROM requests WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refusal{notFound(id)}
	}
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", id, err)
	}
	return decodeRequest(id, v)
}

func notFound(id string) error {
	return approvals.Errorf(approvals.ENOTFOUND, "there is no request %s", id)
}

// Request returns request id, or ENOTFOUND.
func (db *DB) Request(ctx context.Context, id string) (*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT record FROM requests WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read request %s: %w", id, err)
	}
	return decodeRequest(id, v)
}

// OpenRequests returns open requests (see approvals.Status.Open), all of
// them when requester is empty, oldest first. It reads the requests_open
// index, so its cost follows the number of open requests.
func (db *DB) OpenRequests(ctx context.Context, requester string) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := `SELECT id, record FROM requests WHERE status IN ` + openStatuses
	args := []any{}
	if requester != "" {
		q += ` AND requester = $1`
		args = append(args, requester)
	}
	out, err := db.queryRequests(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *approvals.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DueRevokes returns active requests whose revoke is due at or before now,
// earliest first, read through the requests_revoke_due index.
func (db *DB) DueRevokes(ctx context.Context, now time.Time) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// timestamptz keeps microseconds: the index finds a superset (a due
	// time in now's microsecond but after it), which the decoded request
	// settles, as it settles the order within a microsecond.
	rs, err := db.queryRequests(ctx, `SELECT id, record FROM requests WHERE revoke_due IS NOT NULL AND revoke_due <= $1 ORDER BY revoke_due, id`, now)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if due, ok := r.RevokeDueAt(); ok && !due.After(now) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *approvals.Request) int {
		dueA, _ := a.RevokeDueAt()
		dueB, _ := b.RevokeDueAt()
		return cmp.Or(dueA.Compare(dueB), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// HoldersAt returns the requests whose grant of resource was in force at
// instant at (approvals.Request.ActiveAt), in the order they were granted.
// It reads the grants_by_resource index for grants made by at and not
// ended before it; only those requests are loaded.
func (db *DB) HoldersAt(ctx context.Context, resource string, at time.Time) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// ended_at >= at rather than > at: microseconds, as in DueRevokes.
	rs, err := db.queryRequests(ctx, `SELECT r.id, r.record FROM grants g JOIN requests r ON r.id = g.id
		WHERE g.resource = $1 AND g.granted_at <= $2 AND (g.ended_at IS NULL OR g.ended_at >= $2)
		ORDER BY g.granted_at, g.id`, resource, at)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Resource == resource && r.ActiveAt(at) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *approvals.Request) int {
		return cmp.Or(a.GrantedAt.Compare(b.GrantedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AllRequests calls fn with every request, ordered by ID, for summaries and
// listings. fn runs outside any transaction; requests are read in batches,
// so one changed meanwhile is seen either before or after the change. An
// error from fn stops the walk and is returned.
func (db *DB) AllRequests(ctx context.Context, fn func(*approvals.Request) error) error {
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := db.queryRequests(ctx, `SELECT id, record FROM requests WHERE id > $1 ORDER BY id LIMIT $2`, after, batchSize)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// batchSize is how many rows a long read fetches per query.
const batchSize = 1024

func (db *DB) queryRequests(ctx context.Context, q string, args ...any) ([]*approvals.Request, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	defer rows.Close()
	var out []*approvals.Request
	for rows.Next() {
		var id string
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("read requests: %w", err)
		}
		r, err := decodeRequest(id, v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read requests: %w", err)
	}
	return out, nil
}

// validate refuses what the bbolt store refuses, so that the two stores
// accept the same requests (and PostgreSQL's text holds no NUL byte).
func validate(r *approvals.Request) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("store request: empty id")
	case strings.IndexByte(r.Requester, 0) >= 0:
		return approvals.Errorf(approvals.EINVALID, "a user ID may not contain a NUL byte")
	case strings.IndexByte(r.Resource, 0) >= 0:
		return approvals.Errorf(approvals.EINVALID, "a resource name may not contain a NUL byte")
	case strings.IndexByte(r.ID, 0) >= 0:
		return approvals.Errorf(approvals.EINVALID, "a request ID may not contain a NUL byte")
	}
	return nil
}

// decodeRequest decodes a stored request, the JSON the bbolt store keeps.
func decodeRequest(id string, v []byte) (*approvals.Request, error) {
	var r approvals.Request
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode request %s: %w", id, err)
	}
	if string(r.Settings) == "null" {
		r.Settings = nil // what was stored, rather than the JSON for it
	}
	return &r, nil
}

// revokeDue is the requests.revoke_due of r: when its revoke is due, or
// NULL when none is.
func revokeDue(r *approvals.Request) *time.Time {
	due, ok := r.RevokeDueAt()
	if !ok {
		return nil
	}
	return &due
}

// reindexGrant queues on b what keeps r's row in grants: one row per
// request ever granted, kept after the grant ends, with its end.
func reindexGrant(b *pgx.Batch, old, cur *approvals.Request) {
	wasGranted := old != nil && !old.GrantedAt.IsZero()
	if cur.GrantedAt.IsZero() {
		if wasGranted {
			b.Queue(`DELETE FROM grants WHERE id = $1`, cur.ID)
		}
		return
	}
	if wasGranted && old.Resource == cur.Resource && old.GrantedAt.Equal(cur.GrantedAt) && old.EndedAt.Equal(cur.EndedAt) {
		return
	}
	var ended *time.Time
	if !cur.EndedAt.IsZero() {
		ended = &cur.EndedAt
	}
	b.Queue(`INSERT INTO grants (id, resource, granted_at, ended_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET resource = excluded.resource, granted_at = excluded.granted_at, ended_at = excluded.ended_at`,
		cur.ID, cur.Resource, cur.GrantedAt, ended)
}

// Counts returns the number of open requests and of active grants (those
// with a revoke due), for metrics, from the partial indexes.
func (db *DB) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	if err := ctx.Err(); err != nil {
		return c, err
	}
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM requests WHERE status IN `+openStatuses+`),
		(SELECT count(*) FROM requests WHERE revoke_due IS NOT NULL)`).Scan(&c.Open, &c.Active)
	if err != nil {
		return c, fmt.Errorf("count requests: %w", err)
	}
	return c, nil
}
