package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// outboxRecord is how a notice is stored: the notice as approvals defines
// it, plus its delivery progress.
type outboxRecord struct {
	approvals.Notice
}

// queueNotices appends notices to the outbox inside tx, each filled in with
// r (the request as committed; nil for notices about no request).
func queueNotices(tx *bbolt.Tx, r *approvals.Request, notices []approvals.Notice) error {
	if len(notices) == 0 {
		return nil
	}
	b := tx.Bucket(bucketOutbox)
	for _, n := range notices {
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("outbox sequence: %w", err)
		}
		if r != nil {
			// The snapshot is for telling what happened; the provider
			// settings are no part of that and are left out.
			n.Request = r.Clone()
			n.Request.Settings = nil
			n.RequestID = r.ID
		}
		n.At = n.At.UTC()
		v, err := json.Marshal(outboxRecord{Notice: n})
		if err != nil {
			return fmt.Errorf("encode notice: %w", err)
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return fmt.Errorf("put notice %d: %w", seq, err)
		}
	}
	return nil
}

// Enqueue queues notices that go with no state change (a summary, an
// anchor of the audit log).
func (db *DB) Enqueue(ctx context.Context, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.update(func(tx *bbolt.Tx) error { return queueNotices(tx, nil, notices) }); err != nil {
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
	var out []approvals.Notice
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			n, err := decodeNotice(k, v)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

func decodeNotice(k, v []byte) (approvals.Notice, error) {
	if len(k) != 8 {
		return approvals.Notice{}, fmt.Errorf("outbox key %x: not a sequence number", k)
	}
	var rec outboxRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return approvals.Notice{}, fmt.Errorf("outbox notice %d: %w", binary.BigEndian.Uint64(k), err)
	}
	rec.Seq = binary.BigEndian.Uint64(k)
	return rec.Notice, nil
}

// RecordDeliveries records deliveries made, in one transaction: each is
// added to its notice's Done, a notice whose last delivery is recorded
// leaves the outbox, and a message reference is kept on its request
// (approvals.Request.Messages, an extension's Messages, or AuditThread)
// without an audit event. A delivery of a notice no longer in the outbox,
// or a reference to a request that is gone, is skipped: recording is
// idempotent, since a restart may deliver again what was not recorded.
func (db *DB) RecordDeliveries(ctx context.Context, ds []approvals.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := approvals.GroupDeliveries(ds)
	return db.update(func(tx *bbolt.Tx) error {
		for _, r := range b.Refs {
			if err := recordRefs(tx, r.RequestID, r.Deliveries); err != nil {
				return err
			}
		}
		bk := tx.Bucket(bucketOutbox)
		for _, n := range b.Notices {
			k := seqKey(n.Seq)
			v := bk.Get(k)
			if v == nil {
				continue
			}
			if n.Last {
				if err := bk.Delete(k); err != nil {
					return fmt.Errorf("delete notice %d: %w", n.Seq, err)
				}
				continue
			}
			var rec outboxRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("outbox notice %d: %w", n.Seq, err)
			}
			for _, key := range n.Keys {
				if !slices.Contains(rec.Done, key) {
					rec.Done = append(rec.Done, key)
				}
			}
			nv, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("encode notice %d: %w", n.Seq, err)
			}
			if err := bk.Put(k, nv); err != nil {
				return fmt.Errorf("put notice %d: %w", n.Seq, err)
			}
		}
		return nil
	})
}

// recordRefs keeps the messages ds posted on request id, in one write.
func recordRefs(tx *bbolt.Tx, id string, ds []approvals.Delivery) error {
	r, err := getRequest(tx, id)
	if approvals.ErrorCode(err) == approvals.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	changed := r.KeepRefs(ds)
	if !changed {
		return nil
	}
	// Message references are not indexed: the record alone changes.
	return putRequest(tx, r)
}

// OutboxState says how far behind delivery is: the number of undelivered
// notices and when the oldest was committed (zero when there is none).
func (db *DB) OutboxState(ctx context.Context) (depth int, oldest time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	err = db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		depth = b.Stats().KeyN
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		n, err := decodeNotice(k, v)
		oldest = n.At
		return err
	})
	return depth, oldest, err
}

// OutboxSignal returns a channel that receives after a commit queued
// notices, so the delivery worker need not poll. Signals coalesce: one
// pending signal stands for any number of commits.
func (db *DB) OutboxSignal() <-chan struct{} { return db.outboxSignal }

func (db *DB) wakeOutbox() {
	select {
	case db.outboxSignal <- struct{}{}:
	default:
	}
}
