package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accessbot/accessbot/store"
)

// DB is an accessbot store in a PostgreSQL schema. Its methods are safe for
// concurrent use, and several DBs (one per replica) may share the schema.
type DB struct {
	pool *pgxpool.Pool
	// schema is the schema the tables live in (the connection's
	// current_schema() when opened).
	schema string
	cfg    config
	// chain makes and checks audit records, with the audit keys if any.
	chain *store.AuditChain

	// outboxSignal wakes the delivery worker: after a local commit that
	// queued notices, on a notification of another replica's, and on every
	// poll while the listener is down.
	outboxSignal chan struct{}
	stopListen   context.CancelFunc
	listening    sync.WaitGroup

	// commits counts write transactions committed since Open.
	commits atomic.Uint64
	// heads caches the audit and outbox heads as this DB's last commit
	// left them (nil: unknown), for the next batch to start from without
	// reading them (see wtx).
	heads atomic.Pointer[heads]
	// wmu guards queue and leading.
	wmu sync.Mutex
	// queue holds the writes waiting for the next commit, oldest first.
	queue []*pending
	// leading is true while some caller of write is committing for the
	// others; it hands the role on rather than clearing it while writes
	// wait, so a queued write never waits for a caller that arrives later.
	leading bool
}

type config struct {
	pollInterval time.Duration
	maxConns     int32
	auditKey     []byte
	auditKeys    [][]byte
}

// Option changes how Open sets up a DB.
type Option func(*config)

// PollInterval sets how often the outbox signal fires while the connection
// that listens for other replicas' commits is down, and how often that
// connection, when idle, is checked (default 5s). Delivery lags by up to
// this much while the listener is down.
func PollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.pollInterval = d
		}
	}
}

// MaxConns caps the connection pool (default: pgxpool's, the larger of 4
// and the number of CPUs). The outbox listener holds one more connection.
func MaxConns(n int32) Option {
	return func(c *config) {
		if n > 0 {
			c.maxConns = n
		}
	}
}

// AuditKeys chains new audit records with HMAC-SHA-256 under key, as the
// bbolt store does with store.Options.AuditKey, and verifies records
// made with key or any of older (store.Options.AuditKeys), for rotation:
// the same records, the same verification. A key has at least 16 bytes.
// Without it the chain is plain SHA-256, and a store whose last record is
// keyed is refused at Open.
func AuditKeys(key []byte, older ...[]byte) Option {
	return func(c *config) {
		c.auditKey, c.auditKeys = key, older
	}
}

// Open connects to the PostgreSQL database dsn names, applies the
// migrations it lacks (see doc.go) and starts listening for other
// replicas' outbox commits. The tables live in the connection's current
// schema: the first schema of search_path, which the DSN may set (for
// example options=-csearch_path%3Daccessbot). Errors never contain the
// DSN's password.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	cfg := config{pollInterval: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	chain, err := store.NewAuditChain(store.Options{AuditKey: cfg.auditKey, AuditKeys: cfg.auditKeys})
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx leaves the password out of its parse errors.
		return nil, fmt.Errorf("pgstore: parse dsn: %w", err)
	}
	if cfg.maxConns > 0 {
		pc.MaxConns = cfg.maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	db := &DB{pool: pool, cfg: cfg, chain: chain, outboxSignal: make(chan struct{}, 1)}
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&db.schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if db.schema == "" {
		pool.Close()
		return nil, fmt.Errorf("pgstore: no schema to create the tables in: the first schema of search_path must exist")
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: migrate schema %s: %w", db.schema, err)
	}
	if err := db.checkLastKey(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: schema %s: %w", db.schema, err)
	}
	lctx, stop := context.WithCancel(context.Background())
	db.stopListen = stop
	db.listening.Add(1)
	go func() {
		defer db.listening.Done()
		db.listen(lctx, pc.ConnConfig.Copy())
	}()
	return db, nil
}

// Close stops the listener and closes every connection. In-flight calls
// should have returned.
func (db *DB) Close() error {
	db.stopListen()
	db.listening.Wait()
	db.pool.Close()
	return nil
}

// Schema returns the schema the store's tables are in.
func (db *DB) Schema() string { return db.schema }

// Ping checks that the database answers, for health checks.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// maxAttempts bounds how often a batch is run after a serialization
// failure or a deadlock. A DB commits one batch at a time, so only
// replicas can deadlock one another (one holding the heads, the other a
// request the first wants next), which is rare.
const maxAttempts = 5

// maxBatch caps how many writes share one transaction: a bigger batch
// holds the audit head longer and makes a commit failure cost more writes.
const maxBatch = 64

// commitTimeout bounds a batch transaction. The writes in it run under the
// committer's context, not their callers': a caller that gives up must not
// break the connection the others' writes share.
const commitTimeout = 30 * time.Second

// fnError carries an error for the caller (a conflict, a taken ID) out of
// a write that may have written part of its change or aborted the
// transaction, so it is never taken for a retryable database error and
// comes back unwrapped.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// write runs fn in a write transaction and returns once it is committed.
// Errors that fn returns wrapped in fnError or refusal come back unwrapped
// and as they are.
//
// Concurrent calls are committed together, as the bbolt store commits
// them: a caller queues fn; if no commit is under way it leads at once (a
// lone writer never waits), taking every write queued at that moment, up
// to maxBatch, into one transaction. Writes that arrive meanwhile queue
// up, and when the leader's transaction is done it hands the lead to the
// oldest of them. So a burst of writes shares one commit, one WAL flush
// and one lock of the audit head (taken by the first write that appends,
// written back once before the commit; see wtx), instead of queueing one
// commit after the other on the head's row lock.
//
// A write that fails with a refusal wrote nothing and the batch goes on.
// A write that fails otherwise may have written part of its change, or
// aborted the transaction: the transaction is rolled back and run again
// without it, and it gets its error, as if it had run after the writes
// before it and written nothing. A batch that fails on a serialization
// failure or a deadlock (40001, 40P01) is run again whole, up to
// maxAttempts times. So fn may run more than once, each time after the
// writes before it, and must have no effect outside tx but its result,
// which it must set afresh on every run. It gets the committer's context.
// A panic in fn is raised again in its own caller.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &pending{ctx: ctx, fn: fn, done: make(chan bool, 1)}
	db.wmu.Lock()
	db.queue = append(db.queue, w)
	lead := !db.leading
	db.leading = true
	db.wmu.Unlock()
	if lead || !<-w.done {
		// Leading: w is the oldest queued write, so it is in this batch.
		db.wmu.Lock()
		n := min(len(db.queue), maxBatch)
		batch := append([]*pending(nil), db.queue[:n]...)
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
	var fe fnError
	if errors.As(w.err, &fe) {
		return fe.err
	}
	var rf refusal
	if errors.As(w.err, &rf) {
		return rf.err
	}
	return w.err
}

// refusal is the error of a write that wrote nothing (a Transition whose
// fn refused, a request not found): the batch's transaction is intact and
// goes on without it.
type refusal struct{ err error }

func (e refusal) Error() string { return e.err.Error() }

// pending is one call of write waiting for, or done with, its commit.
type pending struct {
	ctx      context.Context
	fn       func(ctx context.Context, tx *wtx) error
	err      error
	panicked *panicValue
	// done receives true once err is set, or false when the caller is to
	// lead the next batch.
	done chan bool
}

// panicValue carries a panic of fn back to its own caller.
type panicValue struct{ value any }

func (p *panicValue) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// commit runs batch in one transaction and sets each write's error (see
// write).
func (db *DB) commit(batch []*pending) {
	for attempt := 1; len(batch) > 0; {
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		failed, err := db.runBatch(ctx, batch)
		cancel()
		switch {
		case err == nil:
			db.commits.Add(1)
			return
		case staleHead(err) && attempt < maxAttempts:
			// Another replica moved the heads: run the batch again on
			// locked heads.
			db.heads.Store(nil)
			attempt++
		case retryable(err) && attempt < maxAttempts:
			// Lost to another replica's transaction: run the batch again.
			attempt++
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
		case failed >= 0:
			// batch[failed].err is set; the rest run again without it.
			batch = append(batch[:failed:failed], batch[failed+1:]...)
		default:
			for _, w := range batch {
				if w.err == nil {
					w.err = fmt.Errorf("commit: %w", err)
				}
			}
			return
		}
	}
}

// runBatch runs batch in one transaction on a connection of the pool and
// commits it, or rolls it back and returns the error and the index of the
// write that failed (-1 when it is no single write's).
func (db *DB) runBatch(ctx context.Context, batch []*pending) (failed int, err error) {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return -1, err
	}
	defer c.Release()
	t := newWtx(c.Conn(), db.heads.Load(), db.chain)
	failed = -1
	err = func() error {
		for i, w := range batch {
			t.cur = i
			w.run(ctx, t)
			if t.failed >= 0 {
				// A statement held from an earlier write (or this one)
				// failed: the error is that write's.
				if t.failed != i {
					w.err, w.panicked = nil, nil
				}
				return t.failedErr
			}
			var rf refusal
			if w.err != nil && !errors.As(w.err, &rf) {
				failed = i
				return w.err
			}
		}
		return t.finish(ctx, true)
	}()
	if t.failed >= 0 {
		failed = t.failed
		batch[failed].err = t.failedErr
	}
	if err != nil {
		if t.begun {
			// A broken connection is closed by Release instead.
			c.Exec(context.WithoutCancel(ctx), `ROLLBACK`)
		}
		return failed, err
	}
	if t.known {
		db.heads.Store(&heads{t.auditSeq, t.auditHash, t.outboxSeq})
	}
	return -1, nil
}

// run runs w.fn in tx, unless w's caller has given up, and sets w.err. A
// panic in fn fails only w.
func (w *pending) run(ctx context.Context, tx *wtx) {
	w.panicked = nil
	if err := w.ctx.Err(); err != nil {
		w.err = refusal{err}
		return
	}
	defer func() {
		if v := recover(); v != nil {
			w.panicked = &panicValue{v}
			w.err = w.panicked
		}
	}()
	w.err = w.fn(ctx, tx)
}

// Commits returns the number of write transactions committed since Open;
// with the number of writes it gives WAL flushes per write.
func (db *DB) Commits() uint64 { return db.commits.Load() }

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// pgCode returns the SQLSTATE of err and the constraint it names, or "".
func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

func (db *DB) wakeOutbox() {
	select {
	case db.outboxSignal <- struct{}{}:
	default:
	}
}

// OutboxSignal returns a channel that receives after a commit queued
// notices, on this replica or (through LISTEN/NOTIFY) on another one
// sharing the schema, so the delivery worker need not poll. Signals
// coalesce: one pending signal stands for any number of commits. While the
// listening connection is down the channel also receives every poll
// interval (see PollInterval).
func (db *DB) OutboxSignal() <-chan struct{} { return db.outboxSignal }
