// Package postgres is the accessbot provider for PostgreSQL role
// membership: a resource names a role, and a grant makes the requester's
// database role a direct member of it.
//
//	postgres: {role: readonly}     # GRANT "readonly" TO "alice"
//
// Grant runs GRANT "role" TO "identity" and Revoke runs REVOKE "role" FROM
// "identity" on the server named by ACCESSBOT_POSTGRES_DSN; both are
// idempotent. Identifiers are always quoted (pgx.Identifier.Sanitize), so a
// name such as `x"; DROP ROLE victim; --` is one odd role name, never SQL,
// and every catalog query is parameterised. Holds and Holders read direct
// membership only (pg_auth_members): membership through another role is not
// what a grant adds or a revoke removes.
//
// The identity is an existing database role (usually a LOGIN role): the
// provider grants membership, it never creates or drops roles. Granting to
// a role that does not exist fails permanently and says so; revoking from
// one succeeds, as there is no access to remove. The provider refuses to
// grant to or revoke from its own login role, so that it cannot remove its
// own ADMIN OPTION, and Holders leaves that role out.
//
// The provider does not use VALID UNTIL to end access: it limits password
// logins only (not trust, certificate or peer authentication, nor sessions
// already open), so only the active REVOKE at expiry ends access.
// A session that already switched to the role with SET ROLE keeps it until
// it resets the role or disconnects; PostgreSQL does not take it away.
//
// Failures are classified for approvals.Service: connection failures,
// timeouts and SQLSTATE classes 08 (connection), 53 (insufficient
// resources), 40001 and 40P01 (serialization failure, deadlock), 55P03
// (lock not available), 57014 (statement cancelled) and 57P0x (server
// shutting down) are wrapped in *approvals.TransientError; anything else is
// permanent. No error ever contains the DSN or its password.
//
// setup.sql beside this file creates the least-privilege login role the
// provider should use: no superuser, no CREATEROLE, only ADMIN OPTION on the
// roles it may grant.
package postgres
