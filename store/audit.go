package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// auditHead is the last record of the audit log, kept in meta/audit_head so
// an append needs neither a cursor nor a decode.
type auditHead struct {
	Seq  uint64
	Hash string
}

func readHead(tx *bbolt.Tx) (auditHead, error) {
	v := tx.Bucket(bucketMeta).Get(keyAuditHead)
	if v == nil {
		return auditHead{}, nil
	}
	if len(v) < 8 {
		return auditHead{}, fmt.Errorf("meta/audit_head: %d bytes, want at least 8", len(v))
	}
	return auditHead{Seq: binary.BigEndian.Uint64(v), Hash: string(v[8:])}, nil
}

func writeHead(tx *bbolt.Tx, h auditHead) error {
	v := append(seqKey(h.Seq), h.Hash...)
	if err := tx.Bucket(bucketMeta).Put(keyAuditHead, v); err != nil {
		return fmt.Errorf("meta/audit_head: %w", err)
	}
	return nil
}

// appendEvents appends evs to the audit log inside tx, assigning each its
// Seq, PrevHash and Hash, with Time (now if unset) and ExpiresAt in UTC.
func (db *DB) appendEvents(tx *bbolt.Tx, evs ...approvals.Event) error {
	if len(evs) == 0 {
		return nil
	}
	head, err := readHead(tx)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketAudit)
	// Keys only ever grow: full pages waste no space when they split.
	b.FillPercent = 1.0
	key := db.writeKey()
	h := key.hasher()
	for _, ev := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("audit sequence: %w", err)
		}
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		ev.Time = ev.Time.UTC()
		ev.ExpiresAt = ev.ExpiresAt.UTC()
		ev.Seq = seq
		ev.PrevHash = head.Hash
		v, sum, err := encodeRecord(key, h, ev)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return fmt.Errorf("put audit record %d: %w", seq, err)
		}
		if err := logEvent(tx, seq, ev); err != nil {
			return err
		}
		head = auditHead{Seq: seq, Hash: hex.EncodeToString(sum[:])}
	}
	return writeHead(tx, head)
}

// AuditHead returns the number of audit records and the hash of the last
// one: the anchor each summary publishes outside this file, so that
// `accessbot audit verify --expect-head` can later prove the log was not
// cut back and rewritten.
func (db *DB) AuditHead(ctx context.Context) (approvals.Anchor, error) {
	if err := ctx.Err(); err != nil {
		return approvals.Anchor{}, err
	}
	var h auditHead
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		h, err = readHead(tx)
		return err
	})
	return approvals.Anchor{Count: h.Seq, Hash: h.Hash}, err
}

// LastEvent returns the last audit event, and false when the log is empty.
// It reads one record, whatever the length of the log.
func (db *DB) LastEvent(ctx context.Context) (approvals.Event, bool, error) {
	var ev approvals.Event
	if err := ctx.Err(); err != nil {
		return ev, false, err
	}
	var found bool
	err := db.view(func(tx *bbolt.Tx) error {
		k, v := tx.Bucket(bucketAudit).Cursor().Last()
		if k == nil {
			return nil
		}
		found = true
		var err error
		ev, err = decodeEvent(k, v)
		return err
	})
	return ev, found, err
}

// Events calls fn with every audit event in order. fn runs outside any
// transaction; events are read in batches, and since the log is only ever
// appended to, the walk sees a consistent prefix of it plus whatever was
// appended while it ran. An error from fn stops the walk and is returned.
func (db *DB) Events(ctx context.Context, fn func(approvals.Event) error) error {
	return db.EventsBetween(ctx, time.Time{}, time.Time{}, fn)
}

// EventsBetween calls fn, in log order, with the events whose Time is at or
// after since and before until; a zero since or until leaves that side
// open. Event times come from the callers' clocks and need not grow with
// the sequence, so the whole log is read.
func (db *DB) EventsBetween(ctx context.Context, since, until time.Time, fn func(approvals.Event) error) error {
	return db.walkAudit(ctx, func(k, v []byte) error {
		ev, err := decodeEvent(k, v)
		if err != nil {
			return err
		}
		if (!since.IsZero() && ev.Time.Before(since)) || (!until.IsZero() && !ev.Time.Before(until)) {
			return nil
		}
		return fn(ev)
	}, nil)
}

// recordName names the audit record under key k: its number, or the key
// in hex when it is not a sequence number.
func recordName(k []byte) string {
	if len(k) == 8 {
		return fmt.Sprint(binary.BigEndian.Uint64(k))
	}
	return fmt.Sprintf("key %x", k)
}

// walkAudit calls fn with every audit key and value, in order, a batch per
// read transaction, fn outside the transaction. atEnd, when set, runs
// inside the read transaction that reached the end of the log, before fn
// sees that transaction's batch.
func (db *DB) walkAudit(ctx context.Context, fn func(k, v []byte) error, atEnd func(tx *bbolt.Tx) error) error {
	type record struct{ k, v []byte }
	batch := make([]record, 0, batchSize)
	return db.scanAudit(ctx, func(k, v []byte) error {
		batch = append(batch, record{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}, atEnd, func() error {
		defer func() { batch = batch[:0] }()
		for _, r := range batch {
			if err := fn(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanAudit calls inTx with every audit key and value, in order, inside
// read transactions of batchSize records each; k and v are valid only
// during the call. afterTx, when set, runs after each transaction. atEnd,
// when set, runs inside the read transaction that reached the end of the
// log. Short transactions keep a long scan from holding up a writer that
// must grow the file.
func (db *DB) scanAudit(ctx context.Context, inTx func(k, v []byte) error, atEnd func(tx *bbolt.Tx) error, afterTx func() error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		err := db.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketAudit).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			var last []byte
			for n := 0; k != nil && n < batchSize; k, v = c.Next() {
				if err := inTx(k, v); err != nil {
					return err
				}
				last = k
				n++
			}
			if last != nil {
				after = append(after[:0], last...)
			}
			if k == nil {
				done = true
				if atEnd != nil {
					return atEnd(tx)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if afterTx != nil {
			if err := afterTx(); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// VerifyResult describes an intact audit log.
type VerifyResult struct {
	// Count is the number of records, which is also the last Seq.
	Count uint64
	// Head is the hash of the last record ("" for an empty log).
	Head string
	// KeyedFrom is the first record chained with an audit key (see
	// Options.AuditKey), 0 when none is: every later record is keyed too.
	KeyedFrom uint64
}

// Anchor returns the "HASH@N" form that `accessbot audit verify
// --expect-head` takes: kept somewhere the bot cannot write, it lets a
// later VerifyAnchor prove the log was not cut back and regrown.
func (v VerifyResult) Anchor() string { return fmt.Sprintf("%s@%d", v.Head, v.Count) }

// Verify recomputes the hash chain of the whole audit log. It returns an
// error naming the first bad record, telling a changed record, a missing
// one (a gap in the sequence), an inserted or reordered one (a record under
// the wrong key, a broken previous-hash link) and bytes edited without
// changing the decoded event. Records cut from the end are caught by the
// head kept in meta, unless that was rewritten too; VerifyAnchor, against an
// anchor kept elsewhere, catches that as well.
//
// A record in the current format is checked with one hash over its stored
// bytes, without decoding it; a record of schema 1 is decoded and checked
// the way schema 1 was (see doc.go).
func (db *DB) Verify(ctx context.Context) (VerifyResult, error) {
	vf := db.newVerifier()
	// The head and counter are read in the transaction that reached the end
	// of the log, so they describe exactly the records checked.
	var (
		head    auditHead
		counter uint64
	)
	atEnd := func(tx *bbolt.Tx) error {
		var err error
		head, err = readHead(tx)
		counter = tx.Bucket(bucketAudit).Sequence()
		return err
	}
	if err := db.scanAudit(ctx, vf.check, atEnd, nil); err != nil {
		return VerifyResult{}, err
	}
	count, prev := vf.count, string(vf.prev)
	if head.Seq != count || head.Hash != prev {
		return VerifyResult{}, fmt.Errorf("audit log ends at record %d but the store's head is record %d (records removed from the end, or the head edited)", count, head.Seq)
	}
	if counter != count {
		return VerifyResult{}, fmt.Errorf("audit log ends at record %d but its sequence counter is at %d (records removed from the end)", count, counter)
	}
	return VerifyResult{Count: count, Head: prev, KeyedFrom: vf.keyedFrom}, nil
}

// verifier checks audit records one after the other.
type verifier struct {
	count uint64 // records checked so far
	prev  []byte // hash of record count, in hex ("" before record 1)
	hex   [2 * hashSize]byte
	sum   [hashSize]byte
	sha   hash.Hash
	// macs hash keyed records, by key ID.
	macs map[[keyIDSize]byte]hash.Hash
	// keyedFrom and keyed are the first and the last keyed record checked.
	keyedFrom, keyed uint64
}

func (db *DB) newVerifier() *verifier { return newVerifier(db.keys) }

// newVerifier returns a verifier of records made with plain SHA-256 or
// any of keys.
func newVerifier(keys []auditKey) *verifier {
	vf := &verifier{sha: sha256.New(), macs: map[[keyIDSize]byte]hash.Hash{}}
	for _, k := range keys {
		vf.macs[k.id] = k.hasher()
	}
	return vf
}

// hasher returns the hash that checks rec, record seq.
func (vf *verifier) hasher(seq uint64, rec record) (hash.Hash, error) {
	if rec.format != formatHMAC {
		return vf.sha, nil
	}
	if h := vf.macs[[keyIDSize]byte(rec.keyID)]; h != nil {
		return h, nil
	}
	if len(vf.macs) == 0 {
		return nil, fmt.Errorf("audit record %d is keyed: set ACCESSBOT_AUDIT_KEY_FILE", seq)
	}
	return nil, fmt.Errorf("audit record %d was made with audit key %s, which is not among the keys given (an older key missing, or the record forged with another key)", seq, keyName(rec.keyID))
}

// check verifies the record stored as v under key k, the next one after
// vf.count. v is read in place and not kept.
func (vf *verifier) check(k, v []byte) error {
	if len(k) != 8 {
		return fmt.Errorf("audit key %x after record %d: not an 8-byte sequence number (inserted)", k, vf.count)
	}
	seq, want := binary.BigEndian.Uint64(k), vf.count+1
	switch {
	case seq == 0:
		return fmt.Errorf("audit record 0: sequence numbers start at 1 (inserted)")
	case seq == want+1:
		return fmt.Errorf("audit record %d: sequence gap, record %d missing (removed)", seq, want)
	case seq > want:
		return fmt.Errorf("audit record %d: sequence gap, records %d to %d missing (removed)", seq, want, seq-1)
	}
	rec, err := splitRecord(v)
	if err != nil {
		return fmt.Errorf("audit record %d: unreadable (changed): %v", seq, err)
	}
	if rec.format != formatHMAC && vf.keyed != 0 {
		return fmt.Errorf("audit record %d is not keyed, but record %d before it is (the chain was recomputed without the audit key)", seq, vf.keyed)
	}
	if rec.format == formatJSON {
		return vf.checkJSON(seq, v)
	}
	h, err := vf.hasher(seq, rec)
	if err != nil {
		return err
	}
	// Hash first, report in order: the hash reads the body from one end to
	// the other, after which the checks of its two ends find it in the
	// CPU's cache. The previous hash in the hash's input is the verifier's,
	// not the body's, so the link is checked twice over.
	chainSum(h, &vf.sum, vf.prev, rec.body)
	if held, ok := bodySeq(rec.body); !ok {
		return fmt.Errorf("audit record %d: unreadable (changed): no sequence number at the start", seq)
	} else if held != seq {
		return fmt.Errorf("audit record %d: holds record %d (reordered or inserted)", seq, held)
	}
	prev, ok := bodyPrevHash(rec.body)
	if !ok {
		return fmt.Errorf("audit record %d: unreadable (changed): no previous hash at the end", seq)
	}
	if !bytes.Equal(prev, vf.prev) {
		return fmt.Errorf("audit record %d: previous hash does not match record %d (a record changed, removed, inserted or reordered)", seq, vf.count)
	}
	if !hmac.Equal(vf.sum[:], rec.sum) {
		return fmt.Errorf("audit record %d: hash mismatch (changed or reordered)", seq)
	}
	if rec.format == formatHMAC {
		if vf.keyed == 0 {
			vf.keyedFrom = seq
		}
		vf.keyed = seq
	}
	hex.Encode(vf.hex[:], rec.sum)
	vf.count, vf.prev = seq, vf.hex[:]
	return nil
}

// checkJSON verifies a record of schema 1, which holds the JSON of the
// whole event, its hash included: decoded, rehashed and encoded again,
// since the hash was taken over the event, not over the stored bytes.
func (vf *verifier) checkJSON(seq uint64, v []byte) error {
	var ev approvals.Event
	if err := json.Unmarshal(v, &ev); err != nil {
		return fmt.Errorf("audit record %d: unreadable (changed): %v", seq, err)
	}
	if ev.Seq != seq {
		return fmt.Errorf("audit record %d: holds record %d (reordered or inserted)", seq, ev.Seq)
	}
	if ev.PrevHash != string(vf.prev) {
		return fmt.Errorf("audit record %d: previous hash does not match record %d (a record changed, removed, inserted or reordered)", seq, vf.count)
	}
	if ev.ChainHash(ev.PrevHash) != ev.Hash {
		return fmt.Errorf("audit record %d: hash mismatch (changed or reordered)", seq)
	}
	if canon, err := json.Marshal(ev); err != nil || !bytes.Equal(canon, v) {
		return fmt.Errorf("audit record %d: stored bytes are not the encoding of the event (changed)", seq)
	}
	vf.count, vf.prev = seq, []byte(ev.Hash)
	return nil
}

// VerifyAnchor checks that audit record n (counting from 1) carries hash
// hash, as recorded by an earlier Verify (see VerifyResult.Anchor). Run it
// after Verify: together they prove that the log still starts with the
// anchored records, which a log cut back and regrown would not.
func (db *DB) VerifyAnchor(ctx context.Context, hash string, n uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 {
		return approvals.Errorf(approvals.EINVALID, "audit anchor: record numbers count from 1")
	}
	return db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		v := b.Get(seqKey(n))
		if v == nil {
			var last uint64
			if k, _ := b.Cursor().Last(); len(k) == 8 {
				last = binary.BigEndian.Uint64(k)
			}
			return fmt.Errorf("audit record %d is missing: the log ends at record %d (cut back below the anchor)", n, last)
		}
		return checkAnchored(db.keys, n, v, hash)
	})
}

// checkAnchored checks that v, stored as audit record n, carries hash
// hash and that its stored hash is right under keys (see VerifyAnchor).
func checkAnchored(keys []auditKey, n uint64, v []byte, hash string) error {
	ev, err := decodeEvent(seqKey(n), v)
	if err != nil {
		return fmt.Errorf("audit record %d: unreadable (changed): %v", n, err)
	}
	if ev.Hash != hash {
		return fmt.Errorf("audit record %d has hash %s, the anchor says %s (log rewritten after the anchor was taken)", n, ev.Hash, hash)
	}
	rec, _ := splitRecord(v) // decodeEvent parsed it
	if rec.format == formatJSON {
		if ev.ChainHash(ev.PrevHash) != hash {
			return fmt.Errorf("audit record %d: hash mismatch (changed)", n)
		}
		return nil
	}
	h, err := newVerifier(keys).hasher(n, rec)
	if err != nil {
		return err
	}
	prev, ok := bodyPrevHash(rec.body)
	if !ok {
		return fmt.Errorf("audit record %d: unreadable (changed): no previous hash at the end", n)
	}
	var sum [hashSize]byte
	if chainSum(h, &sum, prev, rec.body); !hmac.Equal(sum[:], rec.sum) {
		return fmt.Errorf("audit record %d: hash mismatch (changed)", n)
	}
	return nil
}
