package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// Import fills this store, which must hold no request, audit record or
// notice, with everything src holds (`accessbot migrate --to postgres`),
// in one transaction holding both heads: the requests with their grants
// rows, the audit records byte for byte, so the chain and its head are
// the source's, and the undelivered notices under their own sequence
// numbers with the deliveries already made. An audit record chained with
// a key is refused (see store.CheckCopyable). The records are not
// verified here: Verify the copy.
func (db *DB) Import(ctx context.Context, src store.Source) (store.Copied, error) {
	var n store.Copied
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return n, fmt.Errorf("import: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var headSeq, outboxSeq int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT seq FROM audit_head FOR UPDATE), (SELECT seq FROM outbox_head FOR UPDATE)`).Scan(&headSeq, &outboxSeq); err != nil {
		return n, fmt.Errorf("import: lock the heads: %w", err)
	}
	var nonEmpty bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM outbox)`).Scan(&nonEmpty); err != nil {
		return n, fmt.Errorf("import: %w", err)
	}
	if nonEmpty || headSeq != 0 || outboxSeq != 0 {
		return n, fmt.Errorf("the target schema %s is not empty: a copy goes into an empty store only", db.schema)
	}
	var b pgx.Batch
	flush := func(force bool) error {
		if b.Len() == 0 || (!force && b.Len() < batchSize) {
			return nil
		}
		err := tx.SendBatch(ctx, &b).Close()
		b = pgx.Batch{}
		return err
	}
	err = src.AllRequests(ctx, func(r *approvals.Request) error {
		if err := validate(r); err != nil {
			return err
		}
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode request %s: %w", r.ID, err)
		}
		b.Queue(`INSERT INTO requests (id, requester, resource, status, revoke_due, record) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.Requester, r.Resource, string(r.Status), revokeDue(r), v)
		reindexGrant(&b, nil, r)
		n.Requests++
		return flush(false)
	})
	if err == nil {
		err = flush(true)
	}
	if err != nil {
		return n, fmt.Errorf("import the requests: %w", err)
	}
	var last uint64
	var hash string
	err = src.AuditRecords(ctx, func(seq uint64, v []byte) error {
		if seq != last+1 {
			return fmt.Errorf("audit record %d follows record %d: the source's log has a gap", seq, last)
		}
		ev, err := store.DecodeAuditRecord(seq, v)
		if err != nil {
			return fmt.Errorf("audit record %d: %w", seq, err)
		}
		b.Queue(`INSERT INTO audit (seq, record) VALUES ($1, $2)`, int64(seq), v)
		last, hash = seq, ev.Hash
		n.Records++
		return flush(false)
	})
	if err == nil {
		err = flush(true)
	}
	if err != nil {
		return n, fmt.Errorf("import the audit log: %w", err)
	}
	var lastNotice uint64
	for after := uint64(0); ; {
		ns, err := src.Notices(ctx, after, batchSize)
		if err != nil {
			return n, fmt.Errorf("read the outbox: %w", err)
		}
		for _, nt := range ns {
			done := nt.Done
			if done == nil {
				done = []string{}
			}
			nt.Done = nil
			v, err := json.Marshal(nt)
			if err != nil {
				return n, fmt.Errorf("encode notice %d: %w", nt.Seq, err)
			}
			b.Queue(`INSERT INTO outbox (seq, notice, done) VALUES ($1, $2, $3)`, int64(nt.Seq), v, done)
			lastNotice = max(lastNotice, nt.Seq)
			n.Notices++
		}
		if err := flush(true); err != nil {
			return n, fmt.Errorf("import the outbox: %w", err)
		}
		if len(ns) < batchSize {
			break
		}
		after = ns[len(ns)-1].Seq
	}
	b.Queue(`UPDATE audit_head SET seq = $1, hash = $2`, int64(last), hash)
	b.Queue(`UPDATE outbox_head SET seq = $1`, int64(lastNotice))
	if err := flush(true); err != nil {
		return n, fmt.Errorf("import: write the heads: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return n, fmt.Errorf("import: commit: %w", err)
	}
	db.heads.Store(nil)
	return n, nil
}
