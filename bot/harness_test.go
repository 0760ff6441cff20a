package bot_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/github/githubtest"
	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/pgstore"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5-test"

// People of the test policy.
const (
	alice = "U0ALICE" // requester, also an approver of payments-admin
	bob   = "U0BOB"   // approver
	carol = "U0CAROL" // approver
	dave  = "U0DAVE"  // has a GitHub account, approves sre-oncall only
	erin  = "U0ERIN"  // no identity at all
	admin = "U0ADMIN"
)

// Channels of the test policy.
const (
	auditChannel     = "C0AUDIT"
	approvalsChannel = "C0APPROVALS"
)

// Paths at the fake GitHub.
const (
	aliceTeamPath = "/orgs/acme/teams/payments-admins/memberships/alice-gh"
	aliceSREPath  = "/orgs/acme/teams/sre/memberships/alice-gh"
	aliceRepoPath = "/repos/acme/payments/collaborators/alice-gh"
)

var start = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func testPolicy() *approvals.Policy {
	return &approvals.Policy{
		Admins: []string{admin},
		Identities: map[string]map[string]string{
			alice: {"github": "alice-gh"},
			bob:   {"github": "bob-gh"},
			carol: {"github": "carol-gh"},
			dave:  {"github": "dave-gh"},
		},
		Resources: []approvals.Resource{
			{
				Name: "payments-admin", Description: "Maintainer of the payments team", Provider: "github",
				Settings:  json.RawMessage(`{"org":"acme","team":"payments-admins"}`),
				Approvers: []string{bob, carol, alice}, ApprovalChannel: approvalsChannel,
				ApprovalsRequired: 1, MaxDuration: 4 * time.Hour,
			},
			{
				Name: "payments-repo-write", Provider: "github",
				Settings:    json.RawMessage(`{"org":"acme","repo":"payments","permission":"push"}`),
				Approvers:   []string{bob},
				MaxDuration: 8 * time.Hour,
			},
			{
				Name: "sre-oncall", Provider: "github",
				Settings:  json.RawMessage(`{"org":"acme","team":"sre"}`),
				Approvers: []string{bob, carol, dave}, ApprovalChannel: approvalsChannel,
				ApprovalsRequired: 2, MaxDuration: time.Hour,
			},
			{
				Name: "prod-db-read", Provider: "postgres",
				Settings:    json.RawMessage(`{"role":"readonly"}`),
				Approvers:   []string{bob},
				MaxDuration: 2 * time.Hour,
			},
		},
		Hash: "test-policy",
	}
}

// clock is the injected time, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is the real bot, store, service and GitHub provider against a
// fake Slack and a fake GitHub.
type harness struct {
	t      testing.TB
	slack  *slackfake.Server
	github *githubtest.Server
	db     *store.DB
	// store is the store the service and the deliverer use: db, or
	// another approvals.Store (see newHarnessOn).
	store   harnessStore
	svc     *approvals.Service
	bot     *bot.Bot
	handler http.Handler
	clock   *clock
	// deliverer delivers the outbox to the fake Slack.
	deliverer *runningDeliverer
}

// runningDeliverer is a Deliverer running until stop.
type runningDeliverer struct {
	*bot.Deliverer
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the Deliverer the way SIGTERM does and waits for it.
func (d *runningDeliverer) stop() {
	d.cancel()
	<-d.done
}

// startDeliverer runs a Deliverer of db's outbox against client, posting
// to the test audit channel.
func startDeliverer(t testing.TB, client *slack.Client, db *store.DB, svc *approvals.Service, log *slog.Logger) *runningDeliverer {
	t.Helper()
	return startDelivererTo(t, client, db, svc, log, auditChannel)
}

// startDelivererTo runs a Deliverer of db's outbox against client, with
// short backoffs so that tests of retries run quickly.
func startDelivererTo(t testing.TB, client *slack.Client, db bot.Outbox, svc *approvals.Service, log *slog.Logger, audit string, opts ...func(*bot.DelivererConfig)) *runningDeliverer {
	t.Helper()
	cfg := bot.DelivererConfig{
		Client: client, Outbox: db, AuditChannel: audit, Undeliverable: svc.Undeliverable, Logger: log, Policy: svc.Policy,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, CallTimeout: 2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := bot.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rd := &runningDeliverer{Deliverer: d, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		d.Run(ctx)
	}()
	t.Cleanup(rd.stop)
	return rd
}

// harnessStore is what the harness needs of a store.
type harnessStore interface {
	approvals.Store
	bot.Outbox
	Commits() uint64
	Close() error
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, db)
	h.db = db
	return h
}

// newHarnessOn is newHarness on store db, which it closes at cleanup.
// h.db is left nil.
func newHarnessOn(t testing.TB, db harnessStore) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: start}, store: db}
	h.slack = slackfake.NewServer(t)
	h.github = githubtest.NewServer(t)
	h.github.AddTeam("acme", "payments-admins")
	h.github.AddTeam("acme", "sre")
	h.github.AddRepo("acme", "payments")

	gh, err := github.New(github.Config{Token: "ghp-test", APIURL: h.github.URL()})
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	client := h.slack.Client(slack.OptionHTTPClient(bot.HTTPClient()))
	h.svc = approvals.New(approvals.Config{
		Store:        db,
		Providers:    map[string]approvals.Provider{github.Name: gh},
		Policy:       testPolicy(),
		Directory:    bot.NewDirectory(client, 0, h.clock.Now),
		Now:          h.clock.Now,
		Logger:       log,
		RetryBackoff: time.Millisecond,
	})
	h.bot, err = bot.New(bot.Config{Client: client, SigningSecret: secret, Service: h.svc, Logger: log, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.handler = h.bot.Handler()
	h.deliverer = startDelivererTo(t, client, db, h.svc, log, auditChannel, func(c *bot.DelivererConfig) {
		c.OnDelivered = h.bot.NoticeDelivered
		// As serve configures it: replicas on PostgreSQL record each
		// delivery before the conversation's next message.
		_, c.RecordEach = db.(*pgstore.DB)
	})
	t.Cleanup(func() {
		h.bot.Shutdown()
		h.svc.Shutdown()
		h.deliverer.stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
		if v := h.slack.Violations(); len(v) > 0 {
			t.Errorf("Slack rules broken:\n%s", strings.Join(v, "\n"))
		}
		if u := h.github.Unexpected(); len(u) > 0 {
			t.Errorf("unexpected GitHub requests: %v", u)
		}
	})
	return h
}

// testLogger discards logs unless ACCESSBOT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ACCESSBOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// settle waits for the background work of the service and the bot, and
// for the outbox to be delivered.
func (h *harness) settle() {
	h.t.Helper()
	h.svc.Wait()
	h.bot.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := h.deliverer.Idle(ctx); err != nil {
		h.t.Fatalf("outbox not delivered: %v", err)
	}
}

func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

// reply is a decoded slash command answer.
type reply struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       json.RawMessage `json:"blocks"`
}

// command runs "/access text" as user and returns the ephemeral reply.
func (h *harness) command(user, text string) reply {
	h.t.Helper()
	w := h.serve(slackfake.SignedCommand(secret, h.clock.Now(), h.slack.Command(user, text)))
	if w.Code != http.StatusOK {
		h.t.Fatalf("/access %s: status %d, body %q", text, w.Code, w.Body.String())
	}
	if w.Body.Len() == 0 {
		return reply{}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Fatalf("/access %s: Content-Type %q", text, ct)
	}
	var rep reply
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		h.t.Fatalf("/access %s: %v in %q", text, err, w.Body.String())
	}
	if rep.ResponseType != "ephemeral" {
		h.t.Errorf("/access %s: response_type %q, want ephemeral", text, rep.ResponseType)
	}
	return rep
}

// request files "/access request …" as user and returns the new ID.
func (h *harness) request(user, resource, dur, reason string) string {
	h.t.Helper()
	rep := h.command(user, "request "+resource+" "+dur+" "+reason)
	// The ID comes from the reply: by the time the reply is read the
	// background check may already have closed the request (already held).
	if id := requestIDPattern.FindString(rep.Text); id != "" {
		if r, err := h.db.Request(context.Background(), id); err == nil && r.Resource == resource && r.Requester == user {
			return id
		}
	}
	h.t.Fatalf("request %s by %s not filed; reply %q", resource, user, rep.Text)
	return ""
}

// requestIDPattern matches a request ID (approvals.NewID) in a reply.
var requestIDPattern = regexp.MustCompile(`\bar-[a-z0-9]+\b`)

// click sends a signed block_actions click on the approval message ref.
func (h *harness) click(user, actionID, id string, ref approvals.MessageRef) int {
	h.t.Helper()
	payload := h.slack.BlockActions(user, actionID, id, ref.ChannelID, ref.TS)
	return h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload)).Code
}

func (h *harness) list(user string) []*approvals.Request {
	h.t.Helper()
	rs, err := h.svc.List(context.Background(), user)
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

func (h *harness) get(id string) *approvals.Request {
	h.t.Helper()
	r, err := h.db.Request(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// approvalMessages returns the approval messages of request id as posted.
func (h *harness) approvalMessages(id string) []slackfake.Call {
	var out []slackfake.Call
	for _, c := range h.slack.Posts("") {
		for _, b := range c.Buttons() {
			if b.ActionID == bot.ActionApprove && b.Value == id {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// approvalRef returns the one approval message of request id.
func (h *harness) approvalRef(id string) approvals.MessageRef {
	h.t.Helper()
	msgs := h.approvalMessages(id)
	if len(msgs) != 1 {
		h.t.Fatalf("request %s has %d approval messages, want 1:\n%s", id, len(msgs), h.slack.Summary())
	}
	return approvals.MessageRef{ChannelID: msgs[0].Channel, TS: msgs[0].TS}
}

// current returns what the message at ref shows now.
func (h *harness) current(ref approvals.MessageRef) slackfake.Call {
	h.t.Helper()
	c, ok := h.slack.Message(ref.ChannelID, ref.TS)
	if !ok {
		h.t.Fatalf("no message %v", ref)
	}
	return c
}

// auditActions returns the action of every audit channel post, in order.
func (h *harness) auditActions() []string {
	var out []string
	for _, c := range h.slack.Posts(auditChannel) {
		// Posts start with the action in bold: "*granted* · …".
		rest, ok := strings.CutPrefix(c.Text, "*")
		if !ok {
			h.t.Errorf("audit post does not start with the action: %q", c.Text)
			continue
		}
		action, _, _ := strings.Cut(rest, "*")
		out = append(out, action)
	}
	return out
}

// auditPost returns the audit post of action for request id.
func (h *harness) auditPost(action, id string) string {
	h.t.Helper()
	for _, c := range h.slack.Posts(auditChannel) {
		if strings.HasPrefix(c.Text, "*"+action+"*") && strings.Contains(c.Text, id) {
			return c.Text
		}
	}
	h.t.Fatalf("no audit post %q for %s in:\n%s", action, id, h.slack.Summary())
	return ""
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}
