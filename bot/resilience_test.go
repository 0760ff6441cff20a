package bot_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// waits records the retry waits a Deliverer asks for and lets each pass at
// once, so a test sees a 45-second Retry-After honoured without spending it.
type waits struct {
	mu   sync.Mutex
	asks []time.Duration
}

func (w *waits) after(d time.Duration) <-chan time.Time {
	w.mu.Lock()
	w.asks = append(w.asks, d)
	w.mu.Unlock()
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.asks...)
}

// withWaits restarts h's Deliverer with w as its timer.
func (h *harness) withWaits(w *waits) {
	h.deliverer.stop()
	h.deliverer = startDeliverer2(h, func(c *bot.DelivererConfig) { c.After = w.after })
}

func startDeliverer2(h *harness, opts ...func(*bot.DelivererConfig)) *runningDeliverer {
	return startDelivererTo(h.t, h.slack.Client(), h.db, h.svc, testLogger(), auditChannel, opts...)
}

// postsOf counts the successful posts that name request id, by channel.
func postsOf(s *slackfake.Server, id string) map[string]int {
	out := map[string]int{}
	for _, c := range s.Posts("") {
		if strings.Contains(c.AllText(), id) {
			out[c.Channel]++
		}
	}
	return out
}

// TestSlackOutageThenRecovery checks that 15 seconds of 503 answers lose
// nothing and repeat nothing: once Slack recovers, every approval message,
// DM and audit post of the requests filed during the outage is delivered
// exactly once, each thread's parent before its replies.
func TestSlackOutageThenRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 15-second outage")
	}
	h := newHarness(t)
	h.slack.Outage(http.StatusServiceUnavailable, 15*time.Second)
	inChannel := h.request(alice, "sre-oncall", "30m", "INC-1 outage") // approval channel
	byDM := h.request(alice, "payments-repo-write", "1h", "INC-2 hotfix")
	h.settle()

	if got := postsOf(h.slack, inChannel); got[approvalsChannel] != 1 || got[auditChannel] != 1 {
		t.Errorf("%s posted %v, want once to the approval channel and once to the audit channel", inChannel, got)
	}
	if got := postsOf(h.slack, byDM); got[slackfake.DMChannel(bob)] != 1 || got[auditChannel] != 1 {
		t.Errorf("%s posted %v, want once to bob and once to the audit channel", byDM, got)
	}
	var failed int
	for _, c := range h.slack.Calls() {
		if c.Error == "http_503" {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no call met the outage")
	}
	// After the recovery, the flow goes on: bob approves by DM, alice is
	// told, the thread continues under the same parent.
	if code := h.click(bob, bot.ActionApprove, byDM, h.approvalRef(byDM)); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	h.settle()
	if r := h.get(byDM); r.Status != approvals.StatusActive {
		t.Fatalf("status %s, want active", r.Status)
	}
	thread := h.get(byDM).AuditThread
	if n := len(h.slack.Replies(thread.ChannelID, thread.TS)); n < 2 {
		t.Errorf("%d replies in the thread of %s, want approved and granted", n, byDM)
	}
	if got := postsOf(h.slack, byDM)[slackfake.DMChannel(alice)]; got != 1 {
		t.Errorf("alice got %d DMs about %s, want 1 (granted)", got, byDM)
	}
}

// TestRateLimitWithoutRetryAfter checks that a 429 without Retry-After
// backs off exponentially and then delivers.
func TestRateLimitWithoutRetryAfter(t *testing.T) {
	w := &waits{}
	g := newRig(t, "", func(c *bot.DelivererConfig) { c.After = w.after })
	g.slack.FailNext("chat.postMessage", 3, slackfake.RateLimited(-1))
	r := pendingRequest()
	r.Asked = []string{approvalsChannel}
	g.file(r, approvals.Notice{Ask: r.Asked})
	g.idle()
	if n := len(g.slack.Posts(approvalsChannel)); n != 1 {
		t.Fatalf("%d approval posts, want 1", n)
	}
	got := w.list()
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	if len(got) < 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("waits %v, want exponential %v (the harness's 10ms minimum doubling)", got, want)
	}
}

// TestLongRetryAfterHonoured checks that a Retry-After of 45 seconds is
// waited out, not given up on: the message is delivered after it.
func TestLongRetryAfterHonoured(t *testing.T) {
	h := newHarness(t)
	w := &waits{}
	h.withWaits(w)
	h.slack.FailNext("chat.postMessage", 1, slackfake.RateLimited(45))
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	h.approvalRef(id)
	if got := w.list(); len(got) != 1 || got[0] != 45*time.Second {
		t.Errorf("waits %v, want one of 45s", got)
	}
	if got := postsOf(h.slack, id); got[approvalsChannel] != 1 || got[auditChannel] != 1 {
		t.Errorf("posts %v, want each once", got)
	}
}

// TestBackoffCappedAtOneMinute checks the exponential backoff's cap with
// the production defaults.
func TestBackoffCappedAtOneMinute(t *testing.T) {
	w := &waits{}
	g := newRig(t, "", func(c *bot.DelivererConfig) { c.After, c.MinBackoff, c.MaxBackoff = w.after, 0, 0 })
	g.slack.FailNext("chat.postMessage", 9, slackfake.Failure{Status: http.StatusBadGateway})
	r := pendingRequest()
	r.Asked = []string{approvalsChannel}
	g.file(r, approvals.Notice{Ask: r.Asked})
	g.idle()
	if n := len(g.slack.Posts(approvalsChannel)); n != 1 {
		t.Fatalf("%d approval posts, want 1", n)
	}
	got := w.list()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

// TestHungSlackDoesNotHoldUpAGrant checks that a Slack that accepts calls
// and never answers holds up neither a click nor a grant, nor stopping the
// delivery; what could not be said is said once Slack answers again.
func TestHungSlackDoesNotHoldUpAGrant(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)
	h.slack.Hang()
	began := time.Now()
	if code := h.click(bob, bot.ActionApprove, id, ref); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	h.svc.Wait()
	if r := h.get(id); r.Status != approvals.StatusActive {
		t.Fatalf("status %s with Slack hung, want active", r.Status)
	}
	t.Logf("granted %s after the click, Slack hung", time.Since(began))
	stopped := time.Now()
	h.deliverer.stop()
	t.Logf("delivery stopped in %s", time.Since(stopped))
	h.slack.Unhang()
	h.deliverer = startDeliverer2(h)
	h.settle()
	mustContain(t, "approval message", h.current(ref).AllText(), "<@"+bob+">")
	if dms := postsOf(h.slack, id)[slackfake.DMChannel(alice)]; dms != 1 {
		t.Errorf("alice got %d DMs, want 1 (granted), after Slack answered again", dms)
	}
}

// TestBurstIntoARateLimitedAuditChannel checks that 60 requests against an
// audit channel that takes one post a second after a burst of 30 all
// reach it: rate limits delay messages, they never drop them.
func TestBurstIntoARateLimitedAuditChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out Slack's posting rate")
	}
	h := newHarness(t)
	h.deliverer.stop()
	h.deliverer = startDeliverer2(h, func(c *bot.DelivererConfig) { c.MinBackoff, c.MaxBackoff = time.Second, time.Minute })
	h.slack.LimitPosts(auditChannel, 30, time.Second)
	p := testPolicy()
	var users []string
	for i := range 60 {
		u := fmt.Sprintf("U0LOAD%02d", i)
		users = append(users, u)
		p.Identities[u] = map[string]string{"github": fmt.Sprintf("load%02d-gh", i)}
	}
	p.Hash = "burst-policy"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	h.settle()
	began := time.Now()
	var ids []string
	for _, u := range users {
		r, err := h.svc.Submit(context.Background(), u, "payments-repo-write", time.Hour, "burst")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	h.settle()
	took := time.Since(began)
	audit := strings.Join(textsOf(h.slack.Posts(auditChannel)), "\n")
	for _, id := range ids {
		if !strings.Contains(audit, id) {
			t.Errorf("%s never reached the audit channel", id)
		}
	}
	t.Logf("60 requests in the audit channel after %s", took)
	if took > 60*time.Second {
		t.Errorf("took %s, want within 60 s", took)
	}
}
