package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/leader"
	"github.com/accessbot/accessbot/store/pgstore"
)

// The stores ACCESSBOT_STORE names.
const (
	storeBbolt    = "bbolt"
	storePostgres = "postgres"
)

// storeDB is what serve and the operator commands need of a store. The
// bbolt store (store.DB) and the PostgreSQL store (pgstore.DB) both
// provide it; what only one of them can do (a backup of the file, the
// index repair at start) is reached by a type assertion where it is used.
type storeDB interface {
	approvals.Store
	bot.Outbox
	Enqueue(ctx context.Context, notices ...approvals.Notice) error
	AuditHead(ctx context.Context) (approvals.Anchor, error)
	LastEvent(ctx context.Context) (approvals.Event, bool, error)
	Events(ctx context.Context, fn func(approvals.Event) error) error
	EventsBetween(ctx context.Context, since, until time.Time, fn func(approvals.Event) error) error
	Verify(ctx context.Context) (store.VerifyResult, error)
	VerifyAnchor(ctx context.Context, hash string, n uint64) error
	CheckState(ctx context.Context, fn func(store.Disagreement)) error
	HoldersAt(ctx context.Context, resource string, at time.Time) ([]*approvals.Request, error)
	ProvidersInUse(ctx context.Context) (map[string]int, error)
	Counts(ctx context.Context) (store.Counts, error)
	OutboxState(ctx context.Context) (depth int, oldest time.Time, err error)
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ storeDB = (*store.DB)(nil)
	_ storeDB = (*pgstore.DB)(nil)
)

// postgres reports whether the configuration asks for the PostgreSQL
// store. An empty Store (a Config built by hand) is bbolt.
func (c Config) postgres() bool { return c.Store == storePostgres }

// checkStore refuses an unknown store, a PostgreSQL store without its
// DSN, and what the PostgreSQL store does not do.
func (c Config) checkStore() error {
	switch c.Store {
	case "", storeBbolt:
		return nil
	case storePostgres:
		if c.StoreDSN == "" {
			return errors.New("configuration: ACCESSBOT_STORE=postgres needs ACCESSBOT_STORE_DSN (or ACCESSBOT_STORE_DSN_FILE), the PostgreSQL connection string")
		}
		return nil
	}
	return fmt.Errorf("configuration: ACCESSBOT_STORE=%q: use bbolt or postgres", c.Store)
}

// notWithPostgres is the error of a command that works on the bbolt file
// only.
func notWithPostgres(what, instead string) error {
	return fmt.Errorf("%s is not available with ACCESSBOT_STORE=postgres: %s", what, instead)
}

// openPostgres opens the PostgreSQL store of ACCESSBOT_STORE_DSN, with the
// audit keys of ACCESSBOT_AUDIT_KEY_FILE when set. Errors never contain
// the DSN's password (pgstore.Open leaves it out).
func openPostgres(ctx context.Context, cfg Config) (*pgstore.DB, error) {
	opts, err := cfg.storeOptions(false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var pgOpts []pgstore.Option
	if opts.AuditKey != nil {
		pgOpts = append(pgOpts, pgstore.AuditKeys(opts.AuditKey, opts.AuditKeys...))
	}
	db, err := pgstore.Open(ctx, cfg.StoreDSN, pgOpts...)
	if err != nil {
		return nil, fmt.Errorf("ACCESSBOT_STORE_DSN: %w", err)
	}
	return db, nil
}

// leaderKey is the advisory lock key the replicas sharing schema contend
// for: derived from the schema, so that deployments sharing a database,
// each in its own schema, elect their leaders apart.
func leaderKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("accessbot leader " + schema))
	return int64(h.Sum64()) ^ leader.DefaultKey
}
