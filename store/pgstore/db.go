package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is an accessbot store in a PostgreSQL schema. Its methods are safe for
// concurrent use, and several DBs (one per replica) may share the schema.
type DB struct {
	pool *pgxpool.Pool
	// schema is the schema the tables live in (the connection's
	// current_schema() when opened).
	schema string
	cfg    config

	// outboxSignal wakes the delivery worker: after a local commit that
	// queued notices, on a notification of another replica's, and on every
	// poll while the listener is down.
	outboxSignal chan struct{}
	stopListen   context.CancelFunc
	listening    sync.WaitGroup
}

type config struct {
	pollInterval time.Duration
	maxConns     int32
}

// Option changes how Open sets up a DB.
type Option func(*config)

// PollInterval sets how often the outbox signal fires while the connection
// that listens for other replicas' commits is down (default 5s). Delivery
// then lags by up to this much until the listener reconnects.
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
	db := &DB{pool: pool, cfg: cfg, outboxSignal: make(chan struct{}, 1)}
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

// maxAttempts bounds how often a write transaction is run after a
// serialization failure or a deadlock. Writes lock rows in one order
// (requests, then the audit head, then the outbox head), so either is rare.
const maxAttempts = 5

// fnError carries an error of the caller's own (Transition's fn) through
// the transaction untouched, so it is never taken for a retryable database
// error and comes back unwrapped.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// write runs fn in a read committed transaction and commits it, running
// the whole transaction again, up to maxAttempts times, after a
// serialization failure (40001) or a deadlock (40P01). fn may therefore run
// more than once.
func (db *DB) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		var fe fnError
		if errors.As(err, &fe) {
			return fe.err
		}
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
		// A short random pause lets the transaction that won go first.
		pause := time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

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
