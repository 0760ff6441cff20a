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
	// Deliveries are grouped: a notice whose last delivery is in the batch
	// is deleted without recording the others, and each notice or request
	// is rewritten once, however many of its deliveries the batch holds.
	last := map[uint64]bool{}
	keys := map[uint64][]string{}
	var seqs []uint64
	refs := map[string][]approvals.Delivery{}
	var ids []string
	for _, d := range ds {
		if _, ok := keys[d.Seq]; !ok {
			seqs = append(seqs, d.Seq)
		}
		keys[d.Seq] = append(keys[d.Seq], d.Key)
		last[d.Seq] = last[d.Seq] || d.Last
		if d.Ref != (approvals.MessageRef{}) && d.RequestID != "" {
			if _, ok := refs[d.RequestID]; !ok {
				ids = append(ids, d.RequestID)
			}
			refs[d.RequestID] = append(refs[d.RequestID], d)
		}
	}
	return db.update(func(tx *bbolt.Tx) error {
		for _, id := range ids {
			if err := recordRefs(tx, id, refs[id]); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			k := seqKey(seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			if last[seq] {
				if err := b.Delete(k); err != nil {
					return fmt.Errorf("delete notice %d: %w", seq, err)
				}
				continue
			}
			var rec outboxRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("outbox notice %d: %w", seq, err)
			}
			for _, key := range keys[seq] {
				if !slices.Contains(rec.Done, key) {
					rec.Done = append(rec.Done, key)
				}
			}
			nv, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("encode notice %d: %w", seq, err)
			}
			if err := b.Put(k, nv); err != nil {
				return fmt.Errorf("put notice %d: %w", seq, err)
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
	changed := false
	for _, d := range ds {
		switch {
		case d.AuditThread:
			if r.AuditThread != d.Ref {
				r.AuditThread, changed = d.Ref, true
			}
		case d.Round == 0:
			if !slices.Contains(r.Messages, d.Ref) {
				r.Messages, changed = append(r.Messages, d.Ref), true
			}
		case d.Round <= len(r.Extensions):
			e := &r.Extensions[d.Round-1]
			if !slices.Contains(e.Messages, d.Ref) {
				e.Messages, changed = append(e.Messages, d.Ref), true
			}
		}
	}
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
