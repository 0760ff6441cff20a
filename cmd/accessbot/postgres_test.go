package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/pgstore/pgtest"
)

// These tests run the program on the PostgreSQL store, each in a schema
// of its own, dropped afterwards. They need a server: 127.0.0.1:5432 with
// trust auth for user postgres, or ACCESSBOT_TEST_POSTGRES_DSN. Without
// one they are skipped, except in CI, where they fail.

var (
	pgTestDSN = pgtest.DSN
	pgAdmin   = pgtest.Admin
	pgSchema  = pgtest.Schema
)

// newPGWorld is newE2EWorld on a fresh PostgreSQL schema.
func newPGWorld(t *testing.T) (*e2eWorld, string) {
	t.Helper()
	dsn, schema := pgSchema(t)
	w := newE2EWorld(t)
	w.dsn = dsn
	return w, schema
}

// pgEnv sets the environment of the operator commands to w's database.
func pgEnv(t *testing.T, w *e2eWorld) {
	t.Setenv("ACCESSBOT_STORE", storePostgres)
	t.Setenv("ACCESSBOT_STORE_DSN", w.dsn)
	t.Setenv("ACCESSBOT_POLICY_FILE", w.policyPath())
	t.Setenv("ACCESSBOT_DB_PATH", w.dir+"/unused.db")
	t.Setenv("ACCESSBOT_GITHUB_TOKEN", e2eGitHubToken)
	t.Setenv("ACCESSBOT_GITHUB_API_URL", w.github.URL())
}

// waitUntil polls cond for up to d and returns how long it took.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func leading(m *Main) bool { return m.elector != nil && m.elector.Leading() }

// The whole lifecycle on PostgreSQL through the real program: request,
// approve, grant, expire; the operator commands read the database while
// serve runs.
func TestServeLifecycleOnPostgres(t *testing.T) {
	w, _ := newPGWorld(t)
	m := w.start()
	defer m.Close()
	waitUntil(t, "the only replica to lead", 10*time.Second, func() bool { return leading(m) })
	if code, body := w.get(m, "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok leader" {
		t.Fatalf("/healthz: %d %q, want ok leader", code, body)
	}

	id := w.requestAndApprove(m)
	if n := w.github.Count(http.MethodPut, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub PUTs of the team membership, want 1", n)
	}
	if r := w.request(m, id); r.Status != approvals.StatusActive {
		t.Fatalf("status %s after approval, want active", r.Status)
	}

	pgEnv(t, w)
	code, out, errOut := runCLI(t, "grants", "list")
	if code != 0 || !strings.Contains(out, id) {
		t.Errorf("grants list while serve runs: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "audit", "who", "payments-admin")
	if code != 0 || !strings.Contains(out, "1 holder(s)") {
		t.Errorf("audit who while serve runs: %d %q %q", code, out, errOut)
	}

	w.clock.Advance(2*time.Hour + time.Second)
	m.sweep(context.Background())
	m.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs after the expiry, want 1", n)
	}
	want := []string{"requested", "approved", "granting", "granted", "expired"}
	if got := e2eActions(t, m, id); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit events %v, want %v", got, want)
	}
	w.slack.WaitFor(t, func() bool {
		return strings.Contains(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "expired")
	}, 5*time.Second)

	code, out, errOut = runCLI(t, "audit", "verify")
	if code != 0 || !strings.Contains(out, "audit log intact") {
		t.Errorf("audit verify while serve runs: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "audit", "export")
	if code != 0 || strings.Count(out, "\n") < 5 {
		t.Errorf("audit export: %d, %d lines", code, strings.Count(out, "\n"))
	}
	if _, body := w.get(m, "/metrics"); !strings.Contains(body, "accessbot_leader 1") {
		t.Errorf("/metrics lacks accessbot_leader 1")
	}
	if code, _, errOut := runCLI(t, "backup", w.dir+"/copy.db"); code == 0 || !strings.Contains(errOut, "not available with ACCESSBOT_STORE=postgres") {
		t.Errorf("backup with postgres: %d %q", code, errOut)
	}
}

// killLeaderSession ends the database session that holds the advisory
// lock of schema's replicas, as a network cut or a crashed host would.
func killLeaderSession(t *testing.T, schema string) {
	t.Helper()
	conn := pgAdmin(t)
	var killed bool
	err := conn.QueryRow(context.Background(), `
		SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`,
		leaderKey(schema)).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate the leader's session: %v %v", killed, err)
	}
}

// grantOn files a payments-admin request for user on m and has bob
// approve it with two clicks racing on the replicas a and b; it returns
// the request ID once the grant is settled.
func (w *e2eWorld) grantRacing(m, a, b *Main, user string) string {
	t := w.t
	t.Helper()
	w.command(m, user, "request payments-admin 2h INC-7 failover drill")
	open, err := m.db.OpenRequests(context.Background(), user)
	if err != nil || len(open) != 1 {
		t.Fatalf("open requests: %v, %v", open, err)
	}
	id := open[0].ID
	var msg slackfake.Call
	w.slack.WaitFor(t, func() bool {
		for _, c := range w.slack.Posts(e2eApprovals) {
			if bs := c.Buttons(); len(bs) == 2 && bs[0].Value == id {
				msg = c
				return true
			}
		}
		return false
	}, 10*time.Second)
	w.clock.Advance(time.Minute)
	payload := w.slack.BlockActions(e2eBob, "approve", id, msg.Channel, msg.TS)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, r := range []*Main{a, b} {
		req := slackfake.SignedInteraction(e2eSecret, w.clock.Now(), payload)
		wg.Go(func() {
			hr, err := http.NewRequest(req.Method, "http://"+r.Addr()+req.URL.Path, req.Body)
			if err != nil {
				return
			}
			hr.Header = req.Header.Clone()
			resp, err := http.DefaultClient.Do(hr)
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if codes[0] != http.StatusOK || codes[1] != http.StatusOK {
		t.Fatalf("racing clicks answered %v", codes)
	}
	a.Settle()
	b.Settle()
	waitUntil(t, "the grant", 10*time.Second, func() bool { return w.request(m, id).Status == approvals.StatusActive })
	return id
}

// Two replicas on one schema: clicks racing on both grant once; when the
// leader's session is killed, and again when the leader is closed, the
// other replica leads within 15 s and revokes, once, the grant that
// expired meanwhile; no message is posted twice, but for one in flight at
// the failover.
func TestTwoReplicasFailover(t *testing.T) {
	w, schema := newPGWorld(t)
	a := w.start()
	defer a.Close()
	waitUntil(t, "the first replica to lead", 10*time.Second, func() bool { return leading(a) })
	b := w.start()
	defer b.Close()
	time.Sleep(2 * electionCheck)
	if leading(b) {
		t.Fatal("both replicas lead")
	}
	if code, body := w.get(b, "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok follower" {
		t.Fatalf("/healthz of the follower: %d %q", code, body)
	}
	if _, body := w.get(b, "/metrics"); !strings.Contains(body, "accessbot_leader 0") {
		t.Error("the follower's /metrics lacks accessbot_leader 0")
	}

	// A request filed on the follower, approved by two racing clicks.
	id := w.grantRacing(b, a, b, e2eAlice)
	if n := w.github.Count(http.MethodPut, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub PUTs after racing clicks, want 1", n)
	}

	// The grant expires while the leader's session is cut.
	w.clock.Advance(2*time.Hour + time.Second)
	killLeaderSession(t, schema)
	took := waitUntil(t, "the follower to lead after the session was killed", 15*time.Second, func() bool { return leading(b) && !leading(a) })
	t.Logf("failover after the leader's session was killed: %s", took)
	waitUntil(t, "the revoke by the new leader", 10*time.Second, func() bool { return w.request(b, id).Status == approvals.StatusExpired })
	b.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs after the failover, want 1", n)
	}

	// Again, the other way round: the leader is closed.
	id2 := w.grantRacing(a, a, b, e2eAlice)
	w.clock.Advance(2*time.Hour + time.Second)
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first replica to lead again after the leader closed", 15*time.Second, func() bool { return leading(a) })
	t.Logf("failover after the leader closed: %s", time.Since(start))
	waitUntil(t, "the second revoke", 10*time.Second, func() bool { return w.request(a, id2).Status == approvals.StatusExpired })
	a.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 2 {
		t.Fatalf("%d GitHub DELETEs after both failovers, want 2", n)
	}
	w.slack.WaitFor(t, func() bool {
		return strings.Count(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "expired") >= 2
	}, 10*time.Second)

	// No message twice, but for one in flight at each failover.
	seen := map[string]int{}
	twice := 0
	for _, c := range w.slack.Posts("") {
		key := c.Channel + "\x00" + c.AllText()
		if seen[key]++; seen[key] == 2 {
			twice++
		}
	}
	if twice > 2 {
		t.Errorf("%d messages posted twice across two failovers", twice)
	}
	if res, err := a.db.Verify(context.Background()); err != nil {
		t.Errorf("audit chain across the failovers: %v (%+v)", err, res)
	}
	var disagree []string
	if err := a.db.CheckState(context.Background(), func(d store.Disagreement) { disagree = append(disagree, d.Text) }); err != nil || len(disagree) > 0 {
		t.Errorf("the requests disagree with the log: %v %v", err, disagree)
	}
}

// auditHeadLine is the "audit log intact: N records, head H" line of
// audit verify.
func auditHeadLine(t *testing.T) string {
	t.Helper()
	code, out, errOut := runCLI(t, "audit", "verify")
	if code != 0 {
		t.Fatalf("audit verify: %d %q %q", code, out, errOut)
	}
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "audit log intact: ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("audit verify printed no head: %q", out)
	return ""
}

// migrate --to postgres and back: the chain, the requests and their
// indexes arrive intact, both logs verify with the same head, a
// non-empty target is refused, and a running serve holding the file too.
func TestMigrateRoundTrip(t *testing.T) {
	w, _ := newPGWorld(t)
	dsn := w.dsn
	w.dsn = "" // the program runs on bbolt first
	m := w.start()
	active := w.requestAndApprove(m)
	w.command(m, e2eBob, "request payments-admin 1h INC-9 pending one")
	m.Settle()

	bolt := w.dir + "/accessbot.db"
	t.Setenv("ACCESSBOT_DB_PATH", bolt)
	t.Setenv("ACCESSBOT_STORE_DSN", dsn)
	t.Setenv("ACCESSBOT_POLICY_FILE", w.policyPath())
	if code, _, errOut := runCLI(t, "migrate", "--to", "postgres"); code == 0 || !strings.Contains(errOut, "stop it first") {
		t.Errorf("migrate while serve holds the file: %d %q", code, errOut)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	before := auditHeadLine(t)
	_, listBefore, _ := runCLI(t, "grants", "list")

	code, out, errOut := runCLI(t, "migrate", "--to", "postgres")
	if code != 0 || !strings.Contains(out, "copied bbolt") || !strings.Contains(out, strings.TrimPrefix(before, "audit log intact: ")) {
		t.Fatalf("migrate --to postgres: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "migrate", "--to", "postgres"); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("a second migrate into the same schema: %d %q", code, errOut)
	}
	t.Setenv("ACCESSBOT_STORE", storePostgres)
	if got := auditHeadLine(t); got != before {
		t.Errorf("on PostgreSQL: %q, on bbolt: %q", got, before)
	}
	if _, list, _ := runCLI(t, "grants", "list"); list != listBefore {
		t.Errorf("grants list on PostgreSQL:\n%s\non bbolt:\n%s", list, listBefore)
	}

	t.Setenv("ACCESSBOT_STORE", storeBbolt)
	t.Setenv("ACCESSBOT_DB_PATH", w.dir+"/back.db")
	code, out, errOut = runCLI(t, "migrate", "--to", "bbolt")
	if code != 0 || !strings.Contains(out, "copied PostgreSQL") {
		t.Fatalf("migrate --to bbolt: %d %q %q", code, out, errOut)
	}
	if got := auditHeadLine(t); got != before {
		t.Errorf("back on bbolt: %q, first: %q", got, before)
	}
	if code, _, errOut := runCLI(t, "migrate", "--to", "bbolt"); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Errorf("a second migrate into the same file: %d %q", code, errOut)
	}

	// The program runs on the copy: the grant copied is revoked at its
	// expiry, through the indexes the copy wrote.
	w.dsn = dsn
	m2 := w.start()
	defer m2.Close()
	waitUntil(t, "the replica to lead", 10*time.Second, func() bool { return leading(m2) })
	w.clock.Advance(2*time.Hour + time.Second)
	m2.sweep(context.Background())
	m2.Settle()
	if r := w.request(m2, active); r.Status != approvals.StatusExpired {
		t.Errorf("the copied grant is %s after its expiry, want expired", r.Status)
	}
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Errorf("%d GitHub DELETEs, want 1", n)
	}
}

// ACCESSBOT_STORE is checked before anything starts; the DSN is a secret
// that may come from a file.
func TestStoreConfiguration(t *testing.T) {
	unstartableEnv(t)
	t.Setenv("ACCESSBOT_STORE", "sqlite")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_STORE=\"sqlite\"") {
		t.Errorf("unknown store: %v", err)
	}
	t.Setenv("ACCESSBOT_STORE", storePostgres)
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_STORE_DSN") {
		t.Errorf("postgres without a DSN: %v", err)
	}
	file := t.TempDir() + "/dsn"
	if err := os.WriteFile(file, []byte("postgres://u:hunter2@db/x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACCESSBOT_STORE_DSN_FILE", file)
	cfg, err := loadConfig()
	if err != nil || cfg.StoreDSN != "postgres://u:hunter2@db/x" || !cfg.postgres() {
		t.Errorf("ACCESSBOT_STORE_DSN_FILE: %v, %q", err, cfg.StoreDSN)
	}
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", file)
	if _, err := loadConfig(); err != nil {
		t.Errorf("an audit key with postgres: %v", err)
	}
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", "")
	if code, _, errOut := runCLI(t, "compact"); code == 0 || !strings.Contains(errOut, "not available with ACCESSBOT_STORE=postgres") || strings.Contains(errOut, "hunter2") {
		t.Errorf("compact with postgres: %d %q", code, errOut)
	}
}

// grants revoke on PostgreSQL, from outside the replicas, while they run:
// the grant ends once, and the leader tells the people concerned.
func TestRevokeFromCLIOnPostgres(t *testing.T) {
	w, _ := newPGWorld(t)
	m := w.start()
	defer m.Close()
	waitUntil(t, "the replica to lead", 10*time.Second, func() bool { return leading(m) })
	id := w.requestAndApprove(m)
	pgEnv(t, w)
	code, out, errOut := runCLI(t, "grants", "revoke", id)
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("grants revoke: %d %q %q", code, out, errOut)
	}
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Errorf("%d GitHub DELETEs, want 1", n)
	}
	m.Settle()
	if r := w.request(m, id); r.Status != approvals.StatusRevoked {
		t.Errorf("status %s, want revoked", r.Status)
	}
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d %q %q", code, out, errOut)
	}
}

// migrate --to postgres and back with ACCESSBOT_AUDIT_KEY_FILE: a keyed
// chain arrives byte for byte, verifies with the key on both stores with
// the same head, and without the key it is refused on PostgreSQL as on
// bbolt.
func TestMigrateKeyedChain(t *testing.T) {
	dsn, _ := pgSchema(t)
	dir := t.TempDir()
	keyFile, keys := writeKeyFile(t, dir, 2)
	bolt := dir + "/accessbot.db"
	// Records made with the older key, then with the newer one.
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i, opts := range []store.Options{{AuditKey: keys[1]}, {AuditKey: keys[0], AuditKeys: keys[1:]}} {
		db, err := store.OpenWith(bolt, opts)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 3 {
			ev := approvals.Event{Time: at.Add(time.Duration(3*i+j) * time.Minute), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}
			if err := db.AppendEvent(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	t.Setenv("ACCESSBOT_DB_PATH", bolt)
	t.Setenv("ACCESSBOT_STORE_DSN", dsn)
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", keyFile)
	before := auditHeadLine(t)
	if code, out, errOut := runCLI(t, "migrate", "--to", "postgres"); code != 0 {
		t.Fatalf("migrate --to postgres: %d %q %q", code, out, errOut)
	}
	t.Setenv("ACCESSBOT_STORE", storePostgres)
	if got := auditHeadLine(t); got != before {
		t.Errorf("on PostgreSQL: %q, on bbolt: %q", got, before)
	}
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", "")
	if code, _, errOut := runCLI(t, "audit", "verify"); code == 0 || !strings.Contains(errOut, "ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("audit verify on PostgreSQL without the key: %d %q", code, errOut)
	}
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", keyFile)

	t.Setenv("ACCESSBOT_STORE", storeBbolt)
	t.Setenv("ACCESSBOT_DB_PATH", dir+"/back.db")
	if code, out, errOut := runCLI(t, "migrate", "--to", "bbolt"); code != 0 {
		t.Fatalf("migrate --to bbolt: %d %q %q", code, out, errOut)
	}
	if got := auditHeadLine(t); got != before {
		t.Errorf("back on bbolt: %q, first: %q", got, before)
	}
}
