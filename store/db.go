package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout drawn in doc.go. Version 1 differs from 2
// only in its audit records, which later versions still read; version 3
// adds the request_log, providers_in_use and resume indexes, and version
// 4 the pending index, which the migration builds (see migrate).
const schemaVersion = "4"

// Bucket names. Every bucket is created by Open.
var (
	// bucketMeta holds the schema version and the audit head.
	bucketMeta = []byte("meta")
	// bucketRequests maps a request ID to its JSON record.
	bucketRequests = []byte("requests")
	// bucketOpen maps requester 0x00 resource to the ID of the one open
	// request for that pair.
	bucketOpen = []byte("open")
	// bucketRevokes indexes requests by the instant their revoke is due.
	bucketRevokes = []byte("revokes_by_time")
	// bucketGrants indexes every grant ever made by resource and grant time.
	bucketGrants = []byte("grants_by_resource")
	// bucketAudit is the hash-chained audit log; its name is part of the
	// external contract.
	bucketAudit = []byte("audit")
	// bucketOutbox holds the chat notices not yet delivered, in commit
	// order.
	bucketOutbox = []byte("outbox")
	// bucketRequestLog holds, per request, its state as the audit log
	// tells it: the number of its last event, the expiry and the status
	// after it (schema 3).
	bucketRequestLog = []byte("request_log")
	// bucketProviders counts the open requests of each provider (schema 3).
	bucketProviders = []byte("providers_in_use")
	// bucketResume holds the requests a start must take up again
	// (approvals.Request.NeedsResume; schema 3).
	bucketResume = []byte("resume")
	// bucketPending holds the requests waiting for a decision (schema 4).
	bucketPending = []byte("pending")

	// v2Buckets are the buckets of schema versions 1 and 2, which a
	// read-only open reads as they are.
	v2Buckets  = [][]byte{bucketMeta, bucketRequests, bucketOpen, bucketRevokes, bucketGrants, bucketAudit, bucketOutbox}
	v3Buckets  = append(v2Buckets[:len(v2Buckets):len(v2Buckets)], bucketRequestLog, bucketProviders, bucketResume)
	allBuckets = append(v3Buckets[:len(v3Buckets):len(v3Buckets)], bucketPending)
)

// Keys in bucketMeta.
var (
	keySchema    = []byte("schema")
	keyAuditHead = []byte("audit_head")
)

// lockTimeout bounds how long Open waits for another process to release the
// file: a second opener should fail fast with a clear message, not hang.
const lockTimeout = time.Second

// DB is an open accessbot database. Its methods are safe for concurrent use.
// Writes go through a group committer (see update): concurrent writes share
// one bbolt write transaction, and so one pair of fsyncs, but each still
// runs as if alone, after the writes queued before it, which is what
// serialises concurrent updates of one request.
type DB struct {
	bolt *bbolt.DB
	path string
	// outboxSignal wakes the delivery worker after notices are queued.
	outboxSignal chan struct{}
	// keys are the audit keys given to OpenWith, the one that writes
	// first; none for a plain SHA-256 chain.
	keys []auditKey
	// readOnly refuses every write (Options.ReadOnly).
	readOnly bool

	// commits counts write transactions committed since Open.
	commits atomic.Uint64

	// wmu guards queue and leading.
	wmu sync.Mutex
	// queue holds the writes waiting for the next commit, oldest first.
	queue []*write
	// leading is true while some caller of update is committing for the
	// others; it hands the role on rather than clearing it while writes
	// wait, so a queued write never waits for a caller that arrives later.
	leading bool
}

// maxBatch caps how many writes share one transaction: a bigger batch
// holds its leader longer and makes a failing write cost more re-runs.
const maxBatch = 256

// Options are the settings of OpenWith. The zero Options are Open's.
type Options struct {
	// AuditKey, when set, chains new audit records with HMAC-SHA-256 under
	// this key instead of plain SHA-256, so that someone who can write the
	// file but does not have the key cannot recompute the chain after
	// changing a record. Verify then needs the key of every keyed record.
	// It must be at least 16 bytes; 32 random bytes are best.
	AuditKey []byte
	// AuditKeys are more keys, for rotation: Verify accepts records made
	// with any of them (each record names its key by ID). When AuditKey is
	// empty, the first of them writes. To rotate, make the new key
	// AuditKey and keep the old ones here.
	AuditKeys [][]byte
	// ReadOnly opens the file for reading only, for the operator CLI's
	// reads: nothing is written, not even a migration (schema 1 and 2 files
	// are read as they are), the file must exist, and writes fail with
	// ErrReadOnly. Several read-only opens may share the file, but not with
	// a writer: either waits for the other, up to the lock timeout.
	ReadOnly bool
}

// ErrReadOnly is the error of a write to a database opened with
// Options.ReadOnly.
var ErrReadOnly = errors.New("opened read-only")

// Open opens the database at path, creating the file (mode 0600) and its
// buckets if needed. It fails after about a second if another process holds
// the file, and refuses a file whose schema version it does not know.
func Open(path string) (*DB, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options. It refuses audit keys that are too short
// or given twice and, unless ReadOnly, when the last audit record is keyed,
// a set of keys that does not hold that record's key: appending under
// another key, or none, would break the chain.
func OpenWith(path string, opts Options) (*DB, error) {
	keys, err := auditKeys(opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, ReadOnly: opts.ReadOnly})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open bolt %s: the database is locked by another process, likely a running `accessbot serve`: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, keys: keys, readOnly: opts.ReadOnly, outboxSignal: make(chan struct{}, 1)}
	if opts.ReadOnly {
		if err := b.View(checkSchema); err != nil {
			b.Close()
			return nil, fmt.Errorf("open bolt %s: %w", path, err)
		}
		return db, nil
	}
	if err := b.Update(initialize); err != nil {
		b.Close()
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	if err := db.view(db.checkLastKey); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// auditKeys returns the keys opts names, the writing key first.
func auditKeys(opts Options) ([]auditKey, error) {
	var keys []auditKey
	for _, raw := range append([][]byte{opts.AuditKey}, opts.AuditKeys...) {
		if len(raw) == 0 && len(keys) == 0 {
			continue // no AuditKey: the first of AuditKeys writes
		}
		k, err := newAuditKey(raw)
		if err != nil {
			return nil, err
		}
		for _, o := range keys {
			if o.id == k.id {
				return nil, fmt.Errorf("audit key %s is given twice", keyName(k.id[:]))
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// writeKey returns the key new audit records are made with; the zero
// auditKey for plain SHA-256.
func (db *DB) writeKey() auditKey { return writeKey(db.keys) }

// writeKey returns the first of keys, the zero auditKey when there is none.
func writeKey(keys []auditKey) auditKey {
	if len(keys) == 0 {
		return auditKey{}
	}
	return keys[0]
}

// checkLastKey refuses to go on after a keyed record without its key.
func (db *DB) checkLastKey(tx *bbolt.Tx) error {
	k, v := tx.Bucket(bucketAudit).Cursor().Last()
	if k == nil {
		return nil
	}
	return checkLastRecord(db.keys, recordName(k), v)
}

// checkLastRecord refuses to go on after v, the last audit record (named
// name), when it is keyed and its key is not among keys.
func checkLastRecord(keys []auditKey, name string, v []byte) error {
	rec, err := splitRecord(v)
	if err != nil || rec.format != formatHMAC {
		return nil // Verify's to report
	}
	if len(keys) == 0 {
		return fmt.Errorf("the audit log is keyed (record %s, key %s): set ACCESSBOT_AUDIT_KEY_FILE", name, keyName(rec.keyID))
	}
	if findKey(keys, rec.keyID) == nil {
		return fmt.Errorf("the last audit record (%s) was made with audit key %s, which is not among the keys given: keep it among the older keys", name, keyName(rec.keyID))
	}
	return nil
}

// key returns the key with ID id, or nil.
func (db *DB) key(id []byte) *auditKey { return findKey(db.keys, id) }

// findKey returns the key of keys with ID id, or nil.
func findKey(keys []auditKey, id []byte) *auditKey {
	for i := range keys {
		if bytes.Equal(keys[i].id[:], id) {
			return &keys[i]
		}
	}
	return nil
}

// checkSchema refuses a file that is not an accessbot database of a
// version this package reads, without writing anything.
func checkSchema(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("not an accessbot database: it has no meta bucket")
	}
	version := meta.Get(keySchema)
	if !knownSchema(version) {
		return fmt.Errorf("database schema version %q is not supported by this accessbot (it reads versions 1 to %s); use the accessbot release that wrote it", version, schemaVersion)
	}
	need := allBuckets
	switch string(version) {
	case "1", "2":
		need = v2Buckets
	case "3":
		need = v3Buckets
	}
	for _, name := range need {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("not an accessbot database: bucket %s missing", name)
		}
	}
	return nil
}

// initialize creates every bucket in one transaction and checks the schema
// version, so a half-initialised file cannot exist.
func initialize(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	var version []byte
	if meta != nil {
		version = meta.Get(keySchema)
	}
	switch {
	case version == nil:
		// A new file, unless someone pointed us at another program's bbolt
		// file: writing our buckets into it would corrupt both.
		if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			return fmt.Errorf("not an accessbot database: it has bucket %q and no schema version", name)
		}); err != nil {
			return err
		}
	case !knownSchema(version):
		return fmt.Errorf("database schema version %q is not supported by this accessbot (it reads versions 1 to %s); use the accessbot release that wrote it", version, schemaVersion)
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if string(version) == schemaVersion {
		return nil
	}
	if version != nil {
		// Version 1 or 2: its audit records stay in their format, which
		// later versions read and verify, and new records follow in the
		// new one. The indexes of version 3 are built from the log and
		// the requests, and those of version 4 from the open requests.
		if err := migrate(tx, string(version)); err != nil {
			return fmt.Errorf("migrate schema %s to %s: %w", version, schemaVersion, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaVersion))
}

// knownSchema reports whether this package reads schema version v.
func knownSchema(v []byte) bool {
	return string(v) == "1" || string(v) == "2" || string(v) == "3" || string(v) == schemaVersion
}

// Close closes the database file, waiting for open transactions to finish.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close bolt %s: %w", db.path, err)
	}
	return nil
}

// Ping reports whether the database can be read, for health checks.
func (db *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
}

// view runs fn in a read transaction, adding the file name to bbolt's own
// errors (a closed database). Errors that fn returns pass through
// unchanged, so approvals error codes and sentinel errors survive.
func (db *DB) view(fn func(tx *bbolt.Tx) error) error {
	var fnErr error
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	return db.edgeError(err, fnErr)
}

// update runs fn in a write transaction. Errors that fn returns pass
// through unchanged; bbolt's own errors are wrapped with the file name.
//
// Concurrent calls are committed together. A caller queues fn; if no
// commit is under way it leads at once (a lone writer never waits), taking
// every write queued at that moment, up to maxBatch, into one transaction.
// Writes that arrive meanwhile queue up, and when the leader's transaction
// is done it hands the lead to the oldest of them, which commits that
// whole queue. So each caller commits at most one batch, and the writer is
// never idle while writes wait.
//
// If fn fails, the transaction is rolled back and run again without it,
// and fn gets its error: the outcome is that of a serial order in which
// fn ran after the writes before it in the batch and wrote nothing. So fn
// may run more than once, in a transaction holding other callers' writes:
// it must have no effect outside tx but its result, which it must set
// afresh on every run. A panic in fn is re-raised in its own caller.
func (db *DB) update(fn func(tx *bbolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("bolt %s: %w", db.path, ErrReadOnly)
	}
	w := &write{fn: fn, done: make(chan bool, 1)}
	db.wmu.Lock()
	db.queue = append(db.queue, w)
	lead := !db.leading
	db.leading = true
	db.wmu.Unlock()
	if lead || !<-w.done {
		// Leading: w is the oldest queued write, so it is in this batch.
		db.wmu.Lock()
		n := min(len(db.queue), maxBatch)
		batch := append([]*write(nil), db.queue[:n]...)
		db.queue = append(db.queue[:0], db.queue[n:]...)
		db.wmu.Unlock()

		db.commit(batch)
		for _, o := range batch {
			if o != w {
				o.done <- true
			}
		}

		db.wmu.Lock()
		if len(db.queue) > 0 {
			db.queue[0].done <- false // lead the next batch
		} else {
			db.leading = false
		}
		db.wmu.Unlock()
	}
	if w.panicked != nil {
		panic(w.panicked.value)
	}
	return w.err
}

// write is one call of update waiting for, or done with, its commit.
type write struct {
	fn       func(tx *bbolt.Tx) error
	err      error
	panicked *panicValue
	// done receives true once err is set, or false when the caller is to
	// lead the next batch.
	done chan bool
}

// panicValue carries a panic of fn back to its own caller.
type panicValue struct{ value any }

func (p *panicValue) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// commit runs batch in one write transaction and sets each write's error.
// A failing write is dropped with its error and the rest run again in a
// fresh transaction.
func (db *DB) commit(batch []*write) {
	for len(batch) > 0 {
		failed := -1
		err := db.bolt.Update(func(tx *bbolt.Tx) error {
			for i, w := range batch {
				if err := w.run(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			// err is the write's own error, which bbolt returns unchanged
			// after the rollback.
			batch[failed].err = err
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			db.commits.Add(1)
		}
		for _, w := range batch {
			w.err = db.edgeError(err, nil)
		}
		return
	}
}

// run calls w.fn, turning a panic into an error that fails only w.
func (w *write) run(tx *bbolt.Tx) (err error) {
	w.panicked = nil
	defer func() {
		if v := recover(); v != nil {
			w.panicked = &panicValue{v}
			err = w.panicked
		}
	}()
	return w.fn(tx)
}

// Commits returns the number of write transactions the database committed
// since Open, each with bbolt's fsyncs; with the number of writes it gives
// fsyncs per write.
func (db *DB) Commits() uint64 { return db.commits.Load() }

// edgeError returns fnErr as it is (bbolt returns it unchanged after the
// rollback) and wraps errors of bbolt's own making.
func (db *DB) edgeError(err, fnErr error) error {
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("bolt %s: %w", db.path, err)
	}
	return nil
}

// unixEpoch and maxKeyTime bound the instants a time key can represent.
var (
	unixEpoch  = time.Unix(0, 0)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// nanos returns t as Unix nanoseconds clamped to [0, MaxInt64], so that the
// big-endian encoding sorts like the instants (UnixNano is undefined
// outside 1678-2262, and negative values would sort last).
func nanos(t time.Time) uint64 {
	switch {
	case t.Before(unixEpoch):
		return 0
	case t.After(maxKeyTime):
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// timeKey returns the 8-byte big-endian key of t.
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), nanos(t))
}

// seqKey returns the 8-byte big-endian key of an audit sequence number.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// openKey returns the key of the open index for requester and resource.
func openKey(requester, resource string) []byte {
	return appendOpenKey(make([]byte, 0, len(requester)+1+len(resource)), requester, resource)
}

func appendOpenKey(dst []byte, requester, resource string) []byte {
	dst = append(dst, requester...)
	dst = append(dst, 0)
	return append(dst, resource...)
}

// revokeKey returns the key of the revoke index for a revoke due at due.
func revokeKey(due time.Time, id string) []byte {
	return appendRevokeKey(make([]byte, 0, 8+len(id)), due, id)
}

func appendRevokeKey(dst []byte, due time.Time, id string) []byte {
	dst = binary.BigEndian.AppendUint64(dst, nanos(due))
	return append(dst, id...)
}

// grantPrefix returns the prefix of every grants_by_resource key of resource.
func grantPrefix(resource string) []byte {
	k := make([]byte, 0, len(resource)+1+8+12)
	k = append(k, resource...)
	return append(k, 0)
}

// grantKey returns the key of the grant index for a grant made at granted.
func grantKey(resource string, granted time.Time, id string) []byte {
	return appendGrantKey(make([]byte, 0, len(resource)+1+8+len(id)), resource, granted, id)
}

func appendGrantKey(dst []byte, resource string, granted time.Time, id string) []byte {
	dst = append(dst, resource...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, nanos(granted))
	return append(dst, id...)
}
