package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/accessbot/accessbot/approvals"
)

var _ approvals.PrivilegeChecker = (*Provider)(nil)

// ExcessPrivileges reports what the provider's login role can do beyond
// granting and revoking the roles the resources name: the attributes that
// reach across the whole server (SUPERUSER, CREATEROLE, CREATEDB,
// BYPASSRLS, REPLICATION), ADMIN OPTION on roles no resource names, and
// membership in roles it does not administer (whose privileges it holds).
// setup.sql gives exactly what is needed, so a role made with it reports
// nothing.
func (p *Provider) ExcessPrivileges(ctx context.Context, settings []json.RawMessage) ([]string, error) {
	needed := map[string]bool{}
	for _, raw := range settings {
		var s Settings
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("postgres: settings %s: %v", raw, err)
		}
		needed[s.Role] = true
	}
	var super, createRole, createDB, bypassRLS, replication bool
	err := p.pool.QueryRow(ctx, `
		SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication
		FROM pg_roles WHERE rolname = session_user`).Scan(&super, &createRole, &createDB, &bypassRLS, &replication)
	if err != nil {
		return nil, p.fail("check privileges", err)
	}
	var out []string
	if super {
		out = append(out, fmt.Sprintf("%s is a superuser (SUPERUSER): it can do anything on the server; it needs only ADMIN OPTION on the roles the policy names (see setup.sql)", p.self))
	}
	for _, attr := range []struct {
		on   bool
		name string
		what string
	}{
		{createRole, "CREATEROLE", "it can create roles and change the membership of roles it does not administer"},
		{createDB, "CREATEDB", "it can create databases"},
		{bypassRLS, "BYPASSRLS", "it bypasses every row-level security policy"},
		{replication, "REPLICATION", "it can stream the whole server's changes"},
	} {
		if attr.on && !super {
			out = append(out, fmt.Sprintf("%s has %s: %s", p.self, attr.name, attr.what))
		}
	}
	rows, err := p.pool.Query(ctx, `
		SELECT r.rolname, m.admin_option
		FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid
		JOIN pg_roles u ON u.oid = m.member
		WHERE u.rolname = session_user
		ORDER BY r.rolname`)
	if err != nil {
		return nil, p.fail("check privileges", err)
	}
	var grantable, memberOf []string
	for rows.Next() {
		var role string
		var admin bool
		if err := rows.Scan(&role, &admin); err != nil {
			rows.Close()
			return nil, p.fail("check privileges", err)
		}
		switch {
		case needed[role]:
		case admin:
			grantable = append(grantable, role)
		default:
			memberOf = append(memberOf, role)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, p.fail("check privileges", err)
	}
	if len(grantable) > 0 {
		out = append(out, fmt.Sprintf("%s can grant roles no resource names (ADMIN OPTION): %s", p.self, strings.Join(grantable, ", ")))
	}
	if len(memberOf) > 0 {
		slices.Sort(memberOf)
		out = append(out, fmt.Sprintf("%s is a member of roles no resource names, and holds their privileges: %s", p.self, strings.Join(memberOf, ", ")))
	}
	return out, nil
}
