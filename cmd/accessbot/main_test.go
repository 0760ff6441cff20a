package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// These tests run the real program (Main) on a loopback port, against a
// fake Slack and a fake GitHub that speak their wire formats, with a bbolt
// file in t.TempDir() and an injected clock.

const (
	e2eSecret       = "e2e-signing-secret"
	e2eAudit        = "C0AUDIT"
	e2eApprovals    = "C0APPROVALS"
	e2eAlice        = "U0ALICE"
	e2eBob          = "U0BOB"
	e2eTeamPath     = "/orgs/acme/teams/payments-admins/memberships/alice-gh"
	e2eExpirySpec   = "@every 1h" // sweeps are run by hand; the cron must not interfere
	e2eSummarySpec  = "0 0 1 1 *"
	e2eGitHubToken  = "ghp-e2e-token"
	e2eStartInstant = "2026-11-22T09:00:00Z"
)

const e2ePolicy = `admins: [U0ADMIN]
identities:
  U0ALICE: {github: alice-gh}
  U0BOB: {github: bob-gh}
resources:
  - name: payments-admin
    description: Maintainer of the payments team
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    approval_channel: C0APPROVALS
    max_duration: 4h
`

// A policy without payments-admin, and without any GitHub resource.
const e2ePolicyWithoutPayments = `admins: [U0ADMIN]
identities:
  U0ALICE: {payroll: alice}
resources:
  - name: payroll-export
    provider: exec
    identity: payroll
    exec: {command: [/bin/true]}
    approvers: [U0BOB]
    max_duration: 1h
`

// e2eClock is the injected time, moved by tests.
type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *e2eClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// e2eWorld is what outlives one run of the program: the fakes, the database
// file, the policy file and the clock.
type e2eWorld struct {
	t      *testing.T
	slack  *slackfake.Server
	github *githubtest.Server
	dir    string
	clock  *e2eClock
	// dsn, when set, runs the program on the PostgreSQL store there.
	dsn string
}

func newE2EWorld(t *testing.T) *e2eWorld {
	t.Helper()
	start, _ := time.Parse(time.RFC3339, e2eStartInstant)
	w := &e2eWorld{t: t, slack: slackfake.NewServer(t), github: githubtest.NewServer(t), dir: t.TempDir(), clock: &e2eClock{t: start}}
	w.github.AddTeam("acme", "payments-admins")
	w.github.RequireToken(e2eGitHubToken)
	w.writePolicy(e2ePolicy)
	t.Cleanup(func() {
		if v := w.slack.Violations(); len(v) > 0 {
			t.Errorf("Slack rules broken:\n%s", strings.Join(v, "\n"))
		}
		if u := w.github.Unexpected(); len(u) > 0 {
			t.Errorf("unexpected GitHub requests: %v", u)
		}
	})
	return w
}

func (w *e2eWorld) policyPath() string { return filepath.Join(w.dir, "policy.yaml") }

func (w *e2eWorld) writePolicy(text string) {
	w.t.Helper()
	if err := os.WriteFile(w.policyPath(), []byte(text), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *e2eWorld) config() Config {
	cfg := Config{
		SlackBotToken:      slackfake.Token,
		SlackSigningSecret: e2eSecret,
		SlackAPIURL:        w.slack.APIURL(),
		ListenAddr:         "127.0.0.1:0",
		DBPath:             filepath.Join(w.dir, "accessbot.db"),
		PolicyFile:         w.policyPath(),
		AuditChannel:       e2eAudit,
		ExpirySchedule:     e2eExpirySpec,
		SummarySchedule:    e2eSummarySpec,
		GitHubToken:        e2eGitHubToken,
		GitHubAPIURL:       w.github.URL(),
		LogLevel:           "info",
	}
	if w.dsn != "" {
		cfg.Store, cfg.StoreDSN = storePostgres, w.dsn
	}
	return cfg
}

// start runs the program on a loopback port.
func (w *e2eWorld) start() *Main {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	m := &Main{Config: w.config(), Logger: e2eLogger(), Now: w.clock.Now, Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		w.t.Fatalf("Run: %v", err)
	}
	return m
}

// crash stops a program the way a kill would leave things: no graceful
// shutdown, the store closed under the running service.
func (w *e2eWorld) crash(m *Main) {
	w.t.Helper()
	m.Settle()
	m.cron.Stop()
	m.stopTimer()
	m.timing.Wait()
	m.server.Close()
	if err := m.db.Close(); err != nil {
		w.t.Fatal(err)
	}
}

func e2eLogger() *slog.Logger {
	if os.Getenv("ACCESSBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// post sends a signed request to the running program over TCP, as Slack
// does, and returns the status and body.
func (w *e2eWorld) post(m *Main, r *http.Request) (int, string) {
	w.t.Helper()
	req, err := http.NewRequest(r.Method, "http://"+m.Addr()+r.URL.Path, r.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (w *e2eWorld) command(m *Main, user, text string) string {
	w.t.Helper()
	code, body := w.post(m, slackfake.SignedCommand(e2eSecret, w.clock.Now(), w.slack.Command(user, text)))
	if code != http.StatusOK {
		w.t.Fatalf("/access %s: status %d, body %q", text, code, body)
	}
	return body
}

// requestAndApprove files a payments-admin request for alice, waits for
// its approval message and has bob approve it, returning the request ID.
func (w *e2eWorld) requestAndApprove(m *Main) string {
	w.t.Helper()
	return w.requestAndApproveFor(m, "2h")
}

// requestAndApproveFor is requestAndApprove for a grant of duration d.
func (w *e2eWorld) requestAndApproveFor(m *Main, d string) string {
	w.t.Helper()
	w.command(m, e2eAlice, "request payments-admin "+d+" INC-4211 hotfix")
	open, err := m.db.OpenRequests(context.Background(), e2eAlice)
	if err != nil || len(open) != 1 {
		w.t.Fatalf("open requests after /access request: %v, %v", open, err)
	}
	id := open[0].ID
	var msg slackfake.Call
	w.slack.WaitFor(w.t, func() bool {
		for _, c := range w.slack.Posts(e2eApprovals) {
			if bs := c.Buttons(); len(bs) == 2 && bs[0].Value == id {
				msg = c
				return true
			}
		}
		return false
	}, 5*time.Second)
	w.clock.Advance(time.Minute)
	payload := w.slack.BlockActions(e2eBob, "approve", id, msg.Channel, msg.TS)
	if code, body := w.post(m, slackfake.SignedInteraction(e2eSecret, w.clock.Now(), payload)); code != http.StatusOK {
		w.t.Fatalf("approve click: status %d, body %q", code, body)
	}
	m.Settle()
	return id
}

func (w *e2eWorld) request(m *Main, id string) *approvals.Request {
	w.t.Helper()
	r, err := m.db.Request(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// e2eActions returns the actions of request id's audit events, in log order.
func e2eActions(t *testing.T, m *Main, id string) []string {
	t.Helper()
	var out []string
	err := m.db.Events(context.Background(), func(ev approvals.Event) error {
		if ev.RequestID == id {
			out = append(out, ev.Action)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServeLifecycle(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	defer m.Close()

	if code, body := w.get(m, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	id := w.requestAndApprove(m)
	if n := w.github.Count(http.MethodPut, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub PUTs of the team membership, want 1", n)
	}
	r := w.request(m, id)
	if r.Status != approvals.StatusActive {
		t.Fatalf("status %s after approval, want active", r.Status)
	}
	if want := w.clock.Now().Add(2 * time.Hour); !r.ExpiresAt.Equal(want) {
		t.Errorf("expires at %v, want %v (two hours from the grant)", r.ExpiresAt, want)
	}

	w.clock.Advance(2*time.Hour + time.Second)
	m.sweep(context.Background())
	m.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs after the expiry, want 1", n)
	}
	if _, _, held := w.github.TeamMembership("acme", "payments-admins", "alice-gh"); held {
		t.Error("alice is still a team member after the expiry")
	}
	want := []string{"requested", "approved", "granting", "granted", "expired"}
	if got := e2eActions(t, m, id); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit events %v, want %v", got, want)
	}
	w.slack.WaitFor(t, func() bool {
		return strings.Contains(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "expired")
	}, 5*time.Second)

	if code, body := w.get(m, "/metrics"); code != http.StatusOK || !strings.Contains(body, `accessbot_events_total{action="granted"} 1`) {
		t.Errorf("/metrics: %d, missing the granted counter:\n%.2000s", code, body)
	}
}

func TestServeRefusesUnsignedRequests(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	defer m.Close()
	for _, path := range []string{slackfake.CommandsPath, slackfake.InteractionsPath} {
		body := w.slack.Command(e2eAlice, "request payments-admin 1h x").Encode()
		r := slackfake.SignedRequest("not-the-secret", w.clock.Now(), path, []byte(body))
		if code, _ := w.post(m, r); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong signature: status %d, want 401", path, code)
		}
	}
	if open, _ := m.db.OpenRequests(context.Background(), ""); len(open) != 0 {
		t.Errorf("a refused request created %d requests", len(open))
	}
}

func (w *e2eWorld) get(m *Main, path string) (int, string) {
	w.t.Helper()
	resp, err := http.Get("http://" + m.Addr() + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// e2eText joins the text of calls to channel.
func e2eText(calls []slackfake.Call, channel string) string {
	var b strings.Builder
	for _, c := range calls {
		if c.Channel == channel {
			b.WriteString(c.AllText())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// A grant made, then the process dies; the bot is down past the expiry.
// The first sweep after start, which Run makes before serving, revokes it.
func TestRestartAfterCrashRevokesOverdueGrant(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	id := w.requestAndApprove(m)
	if w.request(m, id).Status != approvals.StatusActive {
		t.Fatal("not granted before the crash")
	}
	w.crash(m)

	w.clock.Advance(3 * time.Hour)
	m2 := w.start()
	defer m2.Close()
	m2.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs after the restart, want 1", n)
	}
	if r := w.request(m2, id); r.Status != approvals.StatusExpired {
		t.Errorf("status %s after the restart, want expired", r.Status)
	}
	if res, err := m2.db.Verify(context.Background()); err != nil {
		t.Errorf("audit chain broken across the crash: %v (%+v)", err, res)
	}
}

// A grant outlives its resource: the policy drops it (and every GitHub
// resource) while the bot is stopped. The grant is still revoked at
// expiry with the settings it was made with, and the change is recorded.
func TestGrantOfRemovedResourceIsStillRevoked(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	id := w.requestAndApprove(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	w.writePolicy(e2ePolicyWithoutPayments)
	m2 := w.start()
	defer m2.Close()
	m2.sweep(context.Background())
	m2.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 0 {
		t.Fatalf("revoked %d times before the expiry", n)
	}
	w.clock.Advance(2*time.Hour + time.Second)
	m2.sweep(context.Background())
	m2.Settle()
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs at the expiry of a grant whose resource left the policy, want 1", n)
	}
	if r := w.request(m2, id); r.Status != approvals.StatusExpired {
		t.Errorf("status %s, want expired", r.Status)
	}
	var loaded []approvals.Event
	_ = m2.db.Events(context.Background(), func(ev approvals.Event) error {
		if ev.Action == approvals.ActionPolicyLoaded {
			loaded = append(loaded, ev)
		}
		return nil
	})
	if len(loaded) != 2 || loaded[1].PolicyHash != m2.svc.Policy().Hash {
		t.Fatalf("policy_loaded events %+v, want the first policy and the changed one", loaded)
	}
	w.slack.WaitFor(t, func() bool {
		return strings.Contains(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "policy changed while accessbot was stopped")
	}, 5*time.Second)
}

// An edited policy reaches the running bot through ReloadPolicy (SIGHUP);
// an invalid one is refused and the one in force stays.
func TestReloadPolicy(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	defer m.Close()
	before := m.svc.Policy().Hash

	w.writePolicy(e2ePolicy + "    max_duraton: 1h\n")
	err := m.ReloadPolicy(context.Background())
	if err == nil || !strings.Contains(err.Error(), "max_duraton") || !strings.Contains(err.Error(), "policy.yaml:") {
		t.Fatalf("reload of a policy with a typo: %v; want an error naming the file, line and key", err)
	}
	if m.svc.Policy().Hash != before {
		t.Fatal("a refused policy was put in force")
	}

	w.writePolicy(e2ePolicyWithoutPayments)
	err = m.ReloadPolicy(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exec") || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("reload needing a provider not started: %v; want an error saying to restart", err)
	}

	w.writePolicy(strings.Replace(e2ePolicy, "max_duration: 4h", "max_duration: 1h", 1))
	if err := m.ReloadPolicy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res, _ := m.svc.Policy().Resource("payments-admin"); res.MaxDuration != time.Hour {
		t.Errorf("max_duration %v after reload, want 1h", res.MaxDuration)
	}
	if body := w.command(m, e2eAlice, "request payments-admin 2h too long now"); !strings.Contains(body, "1h") {
		t.Errorf("a 2h request after lowering the maximum to 1h: %s", body)
	}
}

// serve stops at once, naming what to fix, on a missing variable or an
// invalid policy.
func TestServeRefusesToStart(t *testing.T) {
	w := newE2EWorld(t)
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"no bot token", map[string]string{"ACCESSBOT_SLACK_BOT_TOKEN": ""}, []string{"ACCESSBOT_SLACK_BOT_TOKEN"}},
		{"no signing secret", map[string]string{"ACCESSBOT_SLACK_SIGNING_SECRET": ""}, []string{"ACCESSBOT_SLACK_SIGNING_SECRET"}},
		{"bad schedule", map[string]string{"ACCESSBOT_EXPIRY_SCHEDULE": "every ten seconds"}, []string{"ACCESSBOT_EXPIRY_SCHEDULE"}},
		{"bad summary schedule", map[string]string{"ACCESSBOT_SUMMARY_SCHEDULE": "daily"}, []string{"ACCESSBOT_SUMMARY_SCHEDULE"}},
		{"github without credentials", map[string]string{"ACCESSBOT_GITHUB_TOKEN": ""}, []string{"github", "ACCESSBOT_GITHUB_TOKEN"}},
		{"missing policy", map[string]string{"ACCESSBOT_POLICY_FILE": filepath.Join(w.dir, "nope.yaml")}, []string{"nope.yaml"}},
		{"bad log level", map[string]string{"ACCESSBOT_LOG_LEVEL": "loud"}, []string{"ACCESSBOT_LOG_LEVEL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.config()
			env := map[string]string{
				"ACCESSBOT_SLACK_BOT_TOKEN":      cfg.SlackBotToken,
				"ACCESSBOT_SLACK_SIGNING_SECRET": cfg.SlackSigningSecret,
				"ACCESSBOT_SLACK_API_URL":        cfg.SlackAPIURL,
				"ACCESSBOT_LISTEN_ADDR":          "127.0.0.1:0",
				"ACCESSBOT_DB_PATH":              filepath.Join(t.TempDir(), "a.db"),
				"ACCESSBOT_POLICY_FILE":          cfg.PolicyFile,
				"ACCESSBOT_GITHUB_TOKEN":         e2eGitHubToken,
				"ACCESSBOT_GITHUB_API_URL":       cfg.GitHubAPIURL,
			}
			for k, v := range tc.env {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run([]string{"serve"}, &stdout, &stderr) }()
			select {
			case code := <-done:
				if code == 0 {
					t.Fatalf("serve exited 0")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop on a bad configuration")
			}
			for _, s := range tc.want {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr does not name %q:\n%s", s, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), e2eGitHubToken) {
				t.Errorf("stderr shows the GitHub token:\n%s", stderr.String())
			}
		})
	}
}

// With an app-level token the program takes Slack's requests over Socket
// Mode, needs no signing secret, and refuses unsigned HTTP requests.
func TestServeSocketMode(t *testing.T) {
	w := newE2EWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.config()
	cfg.SlackAppToken, cfg.SlackSigningSecret = "xapp-e2e", ""
	if err := cfg.validateServe(); err != nil {
		t.Fatalf("Socket Mode configuration refused: %v", err)
	}
	m := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now, Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	form := w.slack.Command(e2eAlice, "request payments-admin 1h INC-1 over the socket")
	if ack := w.slack.SendSocket(t, "slash_commands", slackfake.CommandJSON(form), 5*time.Second); !strings.Contains(string(ack), "payments-admin") {
		t.Errorf("Socket Mode ack %s does not confirm the request", ack)
	}
	if open, _ := m.db.OpenRequests(context.Background(), e2eAlice); len(open) != 1 {
		t.Fatalf("%d open requests after a Socket Mode command, want 1", len(open))
	}
	r := slackfake.SignedRequest("", w.clock.Now(), slackfake.CommandsPath, []byte(form.Encode()))
	if code, _ := w.post(m, r); code != http.StatusUnauthorized {
		t.Errorf("HTTP command in Socket Mode without a signing secret: status %d, want 401", code)
	}
	if code, _ := w.get(m, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz in Socket Mode: %d", code)
	}
}

// The process dies while the provider grant call is under way: the request
// was recorded as "granting" first, so the next start completes it, and it
// expires on time after that.
func TestRestartCompletesInterruptedGrant(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	w.command(m, e2eAlice, "request payments-admin 1h INC-7 crash test")
	open, _ := m.db.OpenRequests(context.Background(), e2eAlice)
	if len(open) != 1 {
		t.Fatalf("%d open requests", len(open))
	}
	id := open[0].ID
	var msg slackfake.Call
	w.slack.WaitFor(t, func() bool {
		posts := w.slack.Posts(e2eApprovals)
		if len(posts) > 0 {
			msg = posts[0]
		}
		return len(posts) > 0
	}, 5*time.Second)
	w.github.DelayNext(http.MethodPut, e2eTeamPath, time.Second, 1)
	payload := w.slack.BlockActions(e2eBob, "approve", id, msg.Channel, msg.TS)
	if code, _ := w.post(m, slackfake.SignedInteraction(e2eSecret, w.clock.Now(), payload)); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	w.slack.WaitFor(t, func() bool {
		r, err := m.db.Request(context.Background(), id)
		return err == nil && r.Status == approvals.StatusGranting
	}, 5*time.Second)
	// Crash: the grant goroutine is still waiting for GitHub.
	m.cron.Stop()
	m.server.Close()
	if err := m.db.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := w.start()
	defer m2.Close()
	m2.Settle()
	r := w.request(m2, id)
	if r.Status != approvals.StatusActive {
		t.Fatalf("status %s after the restart, want active", r.Status)
	}
	if _, _, held := w.github.TeamMembership("acme", "payments-admins", "alice-gh"); !held {
		t.Fatal("not a team member after the grant was completed")
	}
	w.clock.Advance(time.Hour + time.Second)
	m2.sweep(context.Background())
	m2.Settle()
	if _, _, held := w.github.TeamMembership("acme", "payments-admins", "alice-gh"); held {
		t.Error("still a team member after the expiry")
	}
}

// Drift detection runs with the summary: a GitHub team member with no
// grant is standing access. On a JIT-only resource (drift: revoke) it is
// removed, except for the allow-listed break-glass account; on a
// report-only resource it is reported and left.
func TestSummaryFindsAndRemovesDrift(t *testing.T) {
	w := newE2EWorld(t)
	w.github.AddTeam("acme", "sre")
	w.writePolicy(e2ePolicy + `    drift: revoke
    standing: [breakglass-gh]
  - name: sre
    provider: github
    github: {org: acme, team: sre}
    approvers: [U0BOB]
    max_duration: 1h
`)
	w.github.AddTeamMember("acme", "payments-admins", "mallory-gh")
	w.github.AddTeamMember("acme", "payments-admins", "breakglass-gh")
	w.github.AddTeamMember("acme", "sre", "oldtimer-gh")
	m := w.start()
	defer m.Close()
	id := w.requestAndApprove(m) // alice-gh holds payments-admin through a grant

	if err := m.PostSummary(context.Background()); err != nil {
		t.Fatal(err)
	}
	members := strings.Join(w.github.TeamMembers("acme", "payments-admins"), ",")
	if strings.Contains(members, "mallory-gh") {
		t.Errorf("standing access on a drift: revoke resource was left: members %s", members)
	}
	if !strings.Contains(members, "breakglass-gh") || !strings.Contains(members, "alice-gh") {
		t.Errorf("allow-listed or granted member removed: members %s", members)
	}
	if got := w.github.TeamMembers("acme", "sre"); len(got) != 1 || got[0] != "oldtimer-gh" {
		t.Errorf("report-only resource changed: members %v", got)
	}
	findings := map[string]string{}
	_ = m.db.Events(context.Background(), func(ev approvals.Event) error {
		if ev.Action == approvals.ActionDrift {
			findings[ev.Identity] = ev.Outcome
		}
		return nil
	})
	want := map[string]string{"mallory-gh": "revoked", "oldtimer-gh": "reported"}
	if len(findings) != len(want) || findings["mallory-gh"] != want["mallory-gh"] || findings["oldtimer-gh"] != want["oldtimer-gh"] {
		t.Errorf("drift events %v, want %v", findings, want)
	}
	if r := w.request(m, id); r.Status != approvals.StatusActive {
		t.Errorf("the granted request is %s after drift detection, want active", r.Status)
	}
}

// The example policy the README points at stays valid.
func TestExamplePolicyChecks(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"policy", "check", "../../examples/policy.yaml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("policy check examples/policy.yaml: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok, 4 resources") {
		t.Errorf("policy check said %q", stdout.String())
	}
}

// A restart just before the summary does not shrink its period: the first
// summary after a start covers one whole period of its schedule.
func TestFirstSummaryAfterRestartCoversAPeriod(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	w.requestAndApprove(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	m2 := w.start()
	defer m2.Close()
	if err := m2.PostSummary(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2.Settle()
	var summary string
	for _, c := range w.slack.Posts(e2eAudit) {
		if strings.Contains(c.Text, "Access summary") {
			summary = c.Text
		}
	}
	if !strings.Contains(summary, "1 requests, 1 approved") || !strings.Contains(summary, "1 active grants") {
		t.Errorf("summary after a restart: %q; want the request filed before the restart counted", summary)
	}
}
