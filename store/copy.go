package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// Source is a whole store as `accessbot migrate` copies it: both stores
// provide it (this one and the PostgreSQL store, store/pgstore).
type Source interface {
	// AllRequests calls fn with every request.
	AllRequests(ctx context.Context, fn func(*approvals.Request) error) error
	// AuditRecords calls fn with every audit record in order, as stored.
	AuditRecords(ctx context.Context, fn func(seq uint64, value []byte) error) error
	// Notices returns undelivered notices after seq after, in order,
	// with the deliveries already made in Done.
	Notices(ctx context.Context, after uint64, limit int) ([]approvals.Notice, error)
}

// Copied counts what a copy wrote.
type Copied struct {
	Requests, Records, Notices int
}

// AuditRecords calls fn with every audit record in order, as stored: the
// bytes `accessbot audit verify` checks. fn runs outside any transaction.
func (db *DB) AuditRecords(ctx context.Context, fn func(seq uint64, value []byte) error) error {
	return db.walkAudit(ctx, func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("audit key %x: not a sequence number", k)
		}
		return fn(binary.BigEndian.Uint64(k), v)
	}, nil)
}

// Import fills this store, which must hold no request, audit record or
// notice, with everything src holds, in one transaction: the requests
// with every index written from them, the audit records byte for byte
// (so the chain and its head are the source's), the request_log index
// from them, and the undelivered notices under their own sequence
// numbers with the deliveries already made. The records are not
// verified here: Verify the copy.
func (db *DB) Import(ctx context.Context, src Source) (Copied, error) {
	var n Copied
	if err := db.view(func(tx *bbolt.Tx) error { return checkEmpty(tx) }); err != nil {
		return n, err
	}
	// Read before the write transaction: a long read must not hold it, and
	// src may be this process's other store.
	var reqs []*approvals.Request
	if err := src.AllRequests(ctx, func(r *approvals.Request) error { reqs = append(reqs, r); return nil }); err != nil {
		return n, fmt.Errorf("read the requests: %w", err)
	}
	type record struct {
		seq uint64
		v   []byte
	}
	var recs []record
	if err := src.AuditRecords(ctx, func(seq uint64, v []byte) error {
		recs = append(recs, record{seq, append([]byte(nil), v...)})
		return nil
	}); err != nil {
		return n, fmt.Errorf("read the audit log: %w", err)
	}
	var notices []approvals.Notice
	for after := uint64(0); ; {
		ns, err := src.Notices(ctx, after, batchSize)
		if err != nil {
			return n, fmt.Errorf("read the outbox: %w", err)
		}
		notices = append(notices, ns...)
		if len(ns) < batchSize {
			break
		}
		after = ns[len(ns)-1].Seq
	}
	err := db.update(func(tx *bbolt.Tx) error {
		if err := checkEmpty(tx); err != nil {
			return err
		}
		for _, r := range reqs {
			if err := putRequest(tx, r); err != nil {
				return err
			}
			if err := reindex(tx, nil, r); err != nil {
				return err
			}
		}
		var head auditHead
		for i, rec := range recs {
			if rec.seq != uint64(i)+1 {
				return fmt.Errorf("audit record %d follows record %d: the source's log has a gap", rec.seq, head.Seq)
			}
			ev, err := DecodeAuditRecord(rec.seq, rec.v)
			if err != nil {
				return fmt.Errorf("audit record %d: %w", rec.seq, err)
			}
			if err := tx.Bucket(bucketAudit).Put(seqKey(rec.seq), rec.v); err != nil {
				return fmt.Errorf("put audit record %d: %w", rec.seq, err)
			}
			if err := logEvent(tx, rec.seq, ev); err != nil {
				return err
			}
			head = auditHead{Seq: rec.seq, Hash: ev.Hash}
		}
		if head.Seq > 0 {
			if err := writeHead(tx, head); err != nil {
				return err
			}
			// The bucket's counter numbers the next record.
			if err := tx.Bucket(bucketAudit).SetSequence(head.Seq); err != nil {
				return fmt.Errorf("audit sequence: %w", err)
			}
		}
		b := tx.Bucket(bucketOutbox)
		var last uint64
		for _, nt := range notices {
			v, err := json.Marshal(outboxRecord{Notice: nt})
			if err != nil {
				return fmt.Errorf("encode notice %d: %w", nt.Seq, err)
			}
			if err := b.Put(seqKey(nt.Seq), v); err != nil {
				return fmt.Errorf("put notice %d: %w", nt.Seq, err)
			}
			last = max(last, nt.Seq)
		}
		if last > b.Sequence() {
			if err := b.SetSequence(last); err != nil {
				return fmt.Errorf("outbox sequence: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return Copied{Requests: len(reqs), Records: len(recs), Notices: len(notices)}, nil
}

// checkEmpty refuses a store that holds anything a copy would mix with.
func checkEmpty(tx *bbolt.Tx) error {
	for _, b := range [][]byte{bucketRequests, bucketAudit, bucketOutbox} {
		if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
			return fmt.Errorf("the target database is not empty (its %s bucket has entries): a copy goes into an empty store only", b)
		}
	}
	return nil
}
