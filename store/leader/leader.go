// Package leader elects one leader among accessbot replicas that share a
// PostgreSQL database, with a session-level advisory lock held on a
// dedicated connection: the lock lives exactly as long as that session,
// so a leader whose process dies, or whose connection is cut, stops
// holding it, and another replica takes over.
//
// Only the leader runs the work that must run once (the expiry sweep and
// timer, summaries, drift detection, outbox delivery); every replica
// serves Slack.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultKey is the advisory lock key accessbot's replicas contend for:
// the first eight bytes of "accessbot" as a number, so it is unlikely to
// meet another application's key in the same database.
const DefaultKey int64 = 0x6163636573736274

// Config says how to elect.
type Config struct {
	// DSN is the database's connection string.
	DSN string
	// Key is the advisory lock key (default DefaultKey).
	Key int64
	// Check is how often a replica tries to become leader, and how often
	// the leader checks its session is alive (default 1s); a check that
	// takes longer than Check ends the leadership.
	Check  time.Duration
	Logger *slog.Logger
}

// Elector takes part in the election until its Run returns.
type Elector struct {
	cfg     Config
	leading atomic.Bool
	mu      sync.Mutex
	changes []chan bool
}

// New returns an Elector; Run starts it.
func New(cfg Config) *Elector {
	if cfg.Key == 0 {
		cfg.Key = DefaultKey
	}
	if cfg.Check <= 0 {
		cfg.Check = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Elector{cfg: cfg}
}

// Leading reports whether this replica leads now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run takes part in the election until ctx ends. Each time this replica
// becomes leader it calls lead with a context that is cancelled the
// moment the leadership is lost (the session ended, a check failed, ctx
// ended), and waits for lead to return before trying again.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) {
	for ctx.Err() == nil {
		err := e.term(ctx, lead)
		if err != nil && ctx.Err() == nil {
			e.cfg.Logger.Warn("leader election: will try again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.Check):
		}
	}
}

// term connects, waits to acquire the lock, leads while the session
// lives, and returns when it ends.
func (e *Elector) term(ctx context.Context, lead func(ctx context.Context)) error {
	connCtx, cancel := context.WithTimeout(ctx, 5*e.cfg.Check+5*time.Second)
	conn, err := pgx.Connect(connCtx, e.cfg.DSN)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// The server ends a session whose peer is gone after about nine
	// seconds instead of the system's default of hours, so the lock of a
	// leader cut off by the network is released in time for a successor.
	for _, set := range []string{"SET tcp_keepalives_idle = 3", "SET tcp_keepalives_interval = 2", "SET tcp_keepalives_count = 3"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			return fmt.Errorf("%s: %w", set, err)
		}
	}
	for {
		var got bool
		if err := e.check(ctx, conn, "SELECT pg_try_advisory_lock($1)", &got); err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.cfg.Check):
		}
	}
	e.cfg.Logger.Info("this replica leads")
	leadCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	e.set(true)
	go func() {
		defer close(done)
		lead(leadCtx)
	}()
	var lost error
	for lost == nil {
		select {
		case <-ctx.Done():
			lost = ctx.Err()
		case <-done:
			lost = errors.New("the leader's work ended")
		case <-time.After(e.cfg.Check):
			var one int
			if err := e.check(ctx, conn, "SELECT 1", &one); err != nil {
				lost = fmt.Errorf("lost the database session: %w", err)
			}
		}
	}
	e.set(false)
	stop()
	<-done
	e.cfg.Logger.Info("this replica leads no more", "why", lost)
	if !conn.IsClosed() {
		conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", e.cfg.Key)
	}
	return lost
}

// check runs one query of the session within Check.
func (e *Elector) check(ctx context.Context, conn *pgx.Conn, sql string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Check)
	defer cancel()
	args := []any{}
	if sql != "SELECT 1" {
		args = append(args, e.cfg.Key)
	}
	return conn.QueryRow(ctx, sql, args...).Scan(dst)
}

// Changes returns a channel that receives each change of leadership
// (true: this replica leads now). A slow reader misses intermediate
// changes, never the last one.
func (e *Elector) Changes() <-chan bool {
	c := make(chan bool, 1)
	e.mu.Lock()
	e.changes = append(e.changes, c)
	e.mu.Unlock()
	return c
}

func (e *Elector) set(leading bool) {
	e.leading.Store(leading)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.changes {
		select {
		case <-c:
		default:
		}
		c <- leading
	}
}
