package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/providertest"
)

// These tests run against a real PostgreSQL server (CONVENTIONS item 14).
// In CI (CI set) a server that cannot be reached fails the tests; elsewhere
// they are skipped with a message saying how to run them.

const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func testDSN() string {
	if dsn := os.Getenv("ACCESSBOT_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultTestDSN
}

// db is a superuser connection for setting up and inspecting the server.
type db struct {
	t    *testing.T
	conn *pgx.Conn
	cfg  *pgx.ConnConfig
}

// connect opens the superuser connection, or skips (fails in CI) when there
// is no server.
func connect(t *testing.T) *db {
	t.Helper()
	cfg, err := pgx.ParseConfig(testDSN())
	if err != nil {
		t.Fatalf("ACCESSBOT_TEST_POSTGRES_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		msg := "no PostgreSQL server for the postgres provider tests: start PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) or set ACCESSBOT_TEST_POSTGRES_DSN"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skipf("%s: %v", msg, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &db{t: t, conn: conn, cfg: cfg}
}

// in returns d reporting to t, for use in a subtest.
func (d *db) in(t *testing.T) *db {
	c := *d
	c.t = t
	return &c
}

// exec runs sql as the superuser.
func (d *db) exec(sql string, args ...any) {
	d.t.Helper()
	if _, err := d.conn.Exec(context.Background(), sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

// role creates a role named name (quoted, so any name works) and drops it
// when the test ends.
func (d *db) role(name, attrs string) string {
	d.t.Helper()
	d.exec("CREATE ROLE " + quote(name) + " " + attrs)
	d.t.Cleanup(func() {
		if _, err := d.conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+quote(name)); err != nil {
			d.t.Errorf("drop role %q: %v", name, err)
		}
	})
	return name
}

// roleExists reports whether a role called name exists.
func (d *db) roleExists(name string) bool {
	d.t.Helper()
	var ok bool
	if err := d.conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&ok); err != nil {
		d.t.Fatal(err)
	}
	return ok
}

// memberships returns every "role <- member" pair of pg_auth_members
// involving name, as role or member.
func (d *db) memberships(name string) []string {
	d.t.Helper()
	rows, err := d.conn.Query(context.Background(), `
		SELECT r.rolname || ' <- ' || u.rolname
		  FROM pg_auth_members m
		  JOIN pg_roles r ON r.oid = m.roleid
		  JOIN pg_roles u ON u.oid = m.member
		 WHERE r.rolname = $1 OR u.rolname = $1
		 ORDER BY 1`, name)
	if err != nil {
		d.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// dsnAs returns the test DSN with another user and no password, in
// key=value form.
func (d *db) dsnAs(user string) string {
	c := d.cfg
	return strings.Join([]string{
		"host=" + c.Host,
		"port=" + strconv.Itoa(int(c.Port)),
		"dbname=" + c.Database,
		"user=" + kvQuote(user),
		"sslmode=disable",
	}, " ")
}

func kvQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// connectAs opens a new session as user (trust authentication).
func (d *db) connectAs(user string) (*pgx.Conn, error) {
	cfg := d.cfg.Copy()
	cfg.User = user
	cfg.Password = ""
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// suffix returns a random suffix that makes names unique to one test run.
func suffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func newProvider(t *testing.T, dsn string) *Provider {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := New(ctx, dsn)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func settings(role string) json.RawMessage {
	b, err := json.Marshal(Settings{Role: role})
	if err != nil {
		panic(err)
	}
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	role := d.role("readonly_"+s, "NOLOGIN")
	alice := d.role("alice_"+s, "LOGIN")
	bob := d.role("bob_"+s, "LOGIN")
	p := newProvider(t, testDSN())

	providertest.Run(t, providertest.Harness{
		Provider:      p,
		Resource:      "prod-db-read",
		Settings:      settings(role),
		Identity:      alice,
		OtherIdentity: bob,
		Preexisting: func(t *testing.T, identity string) {
			preexisting(d.in(t), role, identity)
		},
	})
}

// preexisting grants role to identity as the superuser, as a DBA would by
// hand, and revokes it as the superuser when the test ends: on PostgreSQL
// 16 and later the provider's REVOKE leaves a membership another grantor
// made.
func preexisting(d *db, role, identity string) {
	d.exec("GRANT " + quote(role) + " TO " + quote(identity))
	d.t.Cleanup(func() {
		if _, err := d.conn.Exec(context.Background(), "REVOKE "+quote(role)+" FROM "+quote(identity)); err != nil {
			d.t.Errorf("revoke the preexisting membership: %v", err)
		}
	})
}

// TestLeastPrivilegeSetup runs setup.sql (with unique names) and the
// conformance kit through the role it creates: no superuser, no CREATEROLE.
func TestLeastPrivilegeSetup(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	bot, role := "accessbot_"+s, "readonly_"+s
	d.role(role, "NOLOGIN")
	other := d.role("other_"+s, "NOLOGIN")
	alice := d.role("alice_"+s, "LOGIN")
	bob := d.role("bob_"+s, "LOGIN")

	sql, err := os.ReadFile("setup.sql")
	if err != nil {
		t.Fatal(err)
	}
	script := regexp.MustCompile(`\baccessbot\b`).ReplaceAllString(string(sql), bot)
	script = regexp.MustCompile(`\breadonly\b`).ReplaceAllString(script, role)
	t.Cleanup(func() { d.conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+quote(bot)) })
	d.exec(script) // no arguments: the simple protocol runs every statement

	var super, createRole bool
	if err := d.conn.QueryRow(context.Background(), "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1", bot).Scan(&super, &createRole); err != nil {
		t.Fatal(err)
	}
	if super || createRole {
		t.Fatalf("setup.sql made %s superuser=%v createrole=%v, want neither", bot, super, createRole)
	}

	p := newProvider(t, d.dsnAs(bot))
	if p.self != bot {
		t.Fatalf("provider's login role = %q, want %q", p.self, bot)
	}
	providertest.Run(t, providertest.Harness{
		Provider:      p,
		Settings:      settings(role),
		Identity:      alice,
		OtherIdentity: bob,
		Preexisting: func(t *testing.T, identity string) {
			preexisting(d.in(t), role, identity)
		},
	})

	t.Run("RoleNotAdministeredIsRefused", func(t *testing.T) {
		_, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: alice, Settings: settings(other)})
		if err == nil || approvals.Retryable(err) {
			t.Fatalf("Grant of a role without ADMIN OPTION = %v, want a permanent error", err)
		}
		if !strings.Contains(err.Error(), "ADMIN OPTION") {
			t.Errorf("error %q does not say the role needs ADMIN OPTION", err)
		}
		if got := d.in(t).memberships(alice); len(got) != 0 {
			t.Errorf("memberships of %s = %q, want none", alice, got)
		}
	})
	t.Run("OwnRoleIsNeverTouched", func(t *testing.T) {
		if _, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: bot, Settings: settings(role)}); err == nil {
			t.Error("Grant to the provider's own role succeeded, want an error")
		}
		if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: bot, Settings: settings(role)}); err == nil {
			t.Error("Revoke from the provider's own role succeeded, want an error")
		}
		holders, err := p.Holders(ctx(t), approvals.HoldersRequest{Settings: settings(role)})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(holders, bot) {
			t.Errorf("Holders = %q lists the provider's own role", holders)
		}
		if got, want := d.in(t).memberships(bot), []string{role + " <- " + bot}; !slices.Equal(got, want) {
			t.Errorf("memberships of %s = %q, want %q (ADMIN OPTION kept)", bot, got, want)
		}
	})
}

// TestUserSeesAccessComeAndGo checks what a user sees: after Grant a new
// session can read the table granted to the role and SET ROLE to it; after
// Revoke it can do neither.
func TestUserSeesAccessComeAndGo(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	role := d.role("readonly_"+s, "NOLOGIN")
	alice := d.role("alice_"+s, "LOGIN")
	table := "accessbot_test_" + s
	d.exec("CREATE TABLE public." + quote(table) + " (x int)")
	t.Cleanup(func() { d.conn.Exec(context.Background(), "DROP TABLE IF EXISTS public."+quote(table)) })
	d.exec("INSERT INTO public." + quote(table) + " VALUES (42)")
	d.exec("GRANT SELECT ON public." + quote(table) + " TO " + quote(role))
	p := newProvider(t, testDSN())

	// try reports whether a fresh session as alice can read the table, and
	// whether it can SET ROLE to the role.
	try := func() (canRead, canSetRole bool) {
		t.Helper()
		conn, err := d.connectAs(alice)
		if err != nil {
			t.Fatalf("connect as %s: %v", alice, err)
		}
		defer conn.Close(context.Background())
		var x int
		err = conn.QueryRow(context.Background(), "SELECT x FROM public."+quote(table)).Scan(&x)
		canRead = err == nil && x == 42
		wantDenied(t, err)
		_, err = conn.Exec(context.Background(), "SET ROLE "+quote(role))
		canSetRole = err == nil
		wantDenied(t, err)
		return canRead, canSetRole
	}

	if r, s := try(); r || s {
		t.Fatalf("before Grant: read=%v set role=%v, want neither", r, s)
	}
	if _, err := p.Grant(ctx(t), approvals.GrantRequest{RequestID: "r1", Identity: alice, Settings: settings(role)}); err != nil {
		t.Fatal(err)
	}
	if r, s := try(); !r || !s {
		t.Fatalf("after Grant: read=%v set role=%v, want both", r, s)
	}
	if err := p.Revoke(ctx(t), approvals.RevokeRequest{RequestID: "r1", Identity: alice, Settings: settings(role)}); err != nil {
		t.Fatal(err)
	}
	if r, s := try(); r || s {
		t.Fatalf("after Revoke: read=%v set role=%v, want neither", r, s)
	}
}

// wantDenied fails the test on any error but "permission denied".
func wantDenied(t *testing.T, err error) {
	t.Helper()
	var pge *pgconn.PgError
	if err != nil && (!errors.As(err, &pge) || pge.Code != codeInsufficientPrivilege) {
		t.Fatalf("want success or permission denied, got %v", err)
	}
}

// TestHostileNames checks that role and identity names are identifiers,
// never SQL: nothing but the named membership changes.
func TestHostileNames(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	victim := d.role("victim_"+s, "NOLOGIN")
	readonly := d.role("readonly_"+s, "NOLOGIN")
	alice := d.role("alice_"+s, "LOGIN")
	p := newProvider(t, testDSN())
	postgresBefore := d.memberships("postgres")

	injections := []string{
		`x"; DROP ROLE ` + victim + `; --`,
		readonly + `" TO "postgres`,
		`x' OR '1'='1`,
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		d := d.in(t)
		if !d.roleExists(victim) {
			t.Fatalf("role %s was dropped", victim)
		}
		if got := d.memberships("postgres"); !slices.Equal(got, postgresBefore) {
			t.Fatalf("memberships of postgres = %q, want unchanged %q", got, postgresBefore)
		}
		if got := d.memberships(readonly); len(got) != 0 {
			t.Fatalf("memberships of %s = %q, want none", readonly, got)
		}
	}

	for _, name := range injections {
		t.Run("NoSuchRole/"+name, func(t *testing.T) {
			_, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: alice, Settings: settings(name)})
			if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "does not exist") {
				t.Fatalf("Grant of role %q = %v, want a permanent \"does not exist\"", name, err)
			}
			if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: alice, Settings: settings(name)}); err != nil {
				t.Fatalf("Revoke of role %q: %v", name, err)
			}
			unchanged(t)
		})
		t.Run("NoSuchIdentity/"+name, func(t *testing.T) {
			_, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: name, Settings: settings(readonly)})
			if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "does not exist") {
				t.Fatalf("Grant to %q = %v, want a permanent \"does not exist\"", name, err)
			}
			held, err := p.Holds(ctx(t), approvals.HoldsRequest{Identity: name, Settings: settings(readonly)})
			if err != nil || held {
				t.Fatalf("Holds(%q) = %v, %v; want false, nil", name, held, err)
			}
			if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: name, Settings: settings(readonly)}); err != nil {
				t.Fatalf("Revoke from %q: %v", name, err)
			}
			unchanged(t)
		})
		t.Run("OddButRealNames/"+name, func(t *testing.T) {
			odd := d.in(t).role(name, "NOLOGIN") // a role really called that
			if _, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: alice, Settings: settings(odd)}); err != nil {
				t.Fatalf("Grant of role %q: %v", odd, err)
			}
			if _, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: odd, Settings: settings(victim)}); err != nil {
				t.Fatalf("Grant to %q: %v", odd, err)
			}
			want := []string{odd + " <- " + alice, victim + " <- " + odd}
			slices.Sort(want)
			if got := d.in(t).memberships(odd); !slices.Equal(got, want) {
				t.Fatalf("memberships of %q = %q, want %q", odd, got, want)
			}
			if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: alice, Settings: settings(odd)}); err != nil {
				t.Fatal(err)
			}
			if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: odd, Settings: settings(victim)}); err != nil {
				t.Fatal(err)
			}
			if got := d.in(t).memberships(odd); len(got) != 0 {
				t.Fatalf("memberships of %q after Revoke = %q, want none", odd, got)
			}
			unchanged(t)
		})
	}
}

// TestMissingRoles checks the documented choices: a grant to or of a role
// that does not exist fails permanently, naming it; a revoke succeeds.
func TestMissingRoles(t *testing.T) {
	d := connect(t)
	s := suffix(t)
	role := d.role("readonly_"+s, "NOLOGIN")
	alice := d.role("alice_"+s, "LOGIN")
	ghost, ghostRole := "ghost_"+s, "ghostrole_"+s
	p := newProvider(t, testDSN())

	_, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: ghost, Settings: settings(role)})
	if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), `role "`+ghost+`" does not exist`) || !strings.Contains(err.Error(), "identities") {
		t.Errorf("Grant to a missing identity = %v, want a permanent error naming it and the policy's identities", err)
	}
	_, err = p.Grant(ctx(t), approvals.GrantRequest{Identity: alice, Settings: settings(ghostRole)})
	if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), `role "`+ghostRole+`" does not exist`) || !strings.Contains(err.Error(), "postgres.role") {
		t.Errorf("Grant of a missing role = %v, want a permanent error naming it and postgres.role", err)
	}
	if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: ghost, Settings: settings(role)}); err != nil {
		t.Errorf("Revoke from a missing identity: %v", err)
	}
	if err := p.Revoke(ctx(t), approvals.RevokeRequest{Identity: alice, Settings: settings(ghostRole)}); err != nil {
		t.Errorf("Revoke of a missing role: %v", err)
	}
	if _, err := p.Holds(ctx(t), approvals.HoldsRequest{Identity: alice, Settings: settings(ghostRole)}); err == nil || approvals.Retryable(err) {
		t.Errorf("Holds of a missing role = %v, want a permanent error", err)
	}
	if _, err := p.Holders(ctx(t), approvals.HoldersRequest{Settings: settings(ghostRole)}); err == nil || approvals.Retryable(err) {
		t.Errorf("Holders of a missing role = %v, want a permanent error", err)
	}
	for _, bad := range []string{"", "public", "pg_monitor", strings.Repeat("a", 64), "x\x00y"} {
		if _, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: bad, Settings: settings(role)}); err == nil || approvals.Retryable(err) {
			t.Errorf("Grant to identity %q = %v, want a permanent error", bad, err)
		}
	}
}

// TestErrorsHideDSN forces failures and checks that neither the DSN nor its
// password appears in any error (CONVENTIONS item 14).
func TestErrorsHideDSN(t *testing.T) {
	const password = "s3cr3t-Pa55word"
	unreachable := []string{
		"postgres://postgres:" + password + "@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=postgres password=" + password + " dbname=postgres sslmode=disable connect_timeout=2",
		"postgres://postgres:" + password + "@[::1/postgres", // does not parse
		"host=127.0.0.1 password='" + password + " port=1",   // does not parse
	}
	for _, dsn := range unreachable {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := New(c, dsn)
		cancel()
		if err == nil {
			p.Close()
			t.Fatalf("New(%q) succeeded, want an error", dsn)
		}
		assertNoSecret(t, err, dsn, password)
	}

	// A live provider whose DSN carries a password (trust auth ignores it).
	d := connect(t)
	cfg := d.cfg
	dsn := "postgres://" + cfg.User + ":" + password + "@" + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database + "?sslmode=disable"
	p := newProvider(t, dsn)
	_, err := p.Grant(ctx(t), approvals.GrantRequest{Identity: "nobody_" + suffix(t), Settings: settings("norole_" + suffix(t))})
	if err == nil {
		t.Fatal("Grant of a missing role succeeded")
	}
	assertNoSecret(t, err, dsn, password)
	p.Close()
	_, err = p.Holds(context.Background(), approvals.HoldsRequest{Identity: "alice", Settings: settings("readonly")})
	if err == nil {
		t.Fatal("Holds on a closed provider succeeded")
	}
	assertNoSecret(t, err, dsn, password)
}

func assertNoSecret(t *testing.T, err error, dsn, password string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, dsn) || strings.Contains(msg, password) {
		t.Errorf("error leaks the DSN or its password: %q", msg)
	}
}

func TestNewUnreachableIsTransient(t *testing.T) {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := New(c, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if !approvals.Retryable(err) {
		t.Fatalf("New against a closed port = %v, want a transient error", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		transient bool
	}{
		{&pgconn.PgError{Code: "08006", Message: "connection failure"}, true},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, true},
		{&pgconn.PgError{Code: "40P01", Message: "deadlock detected"}, true},
		{&pgconn.PgError{Code: "53300", Message: "too many connections"}, true},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, true},
		{&pgconn.PgError{Code: "55P03", Message: "could not obtain lock"}, true},
		{&pgconn.PgError{Code: "42501", Message: "must have admin option on role"}, false},
		{&pgconn.PgError{Code: "42704", Message: "role does not exist"}, false},
		{&pgconn.PgError{Code: "28P01", Message: "password authentication failed"}, false},
		{&pgconn.PgError{Code: "0LP01", Message: "role is a member of role"}, false},
		{context.DeadlineExceeded, true},
		{context.Canceled, true},
		{pgconn.ErrConnClosed, true},
		{errors.New("something else"), false},
	}
	p := &Provider{}
	for _, tt := range tests {
		err := p.fail("op", tt.err)
		if got := approvals.Retryable(err); got != tt.transient {
			t.Errorf("fail(%v): transient = %v, want %v", tt.err, got, tt.transient)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("fail(%v) does not wrap its cause", tt.err)
		}
	}
}
