package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/policy"
	"github.com/accessbot/accessbot/providers"
	"github.com/accessbot/accessbot/providers/github/githubtest"
	"github.com/accessbot/accessbot/store"
)

// These tests drive one request through approvals.Service for each
// provider — request → approve → grant → expiry → revoke — with the real
// policy loader, the real provider registry, a real bbolt store in
// t.TempDir() and a settable clock, and check the access at the real
// backend after each step: the fake GitHub's state, a real PostgreSQL
// server (can the user SET ROLE and read a table?), and the example exec
// plugin's state file. Each also checks that access held before the
// request is refused as "already held" and left alone.

const (
	lcRequester = "U0ALICE"
	lcApprover  = "U0BOB"
	lcReason    = "INC-4211 hotfix"
)

// lcStart is the clock's first instant.
var lcStart = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// lcClock is a settable clock: time moves only when the test says so.
type lcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lcClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *lcClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lcNotifier reads what approvals tells the chat side from the outbox,
// which nothing delivers in these tests.
type lcNotifier struct {
	db *store.DB
}

// seen returns, as actions, the notices of one kind for request id:
// "approval-request" (an approval message to post), "update", "dm" (to
// the requester) and "audit".
func (n *lcNotifier) seen(kind, id string) []string {
	notices, err := n.db.Notices(context.Background(), 0, 1<<20)
	if err != nil {
		panic(err)
	}
	var out []string
	for _, nt := range notices {
		if nt.RequestID != id {
			continue
		}
		switch {
		case kind == "approval-request" && len(nt.Ask) > 0:
			out = append(out, "posted")
		case kind == "update" && nt.Update:
			out = append(out, string(nt.Request.Status))
		case kind == "dm" && nt.TellRequester && nt.Event != nil:
			out = append(out, nt.Event.Action)
		case kind == "audit" && nt.Event != nil:
			out = append(out, nt.Event.Action)
		}
	}
	return out
}

// lcWorld is one service wired as serve wires it, minus Slack.
type lcWorld struct {
	t        *testing.T
	svc      *approvals.Service
	db       *store.DB
	clock    *lcClock
	notifier *lcNotifier
}

// lcNewWorld loads policyYAML with the providers' settings types, builds the
// providers it uses from cfg, and starts a Service on a fresh store.
func lcNewWorld(t *testing.T, policyYAML string, cfg providers.Config) *lcWorld {
	t.Helper()
	pol, err := policy.Parse("policy.yaml", []byte(policyYAML), providers.SettingsTypes())
	if err != nil {
		t.Fatalf("policy:\n%v", err)
	}
	logs := &bytes.Buffer{}
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lcLockedWriter{&logMu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Logger = logger
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	set, err := providers.Build(ctx, pol, cfg)
	if err != nil {
		t.Fatalf("providers.Build: %v", err)
	}
	t.Cleanup(set.Close)
	db, err := store.Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	w := &lcWorld{t: t, db: db, clock: &lcClock{now: lcStart}, notifier: &lcNotifier{db: db}}
	w.svc = approvals.New(approvals.Config{
		Store:        db,
		Providers:    set.Providers,
		Policy:       pol,
		Now:          w.clock.Now,
		Logger:       logger,
		RetryBackoff: time.Millisecond,
	})
	t.Cleanup(w.svc.Shutdown) // before the store and the providers close
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			defer logMu.Unlock()
			t.Logf("service log:\n%s", logs)
		}
	})
	return w
}

type lcLockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lcLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lcBackend says whether the requester holds the resource, asked of the real
// system rather than of the provider.
type lcBackend struct {
	// held reports whether the access is there now.
	held func(t *testing.T) bool
	// give grants the access outside accessbot, as an admin would by hand,
	// and registers with t.Cleanup whatever undo the test needs.
	give func(t *testing.T)
}

func lcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (w *lcWorld) request(t *testing.T, id string) *approvals.Request {
	t.Helper()
	r, err := w.db.Request(lcCtx(t), id)
	if err != nil {
		t.Fatalf("load %s: %v", id, err)
	}
	return r
}

// onlyRequest returns the ID of the one request in the audit log.
func (w *lcWorld) onlyRequest(t *testing.T) string {
	t.Helper()
	var ids []string
	err := w.db.Events(lcCtx(t), func(ev approvals.Event) error {
		if ev.RequestID != "" && !slices.Contains(ids, ev.RequestID) {
			ids = append(ids, ev.RequestID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Fatalf("requests in the audit log = %q, want one", ids)
	}
	return ids[0]
}

// events returns the audit events of request id, in log order.
func (w *lcWorld) events(t *testing.T, id string) []approvals.Event {
	t.Helper()
	var out []approvals.Event
	err := w.db.Events(lcCtx(t), func(ev approvals.Event) error {
		if ev.RequestID == id {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lcActions(evs []approvals.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

// lcWantSubsequence fails unless want appears in got in order.
func lcWantSubsequence(t *testing.T, what string, got, want []string) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("%s = %q, want %q among them, in that order", what, got, want)
	}
}

// lifecycle drives one request for resource through the whole cycle and
// checks the backend, the stored request and the audit log at each step.
func (w *lcWorld) lifecycle(t *testing.T, resource string, d time.Duration, b lcBackend) {
	t.Helper()
	if b.held(t) {
		t.Fatal("the requester holds the access before the request")
	}

	// Request.
	r, err := w.svc.Submit(lcCtx(t), lcRequester, resource, d, lcReason)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	id := r.ID
	w.svc.Wait() // the "already held?" check and the approval messages
	if got := w.request(t, id); got.Status != approvals.StatusPending || len(got.Asked) == 0 {
		t.Fatalf("after Submit: status %s, %d approvers asked; want pending, approvers asked", got.Status, len(got.Asked))
	}
	if got := w.notifier.seen("approval-request", id); len(got) != 1 {
		t.Errorf("approval requests posted = %d, want 1", len(got))
	}
	if b.held(t) {
		t.Fatal("access granted before any approval")
	}

	// Approve, five minutes later: the clock starts at the grant.
	w.clock.Advance(5 * time.Minute)
	grantedAt := w.clock.Now()
	if _, err := w.svc.Approve(lcCtx(t), lcApprover, id); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	w.svc.Wait()
	got := w.request(t, id)
	if got.Status != approvals.StatusActive {
		t.Fatalf("after Approve: status %s (last error %q), want active", got.Status, got.LastError)
	}
	if want := grantedAt.Add(d); !got.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %s, want %s (granted at %s plus %s)", got.ExpiresAt, want, grantedAt, d)
	}
	if !b.held(t) {
		t.Fatal("after the grant the requester does not hold the access at the backend")
	}

	// Not a moment early.
	w.clock.Advance(d - time.Second)
	if err := w.svc.ExpireDue(lcCtx(t)); err != nil {
		t.Fatalf("ExpireDue: %v", err)
	}
	w.svc.Wait()
	if got := w.request(t, id); got.Status != approvals.StatusActive || !b.held(t) {
		t.Fatalf("a second before expiry: status %s, held %v; want active and held", got.Status, b.held(t))
	}

	// Expiry.
	w.clock.Advance(2 * time.Second)
	expiredAt := w.clock.Now()
	if err := w.svc.ExpireDue(lcCtx(t)); err != nil {
		t.Fatalf("ExpireDue: %v", err)
	}
	w.svc.Wait()
	got = w.request(t, id)
	if got.Status != approvals.StatusExpired || !got.EndedAt.Equal(expiredAt) {
		t.Fatalf("after expiry: status %s ended %s (last error %q), want expired at %s", got.Status, got.EndedAt, got.LastError, expiredAt)
	}
	if b.held(t) {
		t.Fatal("after expiry the requester still holds the access at the backend")
	}

	// The audit log, in order, with the instants of the clock.
	evs := w.events(t, id)
	want := []string{approvals.ActionRequested, approvals.ActionApproved, approvals.ActionGranting, approvals.ActionGranted, approvals.ActionExpired}
	if !slices.Equal(lcActions(evs), want) {
		t.Fatalf("audit events = %q, want %q", lcActions(evs), want)
	}
	wantTimes := []time.Time{lcStart, grantedAt, grantedAt, grantedAt, expiredAt}
	for i, ev := range evs {
		if !ev.Time.Equal(wantTimes[i]) {
			t.Errorf("event %d (%s) at %s, want %s", i, ev.Action, ev.Time, wantTimes[i])
		}
		if ev.Resource != resource || ev.Requester != lcRequester || ev.Reason != lcReason {
			t.Errorf("event %d (%s) = %+v, want resource %s, requester %s, reason %q", i, ev.Action, ev, resource, lcRequester, lcReason)
		}
	}
	if ev := evs[1]; ev.Actor != lcApprover {
		t.Errorf("approved event actor = %q, want %s", ev.Actor, lcApprover)
	}
	if ev := evs[3]; !ev.ExpiresAt.Equal(grantedAt.Add(d)) {
		t.Errorf("granted event expires_at = %s, want %s", ev.ExpiresAt, grantedAt.Add(d))
	}
	if ev := evs[4]; ev.Actor != approvals.SystemActor {
		t.Errorf("expired event actor = %q, want %s", ev.Actor, approvals.SystemActor)
	}
	if _, err := w.db.Verify(lcCtx(t)); err != nil {
		t.Errorf("audit chain: %v", err)
	}

	// What the chat side was told.
	lcWantSubsequence(t, "audit posts", w.notifier.seen("audit", id), []string{approvals.ActionRequested, approvals.ActionApproved, approvals.ActionGranted, approvals.ActionExpired})
	lcWantSubsequence(t, "requester DMs", w.notifier.seen("dm", id), []string{approvals.ActionGranted, approvals.ActionExpired})
}

// alreadyHeld gives the requester the access by hand, then checks that a
// request for it is closed as "already held" before any approver is asked,
// and that nothing accessbot does afterwards takes the access away.
func (w *lcWorld) alreadyHeld(t *testing.T, resource string, b lcBackend) {
	t.Helper()
	b.give(t)
	if !b.held(t) {
		t.Fatal("the access given by hand is not there")
	}
	r, err := w.svc.Submit(lcCtx(t), lcRequester, resource, time.Hour, lcReason)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	w.svc.Wait()
	if got := w.request(t, r.ID); got.Status != approvals.StatusAlreadyHeld {
		t.Fatalf("status = %s, want %s", got.Status, approvals.StatusAlreadyHeld)
	}
	if got := w.notifier.seen("approval-request", r.ID); len(got) != 0 {
		t.Errorf("approvers were asked about access already held")
	}
	w.clock.Advance(48 * time.Hour)
	if err := w.svc.ExpireDue(lcCtx(t)); err != nil {
		t.Fatal(err)
	}
	w.svc.Wait()
	if !b.held(t) {
		t.Fatal("access held before the request was removed")
	}
	if got, want := lcActions(w.events(t, r.ID)), []string{approvals.ActionRequested, approvals.ActionAlreadyHeld}; !slices.Equal(got, want) {
		t.Errorf("audit events = %q, want %q", got, want)
	}
	lcWantSubsequence(t, "requester DMs", w.notifier.seen("dm", r.ID), []string{approvals.ActionAlreadyHeld})
}

// ---------------------------------------------------------------------------
// GitHub, against the fake GitHub.

func TestLifecycleGitHub(t *testing.T) {
	const token = "ghp-lifecycle-token"
	srv := githubtest.NewServer(t)
	srv.RequireToken(token)
	srv.AddTeam("acme", "payments-admins")
	srv.AddRepo("acme", "payments")
	const pol = `admins: [U0ADMIN]
identities:
  U0ALICE: {github: alice-gh}
resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    max_duration: 4h
  - name: payments-repo-write
    provider: github
    github: {org: acme, repo: payments, permission: push}
    approvers: [U0BOB]
    max_duration: 8h
`
	cfg := providers.Config{GitHubToken: token, GitHubAPIURL: srv.URL()}

	team := lcBackend{
		held: func(t *testing.T) bool {
			role, state, ok := srv.TeamMembership("acme", "payments-admins", "alice-gh")
			return ok && role == "member" && state == "active"
		},
		give: func(t *testing.T) { srv.AddTeamMember("acme", "payments-admins", "alice-gh") },
	}
	repo := lcBackend{
		held: func(t *testing.T) bool { return srv.Collaborators("acme", "payments")["alice-gh"] == "push" },
		give: func(t *testing.T) { srv.AddCollaborator("acme", "payments", "alice-gh", "push") },
	}

	t.Run("Team", func(t *testing.T) {
		w := lcNewWorld(t, pol, cfg)
		w.lifecycle(t, "payments-admin", 2*time.Hour, team)
		if n := srv.Count("PUT", "/orgs/acme/teams/payments-admins/memberships/alice-gh"); n != 1 {
			t.Errorf("membership PUTs = %d, want 1", n)
		}
		if n := srv.Count("DELETE", "/orgs/acme/teams/payments-admins/memberships/alice-gh"); n != 1 {
			t.Errorf("membership DELETEs = %d, want 1", n)
		}
		t.Run("AlreadyHeld", func(t *testing.T) { w.alreadyHeld(t, "payments-admin", team) })
	})
	t.Run("Repo", func(t *testing.T) {
		w := lcNewWorld(t, pol, cfg)
		w.lifecycle(t, "payments-repo-write", 8*time.Hour, repo)
		t.Run("AlreadyHeld", func(t *testing.T) { w.alreadyHeld(t, "payments-repo-write", repo) })
	})
	// A user outside the organization gets an invitation: the requester is
	// told access starts once it is accepted, and the expiry cancels it.
	t.Run("RepoInvitation", func(t *testing.T) {
		const pol = `identities:
  U0ALICE: {github: outsider-gh}
resources:
  - name: payments-repo-write
    provider: github
    github: {org: acme, repo: payments, permission: push}
    approvers: [U0BOB]
    max_duration: 8h
`
		srv.SetOutsider("outsider-gh")
		w := lcNewWorld(t, pol, cfg)
		w.lifecycle(t, "payments-repo-write", time.Hour, lcBackend{held: func(t *testing.T) bool {
			return srv.Invitations("acme", "payments")["outsider-gh"] == "push"
		}})
		var granted []approvals.Event
		for _, ev := range w.events(t, w.onlyRequest(t)) {
			if ev.Action == approvals.ActionGranted {
				granted = append(granted, ev)
			}
		}
		if len(granted) != 1 || !strings.Contains(granted[0].Detail, "invitation") {
			t.Errorf("granted events = %+v, want one whose detail tells of the invitation", granted)
		}
		if _, ok := srv.Collaborators("acme", "payments")["outsider-gh"]; ok {
			t.Error("the outsider is a collaborator after expiry")
		}
	})
	if u := srv.Unexpected(); len(u) != 0 {
		t.Errorf("requests to paths GitHub does not have: %q", u)
	}
}

// ---------------------------------------------------------------------------
// PostgreSQL, against the real server.

const lcDefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// lcPostgres connects as the test superuser, or skips (fails in CI) when
// there is no server.
func lcPostgres(t *testing.T) (*pgx.Conn, *pgx.ConnConfig) {
	t.Helper()
	dsn := os.Getenv("ACCESSBOT_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = lcDefaultPostgresDSN
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("ACCESSBOT_TEST_POSTGRES_DSN: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		msg := "no PostgreSQL server: start PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) or set ACCESSBOT_TEST_POSTGRES_DSN"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v", msg, err)
		}
		t.Skipf("%s: %v", msg, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, cfg
}

func TestLifecyclePostgres(t *testing.T) {
	su, cfg := lcPostgres(t)
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	s := hex.EncodeToString(b)
	role, alice, bot, table := "readonly_"+s, "alice_"+s, "accessbot_"+s, "lifecycle_"+s
	q := func(name string) string { return pgx.Identifier{name}.Sanitize() }
	exec := func(t *testing.T, sql string) {
		t.Helper()
		if _, err := su.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		for _, sql := range []string{
			"DROP TABLE IF EXISTS public." + q(table),
			"DROP ROLE IF EXISTS " + q(alice),
			"DROP ROLE IF EXISTS " + q(bot),
			"DROP ROLE IF EXISTS " + q(role),
		} {
			if _, err := su.Exec(context.Background(), sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	exec(t, "CREATE ROLE "+q(role)+" NOLOGIN")
	exec(t, "CREATE ROLE "+q(alice)+" LOGIN")
	exec(t, "CREATE TABLE public."+q(table)+" (x int)")
	exec(t, "INSERT INTO public."+q(table)+" VALUES (42)")
	exec(t, "GRANT SELECT ON public."+q(table)+" TO "+q(role))
	// The provider connects as a least-privilege role, set up as README.md
	// says: no superuser, no CREATEROLE, ADMIN OPTION on the one role.
	exec(t, "CREATE ROLE "+q(bot)+" LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 8")
	exec(t, "GRANT "+q(role)+" TO "+q(bot)+" WITH ADMIN OPTION")
	botDSN := strings.Join([]string{
		"host=" + cfg.Host, "port=" + strconv.Itoa(int(cfg.Port)), "dbname=" + cfg.Database,
		"user=" + bot, "sslmode=disable", "connect_timeout=5",
	}, " ")

	// access opens a new session as alice and reports whether it can read
	// the table and whether it can SET ROLE to the granted role.
	access := func(t *testing.T) (canRead, canSetRole bool) {
		t.Helper()
		c := cfg.Copy()
		c.User, c.Password = alice, ""
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, c)
		if err != nil {
			t.Fatalf("connect as %s: %v", alice, err)
		}
		defer conn.Close(context.Background())
		var x int
		err = conn.QueryRow(ctx, "SELECT x FROM public."+q(table)).Scan(&x)
		canRead = err == nil && x == 42
		lcWantDenied(t, err)
		_, err = conn.Exec(ctx, "SET ROLE "+q(role))
		canSetRole = err == nil
		lcWantDenied(t, err)
		return canRead, canSetRole
	}
	held := func(t *testing.T) bool {
		t.Helper()
		r, s := access(t)
		if r != s {
			t.Fatalf("%s can read the table: %v, can SET ROLE %s: %v; want both or neither", alice, r, role, s)
		}
		return r
	}

	pol := fmt.Sprintf(`identities:
  U0ALICE: {postgres: %q}
resources:
  - name: prod-db-read
    provider: postgres
    postgres: {role: %q}
    approvers: [U0BOB]
    max_duration: 2h
`, alice, role)
	w := lcNewWorld(t, pol, providers.Config{PostgresDSN: botDSN})
	w.lifecycle(t, "prod-db-read", 90*time.Minute, lcBackend{held: held})

	t.Run("AlreadyHeld", func(t *testing.T) {
		w.alreadyHeld(t, "prod-db-read", lcBackend{
			held: held,
			give: func(t *testing.T) {
				exec(t, "GRANT "+q(role)+" TO "+q(alice)) // a DBA, by hand
				t.Cleanup(func() { exec(t, "REVOKE "+q(role)+" FROM "+q(alice)) })
			},
		})
	})

	// Names in the policy are identifiers, never SQL: a role really called
	// `x"; DROP ROLE victim; --` is granted and revoked like any other, and
	// an identity spelled like an injection is a role that does not exist.
	t.Run("HostileNames", func(t *testing.T) {
		victim := "victim_" + s
		odd := `x"; DROP ROLE ` + victim + `; --`
		hostile := alice + `"; DROP ROLE ` + victim + `; --`
		t.Cleanup(func() {
			exec(t, "DROP ROLE IF EXISTS "+q(odd))
			exec(t, "DROP ROLE IF EXISTS "+q(victim))
		})
		exec(t, "CREATE ROLE "+q(victim)+" NOLOGIN")
		exec(t, "CREATE ROLE "+q(odd)+" NOLOGIN")
		exec(t, "GRANT "+q(odd)+" TO "+q(bot)+" WITH ADMIN OPTION")
		members := func(t *testing.T, of string) []string {
			t.Helper()
			rows, err := su.Query(context.Background(), `
				SELECT u.rolname::text FROM pg_auth_members m
				  JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
				 WHERE r.rolname = $1 AND u.rolname <> $2 ORDER BY 1`, of, bot)
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		victimExists := func(t *testing.T) bool {
			t.Helper()
			var ok bool
			if err := su.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", victim).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			return ok
		}

		pol := fmt.Sprintf(`identities:
  U0ALICE: {postgres: %q}
  U0MALLORY: {postgres: %q}
resources:
  - name: odd-role
    provider: postgres
    postgres: {role: %q}
    approvers: [U0BOB]
    max_duration: 2h
`, alice, hostile, odd)
		w := lcNewWorld(t, pol, providers.Config{PostgresDSN: botDSN})
		w.lifecycle(t, "odd-role", time.Hour, lcBackend{held: func(t *testing.T) bool {
			return slices.Equal(members(t, odd), []string{alice})
		}})
		if !victimExists(t) {
			t.Fatalf("role %s was dropped", victim)
		}

		r, err := w.svc.Submit(lcCtx(t), "U0MALLORY", "odd-role", time.Hour, lcReason)
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		w.svc.Wait()
		if _, err := w.svc.Approve(lcCtx(t), lcApprover, r.ID); err != nil {
			t.Fatalf("Approve: %v", err)
		}
		w.svc.Wait()
		got := w.request(t, r.ID)
		if got.Status != approvals.StatusFailed || !strings.Contains(got.LastError, "does not exist") {
			t.Errorf("grant to %q: status %s, error %q; want failed, the role does not exist", hostile, got.Status, got.LastError)
		}
		if !victimExists(t) {
			t.Fatalf("role %s was dropped", victim)
		}
		if m := members(t, odd); len(m) != 0 {
			t.Errorf("members of %q = %q, want none", odd, m)
		}
	})
}

// lcWantDenied fails the test on any error but "permission denied".
func lcWantDenied(t *testing.T, err error) {
	t.Helper()
	var pge *pgconn.PgError
	if err != nil && (!errors.As(err, &pge) || pge.Code != "42501") {
		t.Fatalf("want success or permission denied, got %v", err)
	}
}

// ---------------------------------------------------------------------------
// exec, against the example plugin.

func TestLifecycleExec(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "exec-plugin")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	if out, err := osexec.Command(goBin, "build", "-o", bin, "github.com/accessbot/accessbot/examples/exec-plugin").CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	state := filepath.Join(dir, "state.json")

	// members reads the plugin's state file: the backend itself.
	members := func(t *testing.T) []string {
		t.Helper()
		data, err := os.ReadFile(state)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Groups map[string][]string `json:"groups"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatalf("state file %s: %v", data, err)
		}
		return st.Groups["exporters"]
	}
	held := func(t *testing.T) bool { return slices.Contains(members(t), "alice@acme.example") }

	pol := fmt.Sprintf(`identities:
  U0ALICE: {payroll: alice@acme.example}
resources:
  - name: payroll-export
    provider: exec
    identity: payroll
    exec:
      command: [%q, --tenant, acme]
      timeout: 10s
      env: {EXAMPLE_PLUGIN_STATE: %q}
      settings: {group: exporters}
    approvers: [U0BOB]
    max_duration: 1h
`, bin, state)
	w := lcNewWorld(t, pol, providers.Config{})
	w.lifecycle(t, "payroll-export", 45*time.Minute, lcBackend{held: held})
	if got := members(t); len(got) != 0 {
		t.Errorf("exporters after expiry = %q, want none", got)
	}

	t.Run("AlreadyHeld", func(t *testing.T) {
		w.alreadyHeld(t, "payroll-export", lcBackend{
			held: held,
			give: func(t *testing.T) {
				// An admin adds the member with the plugin itself.
				cmd := osexec.Command(bin, "grant")
				cmd.Env = []string{"EXAMPLE_PLUGIN_STATE=" + state}
				cmd.Stdin = strings.NewReader(`{"action":"grant","identity":"alice@acme.example","settings":{"group":"exporters"}}`)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("grant by hand: %v: %s", err, out)
				}
			},
		})
	})
}

// ---------------------------------------------------------------------------
// The policy loader with the real providers' settings types.

// TestProviderPolicyErrors checks that an unknown provider and a bad
// provider block are policy errors naming file:line and the field, with
// the settings types the server really uses.
func TestProviderPolicyErrors(t *testing.T) {
	const head = "resources:\n  - name: r\n    approvers: [U0BOB]\n    max_duration: 1h\n"
	tests := []struct {
		name, resource string
		want           []string
	}{
		{"unknown provider", "    provider: gitlab\n    gitlab: {group: acme}\n",
			[]string{`policy.yaml:5: resources[0].provider: unknown provider "gitlab"`}},
		{"github team and repo", "    provider: github\n    github: {org: acme, team: a, repo: b, permission: push}\n",
			[]string{"policy.yaml:6: resources[0].github:", `"team" or "repo"`}},
		{"github unknown key", "    provider: github\n    github: {org: acme, teem: a}\n",
			[]string{`policy.yaml:6: resources[0].github: unknown field "teem"`}},
		{"github bad permission", "    provider: github\n    github: {org: acme, repo: b, permission: owner}\n",
			[]string{"policy.yaml:6: resources[0].github:", "owner"}},
		{"postgres missing role", "    provider: postgres\n    postgres: {}\n",
			[]string{"policy.yaml:6: resources[0].postgres:", `"role" is required`}},
		{"postgres unknown key", "    provider: postgres\n    postgres: {rol: readonly}\n",
			[]string{`policy.yaml:6: resources[0].postgres: unknown field "rol"`}},
		{"postgres reserved role", "    provider: postgres\n    postgres: {role: public}\n",
			[]string{"policy.yaml:6: resources[0].postgres:", "reserved"}},
		{"exec missing command", "    provider: exec\n    exec: {timeout: 5s}\n",
			[]string{"policy.yaml:6: resources[0].exec:", `"command" is required`}},
		{"exec bad timeout", "    provider: exec\n    exec:\n      command: [/bin/true]\n      timeout: soon\n",
			[]string{"policy.yaml:8: resources[0].exec.timeout:", "30s"}},
		{"exec bad env name", "    provider: exec\n    exec:\n      command: [/bin/true]\n      env: {BAD-NAME: x}\n",
			[]string{"policy.yaml:7: resources[0].exec:", "BAD-NAME"}},
		{"block for another provider", "    provider: github\n    github: {org: acme, team: a}\n    postgres: {role: readonly}\n",
			[]string{`policy.yaml:7: resources[0].postgres: a "postgres" block, but the provider is "github"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse("policy.yaml", []byte(head+tt.resource), providers.SettingsTypes())
			if err == nil {
				t.Fatalf("policy accepted:\n%s", head+tt.resource)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, want)
				}
			}
		})
	}

	// The valid example blocks of DESIGN.md A6 and A11 load.
	const valid = `identities:
  U0ALICE: {github: alice-gh, postgres: alice, payroll: alice}
resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    max_duration: 4h
  - name: payments-repo-write
    provider: github
    github: {org: acme, repo: payments, permission: push}
    approvers: [U0BOB]
    max_duration: 8h
  - name: prod-db-read
    provider: postgres
    postgres: {role: readonly}
    approvers: [U0DBA]
    max_duration: 2h
  - name: payroll-export
    provider: exec
    identity: payroll
    exec:
      command: [/usr/local/bin/payroll-access, --tenant, acme]
      timeout: 30s
      env: {PAYROLL_URL: https://payroll.internal}
      settings: {group: exporters}
    approvers: [U0HR]
    max_duration: 1h
`
	pol, err := policy.Parse("policy.yaml", []byte(valid), providers.SettingsTypes())
	if err != nil {
		t.Fatalf("valid policy refused:\n%v", err)
	}
	if got, want := providers.Used(pol), map[string][]string{
		"github":   {"payments-admin", "payments-repo-write"},
		"postgres": {"prod-db-read"},
		"exec":     {"payroll-export"},
	}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("providers.Used = %v, want %v", got, want)
	}
}
