package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// notifyChannel is the LISTEN/NOTIFY channel of outbox commits. Its payload
// is the schema, since notifications reach every session of the database.
const notifyChannel = "accessbot_outbox"

// wtx is a write transaction of the committer, shared by the writes of a
// batch, on a connection of its own. It sends as few round trips as it
// can: BEGIN goes with the first statements, the statements that writes
// need no answer from are held back (queue) and sent with the next read
// or with the write-back of the heads and COMMIT, so a batch of writes
// that read nothing is one round trip.
//
// The heads of the audit log and the outbox come from the DB's cache of
// what its last commit wrote, when it has one; otherwise the first write
// that appends an event or queues a notice locks the audit head and then
// the outbox head (SELECT … FOR UPDATE), in that order, until the
// transaction ends. Later writes of the batch go on from the heads kept
// here, and finish writes them back once, on the condition that they are
// still what the batch started from: if another replica moved them
// meanwhile, the write-back (or an insert of a record or notice whose
// seq is taken) fails, the transaction rolls back, and the batch runs
// again on locked heads (see staleHead). So appends from every replica
// form one chain that never forks, and notices become visible in the
// order of their sequence numbers.
type wtx struct {
	conn  *pgx.Conn
	chain *store.AuditChain
	begun bool
	// held are the statements queued and not yet sent, and owners the
	// write (index in the batch) each one belongs to with how to explain
	// its failure to that write's caller.
	held   []*pgx.QueuedQuery
	owners []owner
	// cur is the index of the write running.
	cur int
	// failed is the write a held statement of failed (-1 for none), and
	// failedErr its explained error.
	failed    int
	failedErr error
	// known says whether the heads below are known, from the cache or
	// locked; from is what they were when the batch began.
	known     bool
	from      heads
	auditSeq  uint64
	auditHash string
	outboxSeq uint64
	// appended and queued say whether the heads moved.
	appended, queued bool
}

// heads are the audit and outbox heads as a commit left them.
type heads struct {
	auditSeq  uint64
	auditHash string
	outboxSeq uint64
}

// owner is the write a held statement belongs to.
type owner struct {
	write   int
	explain func(error) error
}

// newWtx starts a write transaction on conn (BEGIN is sent with the first
// statements), from the cached heads h when not nil.
func newWtx(conn *pgx.Conn, h *heads, chain *store.AuditChain) *wtx {
	t := &wtx{conn: conn, chain: chain, failed: -1}
	if h != nil {
		t.known, t.from = true, *h
		t.auditSeq, t.auditHash, t.outboxSeq = h.auditSeq, h.auditHash, h.outboxSeq
	}
	return t
}

// queue holds b's statements, of the running write, to be sent with the
// next round trip. explain turns an error of theirs into the write's (nil:
// wrapped as a write error).
func (t *wtx) queue(b *pgx.Batch, explain func(error) error) {
	if explain == nil {
		explain = func(err error) error { return fmt.Errorf("write: %w", err) }
	}
	for _, q := range b.QueuedQueries {
		t.held = append(t.held, q)
		t.owners = append(t.owners, owner{t.cur, explain})
	}
}

// send sends BEGIN if not yet sent, the held statements and b in one round
// trip. An error of b's statements is returned as it is; an error of a
// held statement is also recorded as its write's failure (failed,
// failedErr), unless it is a serialization failure, a deadlock or stale
// heads, which fail the whole batch.
func (t *wtx) send(ctx context.Context, b *pgx.Batch) error {
	var all pgx.Batch
	if !t.begun {
		all.Queue(`BEGIN`)
	}
	first := all.Len()
	all.QueuedQueries = append(all.QueuedQueries, t.held...)
	owners := t.owners
	t.held, t.owners = nil, nil
	if b != nil {
		all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	}
	if all.Len() == 0 {
		return nil
	}
	t.begun = true
	at := -1
	for i, q := range all.QueuedQueries {
		fn := q.Fn
		q.Fn = func(br pgx.BatchResults) error {
			var err error
			if fn != nil {
				err = fn(br)
			} else {
				_, err = br.Exec()
			}
			if err != nil && at < 0 {
				at = i
			}
			return err
		}
	}
	err := t.conn.SendBatch(ctx, &all).Close()
	if err == nil || retryable(err) || staleHead(err) {
		return err
	}
	if i := at - first; at >= first && i < len(owners) {
		t.failed, t.failedErr = owners[i].write, owners[i].explain(err)
	}
	return err
}

// queryRow runs sql, after the held statements, and scans its one row
// into dest.
func (t *wtx) queryRow(ctx context.Context, dest []any, sql string, args ...any) error {
	var b pgx.Batch
	b.Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(dest...) })
	return t.send(ctx, &b)
}

func (t *wtx) lockHeads(ctx context.Context) error {
	if t.known {
		return nil
	}
	var b pgx.Batch
	b.Queue(`SELECT seq, hash FROM audit_head FOR UPDATE`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&t.auditSeq, &t.auditHash)
	})
	b.Queue(`SELECT seq FROM outbox_head FOR UPDATE`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&t.outboxSeq)
	})
	if err := t.send(ctx, &b); err != nil {
		return fmt.Errorf("lock the audit and outbox heads: %w", err)
	}
	t.known = true
	t.from = heads{t.auditSeq, t.auditHash, t.outboxSeq}
	return nil
}

// finish sends the held statements, writes the heads back if they moved
// (on the condition that they are still what the batch began from),
// notifies the listeners when notices were queued (delivered at commit),
// and, with commit, commits.
func (t *wtx) finish(ctx context.Context, commit bool) error {
	var b pgx.Batch
	// An UPDATE that finds no row is no error; dividing by the number of
	// rows it updated makes one, which aborts the transaction before the
	// COMMIT behind it in the same round trip.
	if t.appended {
		b.Queue(`WITH moved AS (UPDATE audit_head SET seq = $1, hash = $2 WHERE seq = $3 AND hash = $4 RETURNING 1)
			SELECT 1 / count(*)::int FROM moved`,
			int64(t.auditSeq), t.auditHash, int64(t.from.auditSeq), t.from.auditHash)
	}
	if t.queued {
		b.Queue(`WITH moved AS (UPDATE outbox_head SET seq = $1 WHERE seq = $2 RETURNING 1)
			SELECT 1 / count(*)::int FROM moved`, int64(t.outboxSeq), int64(t.from.outboxSeq))
		b.Queue(`SELECT pg_notify($1, current_schema())`, notifyChannel)
	}
	if commit && (t.begun || len(t.held) > 0 || b.Len() > 0) {
		b.Queue(`COMMIT`)
	}
	if err := t.send(ctx, &b); err != nil {
		return fmt.Errorf("write the audit and outbox heads: %w", err)
	}
	return nil
}

// staleHead says whether err comes of heads that another replica moved
// since this DB's last commit: the conditional write-back found no row
// (division by zero, see finish), or a record or notice took a seq already
// taken.
func staleHead(err error) bool {
	code, constraint := pgCode(err)
	return code == "22012" || (code == "23505" && (constraint == "audit_pkey" || constraint == "outbox_pkey"))
}

// appendAndQueue appends evs to the audit log and queues notices, each
// filled in with r (nil for notices about no request), inside tx, after
// the statements already queued on b (nil for none). The statements are
// held and sent with the transaction's next round trip; explain turns
// their error into the write's (see wtx.queue). The error returned is
// one of encoding, or of reading the heads.
func appendAndQueue(ctx context.Context, tx *wtx, b *pgx.Batch, evs []approvals.Event, r *approvals.Request, notices []approvals.Notice, explain func(error) error) error {
	if b == nil {
		b = &pgx.Batch{}
	}
	if len(evs) > 0 || len(notices) > 0 {
		if err := tx.lockHeads(ctx); err != nil {
			return err
		}
	}
	seq, prev, nseq := tx.auditSeq, tx.auditHash, tx.outboxSeq
	if len(evs) > 0 {
		seqs := make([]int64, 0, len(evs))
		recs := make([][]byte, 0, len(evs))
		for _, ev := range evs {
			// As the bbolt store prepares an event, so the bytes agree.
			if ev.Time.IsZero() {
				ev.Time = time.Now()
			}
			ev.Time = ev.Time.UTC()
			ev.ExpiresAt = ev.ExpiresAt.UTC()
			seq++
			ev.Seq = seq
			v, hash, err := tx.chain.Encode(ev, prev)
			if err != nil {
				return err
			}
			seqs = append(seqs, int64(seq))
			recs = append(recs, v)
			prev = hash
		}
		b.Queue(`INSERT INTO audit (seq, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, seqs, recs)
	}
	if len(notices) > 0 {
		seqs := make([]int64, 0, len(notices))
		vs := make([][]byte, 0, len(notices))
		for _, n := range notices {
			if r != nil {
				// The snapshot is for telling what happened; the provider
				// settings are no part of that and are left out.
				n.Request = r.Clone()
				n.Request.Settings = nil
				n.RequestID = r.ID
			}
			n.At = n.At.UTC()
			v, err := json.Marshal(n)
			if err != nil {
				return fmt.Errorf("encode notice: %w", err)
			}
			nseq++
			seqs = append(seqs, int64(nseq))
			vs = append(vs, v)
		}
		// Sequence numbers come from the outbox head, not from a
		// sequence: a sequence hands out numbers in the order
		// transactions ask, and a delivery worker that has read notice 7
		// would never go back for a notice 6 committed after it.
		b.Queue(`INSERT INTO outbox (seq, notice) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, seqs, vs)
	}
	tx.queue(b, explain)
	// A statement that fails aborts the transaction, which then runs again
	// from the heads it began from.
	tx.auditSeq, tx.auditHash, tx.outboxSeq = seq, prev, nseq
	tx.appended = tx.appended || len(evs) > 0
	tx.queued = tx.queued || len(notices) > 0
	return nil
}

// AppendEvent appends an event that changes no request (a policy load, a
// drift finding) and queues notices.
func (db *DB) AppendEvent(ctx context.Context, ev approvals.Event, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		return appendAndQueue(ctx, tx, nil, []approvals.Event{ev}, nil, notices, nil)
	})
	if err == nil && len(notices) > 0 {
		db.wakeOutbox()
	}
	return err
}

// AuditHead returns the number of audit records and the hash of the last
// one, the anchor summaries publish.
func (db *DB) AuditHead(ctx context.Context) (approvals.Anchor, error) {
	if err := ctx.Err(); err != nil {
		return approvals.Anchor{}, err
	}
	var seq int64
	var hash string
	if err := db.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head`).Scan(&seq, &hash); err != nil {
		return approvals.Anchor{}, fmt.Errorf("audit head: %w", err)
	}
	return approvals.Anchor{Count: uint64(seq), Hash: hash}, nil
}

// LastEvent returns the last audit event, and false when the log is empty.
func (db *DB) LastEvent(ctx context.Context) (approvals.Event, bool, error) {
	if err := ctx.Err(); err != nil {
		return approvals.Event{}, false, err
	}
	seq, v, ok, err := db.lastRecord(ctx)
	if err != nil || !ok {
		return approvals.Event{}, false, err
	}
	ev, err := store.DecodeAuditRecord(seq, v)
	return ev, err == nil, err
}

// Events calls fn with every audit event in order (see EventsBetween).
func (db *DB) Events(ctx context.Context, fn func(approvals.Event) error) error {
	return db.EventsBetween(ctx, time.Time{}, time.Time{}, fn)
}

// EventsBetween calls fn, in log order, with the events whose Time is at or
// after since and before until; a zero since or until leaves that side
// open. Event times come from the callers' clocks and need not grow with
// the sequence, so the whole log is read, in batches; fn runs between
// queries, in no transaction. The log is only ever appended to, so the
// walk sees a prefix of it plus whatever was appended while it ran.
func (db *DB) EventsBetween(ctx context.Context, since, until time.Time, fn func(approvals.Event) error) error {
	return db.walkAudit(ctx, 0, func(seq uint64, v []byte) error {
		ev, err := store.DecodeAuditRecord(seq, v)
		if err != nil {
			return err
		}
		if (!since.IsZero() && ev.Time.Before(since)) || (!until.IsZero() && !ev.Time.Before(until)) {
			return nil
		}
		return fn(ev)
	})
}

// AuditRecords calls fn with every stored audit record in order, as
// stored: the bytes `accessbot audit verify` checks.
func (db *DB) AuditRecords(ctx context.Context, fn func(seq uint64, value []byte) error) error {
	return db.walkAudit(ctx, 0, fn)
}

// Verify recomputes the hash chain of the audit log with the bbolt
// store's verifier (store.AuditVerifier), up to the head read when it
// starts: records appended meanwhile are left for the next run. It
// returns an error naming the first bad record (changed, removed,
// inserted, reordered) or saying that the log ends before or after its
// head (records cut from the end, or the head edited). VerifyAnchor,
// against an anchor kept elsewhere, also catches a log cut back together
// with its head.
func (db *DB) Verify(ctx context.Context) (store.VerifyResult, error) {
	head, err := db.AuditHead(ctx)
	if err != nil {
		return store.VerifyResult{}, err
	}
	vf := db.chain.Verifier()
	if head.Count > 0 {
		if err := db.walkAudit(ctx, int64(head.Count), vf.Check); err != nil {
			return store.VerifyResult{}, err
		}
	}
	res := vf.Result()
	if res.Count != head.Count || res.Head != head.Hash {
		return store.VerifyResult{}, fmt.Errorf("audit log ends at record %d but the store's head is record %d (records removed from the end, or the head edited)", res.Count, head.Count)
	}
	return res, nil
}

// VerifyAnchor checks that audit record n (counting from 1) carries hash
// hash, as recorded by an earlier Verify (see store.VerifyResult.Anchor).
// Run it after Verify: together they prove that the log still starts with
// the anchored records.
func (db *DB) VerifyAnchor(ctx context.Context, hash string, n uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 || n > 1<<63-1 {
		return approvals.Errorf(approvals.EINVALID, "audit anchor: record numbers count from 1")
	}
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT record FROM audit WHERE seq = $1`, int64(n)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		var last int64
		if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM audit`).Scan(&last); err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		return fmt.Errorf("audit record %d is missing: the log ends at record %d (cut back below the anchor)", n, last)
	}
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	return db.chain.CheckAnchored(n, v, hash)
}

// checkLastKey refuses to go on after a keyed record without its key, as
// the bbolt store does at open.
func (db *DB) checkLastKey(ctx context.Context) error {
	seq, v, ok, err := db.lastRecord(ctx)
	if err != nil || !ok {
		return err
	}
	return db.chain.CheckLast(seq, v)
}

// lastRecord returns the last audit record and its seq, and false when the
// log is empty.
func (db *DB) lastRecord(ctx context.Context) (uint64, []byte, bool, error) {
	var seq int64
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT seq, record FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read audit log: %w", err)
	}
	return uint64(seq), v, true, nil
}

// walkAudit calls fn with the audit records in order, up to record upto
// (0: all), a batch per query, fn between queries.
func (db *DB) walkAudit(ctx context.Context, upto int64, fn func(seq uint64, v []byte) error) error {
	if upto <= 0 {
		upto = 1<<63 - 1
	}
	type record struct {
		seq int64
		v   []byte
	}
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := db.pool.Query(ctx, `SELECT seq, record FROM audit WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, after, upto, batchSize)
		if err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		batch := make([]record, 0, batchSize)
		for rows.Next() {
			var r record
			if err := rows.Scan(&r.seq, &r.v); err != nil {
				rows.Close()
				return fmt.Errorf("read audit log: %w", err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read audit log: %w", err)
		}
		for _, r := range batch {
			if err := fn(uint64(r.seq), r.v); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
		after = batch[len(batch)-1].seq
	}
}
