package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
)

// Enqueue queues notices that go with no state change (a summary, an
// anchor of the audit log).
func (db *DB) Enqueue(ctx context.Context, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.write(ctx, func(ctx context.Context, tx *wtx) error { return appendAndQueue(ctx, tx, nil, nil, nil, notices, nil) }); err != nil {
		return err
	}
	db.wakeOutbox()
	return nil
}

// Notices returns up to limit undelivered notices queued after seq after,
// in the order they were committed, each with the deliveries already made
// in Done.
func (db *DB) Notices(ctx context.Context, after uint64, limit int) ([]approvals.Notice, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, notice, done FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(min(after, 1<<63-1)), limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []approvals.Notice
	for rows.Next() {
		var seq int64
		var v []byte
		var done []string
		if err := rows.Scan(&seq, &v, &done); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		n, err := decodeNotice(seq, v, done)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// decodeNotice decodes a stored notice: the JSON holds the notice as
// queued (its Done as given, usually none), the done column the deliveries
// recorded since.
func decodeNotice(seq int64, v []byte, done []string) (approvals.Notice, error) {
	var n approvals.Notice
	if err := json.Unmarshal(v, &n); err != nil {
		return n, fmt.Errorf("outbox notice %d: %w", seq, err)
	}
	n.Seq = uint64(seq)
	for _, k := range done {
		if !slices.Contains(n.Done, k) {
			n.Done = append(n.Done, k)
		}
	}
	return n, nil
}

// RecordDeliveries records deliveries made, in one transaction: each is
// added to its notice's done list, a notice whose last delivery is
// recorded leaves the outbox, and a message reference is kept on its
// request (approvals.Request.Messages, an extension's Messages, or
// AuditThread) without an audit event. A delivery of a notice no longer in
// the outbox, or a reference to a request that is gone, is skipped:
// recording is idempotent, since a restart may deliver again what was not
// recorded.
func (db *DB) RecordDeliveries(ctx context.Context, ds []approvals.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Rows are locked in one order (requests by ID, then notices by
	// sequence), so two batches never wait for each other in a cycle.
	batch := approvals.GroupDeliveries(ds)
	return db.write(ctx, func(ctx context.Context, tx *wtx) error {
		for _, r := range batch.Refs {
			if err := recordRefs(ctx, tx, r.RequestID, r.Deliveries); err != nil {
				return err
			}
		}
		var gone, kept []int64
		var keptKeys []string
		for _, n := range batch.Notices {
			seq := n.Seq
			if seq > 1<<63-1 {
				continue
			}
			if n.Last {
				gone = append(gone, int64(seq))
				continue
			}
			v, _ := json.Marshal(n.Keys)
			kept = append(kept, int64(seq))
			keptKeys = append(keptKeys, string(v))
		}
		var b pgx.Batch
		if len(gone) > 0 {
			b.Queue(`DELETE FROM outbox WHERE seq = ANY($1::bigint[])`, gone)
		}
		if len(kept) > 0 {
			// Each notice's new keys, in the order given, that it does not
			// have yet.
			b.Queue(`UPDATE outbox o SET done = o.done || coalesce(
				(SELECT array_agg(k.k ORDER BY k.i) FROM jsonb_array_elements_text(u.keys) WITH ORDINALITY AS k(k, i)
				 WHERE NOT k.k = ANY(o.done)), '{}')
				FROM unnest($1::bigint[], $2::jsonb[]) AS u(seq, keys)
				WHERE o.seq = u.seq`, kept, keptKeys)
		}
		tx.queue(&b, func(err error) error { return fmt.Errorf("record deliveries: %w", err) })
		return nil
	})
}

// recordRefs keeps the messages ds posted on request id, in one write.
func recordRefs(ctx context.Context, tx *wtx, id string, ds []approvals.Delivery) error {
	r, err := lockRequest(ctx, tx, id)
	var rf refusal
	if errors.As(err, &rf) && approvals.ErrorCode(rf.err) == approvals.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	changed := r.KeepRefs(ds)
	if !changed {
		return nil
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode request %s: %w", id, err)
	}
	// Message references are not indexed: the record alone changes.
	var b pgx.Batch
	b.Queue(`UPDATE requests SET record = $2 WHERE id = $1`, id, v)
	tx.queue(&b, func(err error) error { return fmt.Errorf("update request %s: %w", id, err) })
	return nil
}

// OutboxState says how far behind delivery is: the number of undelivered
// notices and when the oldest was committed (zero when there is none).
func (db *DB) OutboxState(ctx context.Context) (depth int, oldest time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	var seq *int64
	var v []byte
	err = db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), o.seq, o.notice
		FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, notice FROM outbox ORDER BY seq LIMIT 1) AS o ON true`).Scan(&depth, &seq, &v)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read outbox: %w", err)
	}
	if seq == nil {
		return depth, time.Time{}, nil
	}
	n, err := decodeNotice(*seq, v, nil)
	return depth, n.At, err
}
