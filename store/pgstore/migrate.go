package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// openStatuses are the statuses of approvals.Status.Open, as SQL. The
// partial indexes below are written with them; a change to Status.Open is
// a new migration that rebuilds them.
const openStatuses = `('pending', 'approved', 'granting', 'active')`

// migrations are the schema's versions, in order: migrations[i] takes the
// schema from version i to version i+1. Applied migrations are never
// edited; a change is a new one appended here and drawn in doc.go.
var migrations = []string{
	// 1: everything drawn in doc.go.
	`
CREATE TABLE requests (
	id         text PRIMARY KEY,
	requester  text NOT NULL,
	resource   text NOT NULL,
	status     text NOT NULL,
	revoke_due timestamptz,
	record     bytea NOT NULL
);
CREATE UNIQUE INDEX requests_open ON requests (requester, resource)
	WHERE status IN ` + openStatuses + `;
CREATE INDEX requests_revoke_due ON requests (revoke_due)
	WHERE revoke_due IS NOT NULL;

CREATE TABLE grants (
	id         text PRIMARY KEY REFERENCES requests (id),
	resource   text NOT NULL,
	granted_at timestamptz NOT NULL,
	ended_at   timestamptz
);
CREATE INDEX grants_by_resource ON grants (resource, granted_at, id);

CREATE TABLE audit (
	seq    bigint PRIMARY KEY,
	record bytea NOT NULL
);
CREATE TABLE audit_head (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq  bigint NOT NULL,
	hash text NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '');

CREATE TABLE outbox (
	seq    bigint PRIMARY KEY,
	notice bytea NOT NULL,
	done   text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE outbox_head (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq bigint NOT NULL
);
INSERT INTO outbox_head (seq) VALUES (0);
`,
}

// migrate brings the current schema to the latest version, in one
// transaction that holds an advisory lock named after the schema: replicas
// starting together wait for the first, then find nothing to do. It
// refuses a schema newer than this code.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('accessbot.pgstore.migrate:' || current_schema(), 0))`); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    int PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("the schema is at version %d, this accessbot knows up to %d: run a newer accessbot", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
		}
		return nil
	})
}
