package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accessbot/accessbot/approvals"
)

// defaultMaxConns is the pool size unless the DSN sets pool_max_conns.
const defaultMaxConns = 4

// envDSN names the variable that holds the DSN, for messages.
const envDSN = "ACCESSBOT_POSTGRES_DSN"

// Provider grants and revokes PostgreSQL role memberships. It is safe for
// concurrent use.
type Provider struct {
	pool *pgxpool.Pool
	// self is the provider's login role (session_user): never granted,
	// revoked or listed, so that it cannot remove its own ADMIN OPTION.
	self string
	// secrets are the strings no error may contain (the DSN, its password).
	secrets []string
}

var (
	_ approvals.Provider     = (*Provider)(nil)
	_ approvals.HolderLister = (*Provider)(nil)
)

// New connects to the server named by dsn (a URL or key=value connection
// string) with a small connection pool, and checks that it answers. Its
// errors never contain dsn or its password; a server that does not answer
// gives an *approvals.TransientError.
func New(ctx context.Context, dsn string) (*Provider, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the connection string, with the password
		// masked on a best-effort basis only: say nothing of its content.
		return nil, fmt.Errorf("postgres: cannot parse the connection string in %s: check its syntax (postgres://user@host:5432/db or host=… user=… dbname=…)", envDSN)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "accessbot"
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// A few GRANTs an hour need few connections; keep well under a
		// CONNECTION LIMIT on the provider's role (setup.sql).
		cfg.MaxConns = defaultMaxConns
	}
	p := &Provider{secrets: secretsOf(dsn, cfg)}
	p.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, p.fail("open a session", err)
	}
	if err := p.pool.QueryRow(ctx, "SELECT session_user").Scan(&p.self); err != nil {
		p.pool.Close()
		return nil, p.fail("open a session", err)
	}
	return p, nil
}

// secretsOf returns what must never appear in an error: the DSN and the
// passwords it holds, as written and as parsed.
func secretsOf(dsn string, cfg *pgxpool.Config) []string {
	secrets := []string{dsn}
	if pw := cfg.ConnConfig.Password; pw != "" {
		secrets = append(secrets, pw)
	}
	return secrets
}

// Close closes the connection pool, waiting for connections in use to be
// returned.
func (p *Provider) Close() { p.pool.Close() }

// Grant makes req.Identity a direct member of the resource's role with
// GRANT "role" TO "identity". Granting a membership already there succeeds.
// req.ExpiresAt is not enforced natively: VALID UNTIL would limit password
// logins only, so the revoke at expiry is what ends access.
//
// Errors: invalid settings or identity, a role or identity that does not
// exist, the provider's own login role as identity, and missing privileges
// (the provider's role needs ADMIN OPTION on the role) are permanent;
// connection failures and the SQLSTATEs listed in the package comment are
// *approvals.TransientError.
//
// API docs: https://www.postgresql.org/docs/current/sql-grant.html
func (p *Provider) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	s, err := p.target(req.Settings, req.Identity)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	op := fmt.Sprintf("grant role %q to %q", s.Role, req.Identity)
	if err := ctx.Err(); err != nil {
		return approvals.GrantResult{}, p.fail(op, err)
	}
	sql := "GRANT " + quote(s.Role) + " TO " + quote(req.Identity)
	if _, err := p.pool.Exec(ctx, sql); err != nil {
		if sqlState(err) == codeUndefinedObject {
			return approvals.GrantResult{}, p.missingRole(ctx, op, s.Role, req.Identity, err)
		}
		return approvals.GrantResult{}, p.fail(op, err)
	}
	return approvals.GrantResult{}, nil
}

// Revoke removes req.Identity's direct membership of the resource's role
// with REVOKE "role" FROM "identity". It succeeds when the identity is not
// a member, and when the identity or the role does not exist (there is no
// access left to remove).
//
// On PostgreSQL 16 and later a membership granted by another role (another
// grantor) is left in place: the provider revokes only what it granted.
//
// Errors: invalid settings or identity, the provider's own login role as
// identity, and missing privileges are permanent; connection failures and
// the SQLSTATEs listed in the package comment are *approvals.TransientError.
//
// API docs: https://www.postgresql.org/docs/current/sql-revoke.html
func (p *Provider) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	s, err := p.target(req.Settings, req.Identity)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("revoke role %q from %q", s.Role, req.Identity)
	if err := ctx.Err(); err != nil {
		return p.fail(op, err)
	}
	sql := "REVOKE " + quote(s.Role) + " FROM " + quote(req.Identity)
	if _, err := p.pool.Exec(ctx, sql); err != nil {
		if sqlState(err) == codeUndefinedObject {
			return nil // no such role or identity: nothing to remove
		}
		return p.fail(op, err)
	}
	return nil
}

// Holds reports whether req.Identity is a direct member of the resource's
// role (a row in pg_auth_members), whoever granted it. An identity that
// does not exist holds nothing.
//
// Errors: invalid settings or identity, and a role that does not exist, are
// permanent; connection failures are *approvals.TransientError.
func (p *Provider) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return false, err
	}
	if err := checkIdentity(req.Identity); err != nil {
		return false, err
	}
	op := fmt.Sprintf("check whether %q is a member of role %q", req.Identity, s.Role)
	if err := ctx.Err(); err != nil {
		return false, p.fail(op, err)
	}
	var roleExists, member bool
	err = p.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1),
		       EXISTS (SELECT 1
		                 FROM pg_catalog.pg_auth_members m
		                 JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
		                 JOIN pg_catalog.pg_roles u ON u.oid = m.member
		                WHERE r.rolname = $1 AND u.rolname = $2)`,
		s.Role, req.Identity).Scan(&roleExists, &member)
	if err != nil {
		return false, p.fail(op, err)
	}
	if !roleExists {
		return false, noSuchRole(op, s.Role)
	}
	return member, nil
}

// Holders returns the direct members of the resource's role, sorted, except
// the provider's own login role (which holds ADMIN OPTION on it).
//
// Errors: invalid settings and a role that does not exist are permanent;
// connection failures are *approvals.TransientError.
func (p *Provider) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("list the members of role %q", s.Role)
	if err := ctx.Err(); err != nil {
		return nil, p.fail(op, err)
	}
	var roleExists bool
	var members []string
	err = p.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1),
		       ARRAY(SELECT DISTINCT u.rolname::text
		               FROM pg_catalog.pg_auth_members m
		               JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
		               JOIN pg_catalog.pg_roles u ON u.oid = m.member
		              WHERE r.rolname = $1 AND u.rolname <> $2
		              ORDER BY 1)`,
		s.Role, p.self).Scan(&roleExists, &members)
	if err != nil {
		return nil, p.fail(op, err)
	}
	if !roleExists {
		return nil, noSuchRole(op, s.Role)
	}
	return members, nil
}

// target parses the settings and checks the identity of a grant or revoke.
func (p *Provider) target(raw []byte, identity string) (Settings, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return Settings{}, err
	}
	if err := checkIdentity(identity); err != nil {
		return Settings{}, err
	}
	if identity == p.self {
		return Settings{}, fmt.Errorf("postgres: identity %q is the provider's own login role: it is never granted or revoked, so that accessbot keeps its ADMIN OPTION", identity)
	}
	return s, nil
}

// missingRole explains a grant that failed because a role does not exist,
// naming which one and what to fix.
func (p *Provider) missingRole(ctx context.Context, op, role, identity string, cause error) error {
	var found []string
	err := p.pool.QueryRow(ctx,
		`SELECT ARRAY(SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1))`,
		[]string{role, identity}).Scan(&found)
	if err != nil {
		return p.fail(op, cause)
	}
	has := func(name string) bool {
		for _, f := range found {
			if f == name {
				return true
			}
		}
		return false
	}
	switch {
	case !has(role):
		return noSuchRole(op, role)
	case !has(identity):
		return &dbError{msg: fmt.Sprintf("postgres: %s: role %q does not exist: the identity must be an existing database role (accessbot grants membership, it does not create roles); check the policy's identities", op, identity), cause: cause}
	}
	return p.fail(op, cause)
}

// noSuchRole is the permanent error about a resource's role missing.
func noSuchRole(op, role string) error {
	return fmt.Errorf("postgres: %s: role %q does not exist: create it, or fix the resource's postgres.role", op, role)
}

// quote returns name as a quoted SQL identifier.
func quote(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
