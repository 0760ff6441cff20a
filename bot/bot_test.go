package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

func TestNewRefusesEmptySigningSecret(t *testing.T) {
	s := slackfake.NewServer(t)
	svc := approvals.New(approvals.Config{Policy: testPolicy()})
	if _, err := bot.New(bot.Config{Client: s.Client(), Service: svc}); err == nil {
		t.Fatal("New accepted an empty signing secret")
	}
	if _, err := bot.New(bot.Config{Client: s.Client(), Service: svc, SigningSecret: "x"}); err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := bot.New(bot.Config{Client: s.Client(), Service: svc, SocketMode: true}); err != nil {
		t.Fatalf("New in Socket Mode without a signing secret: %v", err)
	}
	if _, err := bot.New(bot.Config{SigningSecret: "x"}); err == nil {
		t.Fatal("New accepted no client and no service")
	}
	if _, err := bot.NewDeliverer(bot.DelivererConfig{}); err == nil {
		t.Fatal("NewDeliverer accepted no client")
	}
}

// TestSignatureRefused checks that a request without a valid, fresh
// signature gets 401 on both endpoints and changes nothing.
func TestSignatureRefused(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "INC-1 hotfix")
	h.settle()
	ref := h.approvalRef(id)
	now := h.clock.Now()

	cmdBody := []byte(h.slack.Command(dave, "request sre-oncall 30m forged").Encode())
	clickBody := []byte(url.Values{"payload": {string(h.slack.BlockActions(bob, bot.ActionApprove, id, ref.ChannelID, ref.TS))}}.Encode())

	cases := []struct {
		name  string
		build func(path string, body []byte) *http.Request
	}{
		{"missing headers", func(path string, body []byte) *http.Request {
			r := slackfake.SignedRequest(secret, now, path, body)
			r.Header.Del("X-Slack-Signature")
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}},
		{"missing signature", func(path string, body []byte) *http.Request {
			r := slackfake.SignedRequest(secret, now, path, body)
			r.Header.Del("X-Slack-Signature")
			return r
		}},
		{"wrong secret", func(path string, body []byte) *http.Request {
			return slackfake.SignedRequest("not-the-secret", now, path, body)
		}},
		{"empty secret", func(path string, body []byte) *http.Request {
			return slackfake.SignedRequest("", now, path, body)
		}},
		{"stale", func(path string, body []byte) *http.Request {
			return slackfake.SignedRequest(secret, now.Add(-5*time.Minute-time.Second), path, body)
		}},
		{"from the future", func(path string, body []byte) *http.Request {
			return slackfake.SignedRequest(secret, now.Add(5*time.Minute+time.Second), path, body)
		}},
		{"body changed after signing", func(path string, body []byte) *http.Request {
			r := slackfake.SignedRequest(secret, now, path, body)
			tampered := strings.Replace(string(body), "30m", "1h", 1)
			tampered = strings.Replace(tampered, bob, carol, 1)
			r2 := httptestRequest(path, tampered)
			r2.Header = r.Header
			return r2
		}},
		{"timestamp changed after signing", func(path string, body []byte) *http.Request {
			r := slackfake.SignedRequest(secret, now, path, body)
			r.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(now.Unix()+1))
			return r
		}},
		{"not v0", func(path string, body []byte) *http.Request {
			r := slackfake.SignedRequest(secret, now, path, body)
			r.Header.Set("X-Slack-Signature", strings.Replace(r.Header.Get("X-Slack-Signature"), "v0=", "v1=", 1))
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []struct {
				path string
				body []byte
			}{{slackfake.CommandsPath, cmdBody}, {slackfake.InteractionsPath, clickBody}} {
				if w := h.serve(tc.build(ep.path, ep.body)); w.Code != http.StatusUnauthorized {
					t.Errorf("%s: status %d, want 401", ep.path, w.Code)
				}
			}
			h.settle()
			if rs := h.list(dave); len(rs) != 0 {
				t.Errorf("a forged command filed %d request(s)", len(rs))
			}
			if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 0 {
				t.Errorf("a forged click changed the request: %s, %d approvals", r.Status, len(r.Approvals))
			}
		})
	}
	if n := h.github.Count(http.MethodPut, ""); n != 0 {
		t.Errorf("%d GitHub PUTs after forged requests", n)
	}
	// The signature is checked against the injected clock, not time.Now.
	h.clock.Advance(24 * time.Hour)
	if rep := h.command(bob, "help"); !strings.Contains(rep.Text, "request") {
		t.Errorf("help at the injected time: %q", rep.Text)
	}
}

func httptestRequest(path, body string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(body))
	return r
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t)
	body := []byte("text=" + strings.Repeat("a", bot.MaxBodyBytes))
	w := h.serve(slackfake.SignedRequest(secret, h.clock.Now(), slackfake.CommandsPath, body))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", w.Code)
	}
}

func TestOnlyPOST(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{slackfake.CommandsPath, slackfake.InteractionsPath} {
		r, _ := http.NewRequest(http.MethodGet, path, nil)
		if w := h.serve(r); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 405", path, w.Code)
		}
	}
}

// TestBadInput checks every bad /access request of DESIGN.md A4: an
// ephemeral error saying what to fix, and nothing created.
func TestBadInput(t *testing.T) {
	h := newHarness(t)
	pending := h.request(alice, "payments-repo-write", "1h", "deploy")
	active := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	if code := h.click(bob, bot.ActionApprove, active, h.approvalRef(active)); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	h.settle()
	if r := h.get(active); r.Status != approvals.StatusActive {
		t.Fatalf("setup: %s is %s", active, r.Status)
	}

	cases := []struct {
		user, text string
		wants      []string
	}{
		{alice, "request no-such-thing 1h reason", []string{"no-such-thing", "/access resources"}},
		{alice, "request sre-oncall 2x reason", []string{"2x"}},
		{alice, "request sre-oncall soon reason", []string{"soon"}},
		{alice, "request sre-oncall 0s reason", []string{"positive"}},
		{alice, "request sre-oncall 90m reason", []string{"1h"}},
		{alice, "request sre-oncall 30m", []string{"reason"}},
		{erin, "request sre-oncall 30m on call", []string{"github", "identities"}},
		{alice, "request prod-db-read 30m report", []string{"postgres"}},
		{alice, "request payments-repo-write 1h again", []string{pending, "pending"}},
		{alice, "request payments-admin 1h again", []string{active, "active", "UTC"}},
		{alice, "frobnicate", []string{"frobnicate"}},
	}
	before := len(h.slack.Posts(""))
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			openBefore := len(h.list(tc.user))
			rep := h.command(tc.user, tc.text)
			mustContain(t, "reply", rep.Text, tc.wants...)
			if strings.Contains(rep.Text, "ar-") && !strings.Contains(rep.Text, pending) && !strings.Contains(rep.Text, active) {
				t.Errorf("reply names a new request: %q", rep.Text)
			}
			if n := len(h.list(tc.user)); n != openBefore {
				t.Errorf("%d open requests, want %d", n, openBefore)
			}
		})
	}
	h.settle()
	if n := len(h.slack.Posts("")); n != before {
		t.Errorf("bad input made %d Slack posts", n-before)
	}
}

// TestLifecycle runs request → approval message → approve → grant →
// expiry → revoke through the HTTP handlers, with the real store and the
// real GitHub provider.
func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	rep := h.command(alice, "request payments-admin 2h INC-4211 hotfix")
	rs := h.list(alice)
	if len(rs) != 1 {
		t.Fatalf("%d open requests after a request", len(rs))
	}
	id := rs[0].ID
	mustContain(t, "reply", rep.Text, id, "payments-admin", "2h", "approv")
	if rs[0].Reason != "INC-4211 hotfix" {
		t.Errorf("reason %q", rs[0].Reason)
	}

	// The approval message reaches the approval channel with two buttons
	// carrying only the request ID.
	h.slack.WaitFor(t, func() bool { return len(h.approvalMessages(id)) == 1 }, 2*time.Second)
	h.settle()
	msg := h.approvalMessages(id)[0]
	if msg.Channel != approvalsChannel {
		t.Errorf("approval message in %s, want %s", msg.Channel, approvalsChannel)
	}
	buttons := msg.Buttons()
	if len(buttons) != 2 || buttons[0].ActionID != "approve" || buttons[0].Value != id || buttons[0].Style != "primary" ||
		buttons[1].ActionID != "deny" || buttons[1].Value != id || buttons[1].Style != "danger" {
		t.Errorf("buttons %+v", buttons)
	}
	mustContain(t, "approval message", msg.AllText(), "<@"+alice+">", "payments-admin", "2h", "INC-4211 hotfix", id)
	ref := approvals.MessageRef{ChannelID: msg.Channel, TS: msg.TS}
	if got := h.get(id).Messages; len(got) != 1 || got[0] != ref {
		t.Errorf("stored messages %v, want [%v]", got, ref)
	}

	// Bob approves: answered at once, granted at GitHub.
	h.clock.Advance(time.Minute)
	if code := h.click(bob, bot.ActionApprove, id, ref); code != http.StatusOK {
		t.Fatalf("click: status %d", code)
	}
	h.settle()
	if n := h.github.Count(http.MethodPut, aliceTeamPath); n != 1 {
		t.Fatalf("%d GitHub PUTs, want 1", n)
	}
	r := h.get(id)
	if r.Status != approvals.StatusActive {
		t.Fatalf("status %s, want active", r.Status)
	}
	wantExpiry := start.Add(time.Minute + 2*time.Hour)
	if !r.ExpiresAt.Equal(wantExpiry) {
		t.Errorf("expires %v, want %v (the clock starts at the grant)", r.ExpiresAt, wantExpiry)
	}
	expiry := wantExpiry.Format(time.RFC3339)

	// The approval message lost its buttons and shows decider and expiry.
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left after the decision: %+v", cur.Buttons())
	}
	mustContain(t, "updated approval message", cur.AllText(), "Granted", "<@"+bob+">", expiry, fmt.Sprintf("<!date^%d^", wantExpiry.Unix()))

	// The requester is told by DM, with the exact expiry.
	dms := h.slack.DMs(alice)
	if len(dms) == 0 {
		t.Fatalf("no DM to the requester:\n%s", h.slack.Summary())
	}
	mustContain(t, "requester DM", dms[len(dms)-1].Text, "payments-admin", expiry, id)

	// list shows the grant with its expiry and approver.
	mustContain(t, "list", h.command(alice, "list").Text, id, "active", expiry, "<@"+bob+">")

	// Before the expiry nothing is revoked; after it, the sweep revokes.
	h.clock.Advance(2*time.Hour - time.Second)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 0 {
		t.Fatalf("revoked %d times before the expiry", n)
	}
	h.clock.Advance(2 * time.Second)
	if err := h.svc.ExpireDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 1 {
		t.Fatalf("%d GitHub DELETEs after the expiry, want 1", n)
	}
	if r := h.get(id); r.Status != approvals.StatusExpired {
		t.Errorf("status %s, want expired", r.Status)
	}
	mustContain(t, "message after expiry", h.current(ref).AllText(), "Expired")
	mustContain(t, "last requester DM", h.slack.DMs(alice)[len(h.slack.DMs(alice))-1].Text, "expired", id)

	// The audit channel saw every step, in order, with mentions.
	if got, want := strings.Join(h.auditActions(), ","), "requested,approved,granted,expired"; got != want {
		t.Errorf("audit posts %s, want %s", got, want)
	}
	for _, a := range []string{"requested", "approved", "granted", "expired"} {
		mustContain(t, a+" audit post", h.auditPost(a, id), id, "payments-admin", "<@"+alice+">")
	}
	mustContain(t, "approved audit post", h.auditPost("approved", id), "<@"+bob+">")
	if len(h.list(alice)) != 0 {
		t.Errorf("requests still open after expiry")
	}
}

func TestSelfApprovalRefused(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	if code := h.click(alice, bot.ActionApprove, id, h.approvalRef(id)); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	h.settle()
	eph := h.slack.Ephemerals(alice)
	if len(eph) != 1 {
		t.Fatalf("%d ephemerals to the clicker, want 1:\n%s", len(eph), h.slack.Summary())
	}
	mustContain(t, "refusal", eph[0].Text, "own request")
	if eph[0].Channel != approvalsChannel {
		t.Errorf("refusal in %s, want the channel of the click", eph[0].Channel)
	}
	if n := h.github.Count(http.MethodPut, ""); n != 0 {
		t.Errorf("%d GitHub PUTs after a self-approval", n)
	}
	if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 0 {
		t.Errorf("request changed: %s, %v", r.Status, r.Approvals)
	}
}

func TestNonApproverRefused(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)
	for _, action := range []string{bot.ActionApprove, bot.ActionDeny} {
		if code := h.click(dave, action, id, ref); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	h.settle()
	eph := h.slack.Ephemerals(dave)
	if len(eph) != 2 {
		t.Fatalf("%d ephemerals, want 2", len(eph))
	}
	mustContain(t, "refusal", eph[0].Text, "not an approver", "<@"+bob+">")
	if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 0 {
		t.Errorf("request changed: %s, %v", r.Status, r.Approvals)
	}
	if n := h.github.Count(http.MethodPut, ""); n != 0 {
		t.Errorf("%d GitHub PUTs", n)
	}
	if len(h.current(ref).Buttons()) != 2 {
		t.Errorf("buttons gone after refused clicks")
	}
}

func TestUnknownClickIgnored(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)
	if code := h.click(bob, "frobnicate", id, ref); code != http.StatusOK {
		t.Errorf("status %d, want 200", code)
	}
	if code := h.click(bob, bot.ActionApprove, "ar-nosuchid", ref); code != http.StatusOK {
		t.Errorf("status %d, want 200", code)
	}
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending {
		t.Errorf("status %s", r.Status)
	}
	eph := h.slack.Ephemerals(bob)
	if len(eph) != 1 {
		t.Fatalf("%d ephemerals, want 1 (for the unknown request)", len(eph))
	}
	mustContain(t, "refusal", eph[0].Text, "ar-nosuchid")
}

func TestTwoApprovals(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "sre-oncall", "30m", "pager duty")
	h.settle()
	ref := h.approvalRef(id)

	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 1 {
		t.Fatalf("after one approval: %s, %d approvals", r.Status, len(r.Approvals))
	}
	cur := h.current(ref)
	mustContain(t, "message after one approval", cur.AllText(), "1 of 2 approvals", "<@"+bob+">")
	if len(cur.Buttons()) != 2 {
		t.Errorf("buttons gone while still pending")
	}

	// The same approver twice does not count.
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending || len(r.Approvals) != 1 {
		t.Fatalf("after a repeated approval: %s, %d approvals", r.Status, len(r.Approvals))
	}
	eph := h.slack.Ephemerals(bob)
	if len(eph) != 1 {
		t.Fatalf("%d ephemerals to bob, want 1", len(eph))
	}
	mustContain(t, "repeat refusal", eph[0].Text, "already approved")
	if n := h.github.Count(http.MethodPut, ""); n != 0 {
		t.Fatalf("granted after one approval")
	}

	h.click(carol, bot.ActionApprove, id, ref)
	h.settle()
	if n := h.github.Count(http.MethodPut, aliceSREPath); n != 1 {
		t.Fatalf("%d GitHub PUTs, want 1", n)
	}
	r := h.get(id)
	if r.Status != approvals.StatusActive || strings.Join(r.Approvers(), ",") != bob+","+carol {
		t.Errorf("status %s, approvers %v", r.Status, r.Approvers())
	}
	cur = h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left after the decision")
	}
	mustContain(t, "decided message", cur.AllText(), "<@"+bob+">", "<@"+carol+">", "Granted")
	if got, want := strings.Join(h.auditActions(), ","), "requested,approval,approved,granted"; got != want {
		t.Errorf("audit posts %s, want %s", got, want)
	}
	mustContain(t, "approval audit post", h.auditPost("approval", id), "1 of 2", "<@"+bob+">")
}

// TestConcurrentClicks sends 20 identical approve clicks at once: one
// grant, and every other clicker is told why nothing happened.
func TestConcurrentClicks(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)

	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { codes[i] = h.click(bob, bot.ActionApprove, id, ref) })
	}
	wg.Wait()
	h.settle()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("click %d: status %d", i, c)
		}
	}
	if got := h.github.Count(http.MethodPut, aliceTeamPath); got != 1 {
		t.Errorf("%d GitHub PUTs, want exactly 1", got)
	}
	if r := h.get(id); r.Status != approvals.StatusActive || len(r.Approvals) != 1 {
		t.Errorf("status %s, %d approvals", r.Status, len(r.Approvals))
	}
	if got := len(h.slack.Ephemerals(bob)); got != n-1 {
		t.Errorf("%d refusals, want %d", got, n-1)
	}
	if len(h.current(ref).Buttons()) != 0 {
		t.Errorf("buttons left after the decision")
	}
}

func TestDeny(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	ref := h.approvalRef(id)
	h.click(carol, bot.ActionDeny, id, ref)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusDenied || r.DecidedBy != carol {
		t.Fatalf("status %s by %s", r.Status, r.DecidedBy)
	}
	cur := h.current(ref)
	if len(cur.Buttons()) != 0 {
		t.Errorf("buttons left after denial")
	}
	mustContain(t, "denied message", cur.AllText(), "Denied", "<@"+carol+">")
	dms := h.slack.DMs(alice)
	if len(dms) != 1 {
		t.Fatalf("%d DMs to the requester", len(dms))
	}
	mustContain(t, "denial DM", dms[0].Text, "denied", "<@"+carol+">", id)
	mustContain(t, "denied audit post", h.auditPost("denied", id), "<@"+carol+">", "<@"+alice+">", "payments-admin")

	// A late approval is refused and grants nothing.
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	mustContain(t, "late click refusal", h.slack.Ephemerals(bob)[0].Text, "denied")
	if n := h.github.Count(http.MethodPut, ""); n != 0 {
		t.Errorf("%d GitHub PUTs after denial", n)
	}
}

// TestApproverDMs covers a resource without an approval channel: each
// approver gets the message by DM and can decide from there.
func TestApproverDMs(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-repo-write", "1h", "deploy")
	h.settle()
	if c := h.slack.CallsTo("conversations.open"); len(c) != 1 || c[0].User != bob {
		t.Fatalf("conversations.open calls %+v", c)
	}
	msgs := h.slack.DMs(bob)
	if len(msgs) != 1 || len(msgs[0].Buttons()) != 2 {
		t.Fatalf("approval DMs to bob: %+v", msgs)
	}
	ref := approvals.MessageRef{ChannelID: msgs[0].Channel, TS: msgs[0].TS}
	h.click(bob, bot.ActionApprove, id, ref)
	h.settle()
	if n := h.github.Count(http.MethodPut, aliceRepoPath); n != 1 {
		t.Fatalf("%d collaborator PUTs", n)
	}
	if len(h.current(ref).Buttons()) != 0 {
		t.Errorf("buttons left in the DM")
	}
}

func TestRevokeCommand(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	h.click(bob, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()

	mustContain(t, "revoke by a stranger", h.command(dave, "revoke "+id).Text, "only")
	mustContain(t, "revoke of nothing", h.command(alice, "revoke ar-nosuchid").Text, "ar-nosuchid")
	h.settle()
	if n := h.github.Count(http.MethodDelete, ""); n != 0 {
		t.Fatalf("revoked by a stranger")
	}

	mustContain(t, "revoke reply", h.command(alice, "revoke "+id).Text, id)
	h.settle()
	if n := h.github.Count(http.MethodDelete, aliceTeamPath); n != 1 {
		t.Fatalf("%d DELETEs", n)
	}
	if r := h.get(id); r.Status != approvals.StatusRevoked {
		t.Errorf("status %s", r.Status)
	}
	mustContain(t, "revoked audit post", h.auditPost("revoked", id), "<@"+alice+">")
	// Revoking again is harmless.
	mustContain(t, "second revoke", h.command(alice, "revoke "+id).Text, id, "revoked")

	// A pending request is withdrawn by its requester.
	id2 := h.request(alice, "sre-oncall", "30m", "pager")
	h.settle()
	mustContain(t, "cancel reply", h.command(alice, "revoke "+id2).Text, id2, "ancel")
	h.settle()
	if r := h.get(id2); r.Status != approvals.StatusCancelled {
		t.Errorf("status %s", r.Status)
	}
	if len(h.current(h.approvalRef(id2)).Buttons()) != 0 {
		t.Errorf("buttons left on a cancelled request")
	}
}

func TestHelpListResources(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"", "help"} {
		mustContain(t, "usage", h.command(alice, text).Text, "/access request", "list", "resources", "revoke")
	}
	rep := h.command(alice, "resources")
	mustContain(t, "resources", rep.Text, "payments-admin", "4h", "payments-repo-write", "8h", "sre-oncall", "1h")
	if strings.Contains(rep.Text, "prod-db-read") {
		t.Errorf("resources lists what alice has no account for: %q", rep.Text)
	}
	mustContain(t, "resources without identity", h.command(erin, "resources").Text, "nothing")
	mustContain(t, "empty list", h.command(alice, "list").Text, "no")

	id := h.request(alice, "sre-oncall", "30m", "pager")
	mustContain(t, "list", h.command(alice, "list").Text, id, "sre-oncall", "pending", "0 of 2")
	mustContain(t, "extend of a pending request", h.command(alice, "extend "+id+" 1h more").Text, id, "not granted yet")
	mustContain(t, "who by a non-approver", h.command(alice, "who sre-oncall").Text, "only the approvers")
}

// TestRequestModal opens the modal with "/access request" and files the
// request from its submission.
func TestRequestModal(t *testing.T) {
	h := newHarness(t)
	h.command(alice, "request")
	views := h.slack.Views()
	if len(views) != 1 || views[0].TriggerID == "" {
		t.Fatalf("views.open calls: %+v", views)
	}
	mustContain(t, "modal", views[0].AllText(), "payments-admin", "sre-oncall", "Duration", "Reason")
	if strings.Contains(views[0].AllText(), "prod-db-read") {
		t.Errorf("modal offers what alice has no account for")
	}

	submit := func(resource, dur, reason string) map[string]any {
		payload := h.slack.ViewSubmission(alice, bot.CallbackRequestModal, "", map[string]map[string]slackfake.Input{
			bot.BlockModalResource: {bot.ActionModalResource: {Type: "static_select", Value: resource}},
			bot.BlockModalDuration: {bot.ActionModalDuration: {Type: "plain_text_input", Value: dur}},
			bot.BlockModalReason:   {bot.ActionModalReason: {Type: "plain_text_input", Value: reason}},
		})
		w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		var resp map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%v: %q", err, w.Body.String())
		}
		return resp
	}

	resp := submit("payments-admin", "9h", "hotfix")
	if resp["response_action"] != "errors" {
		t.Fatalf("too long a duration: %v", resp)
	}
	errs, _ := resp["errors"].(map[string]any)
	if _, ok := errs[bot.BlockModalDuration]; !ok {
		t.Errorf("error not shown at the duration: %v", errs)
	}
	resp = submit("payments-admin", "later", "hotfix")
	if errs, _ := resp["errors"].(map[string]any); errs[bot.BlockModalDuration] == nil {
		t.Errorf("malformed duration: %v", resp)
	}
	if len(h.list(alice)) != 0 {
		t.Fatalf("bad submissions filed requests")
	}

	resp = submit("payments-admin", "2h", "INC-9 hotfix")
	rs := h.list(alice)
	if len(rs) != 1 || rs[0].Duration != 2*time.Hour || rs[0].Reason != "INC-9 hotfix" {
		t.Fatalf("requests after submission: %+v", rs)
	}
	if resp["response_action"] != "update" || !strings.Contains(fmt.Sprint(resp["view"]), rs[0].ID) {
		t.Errorf("submission answer does not show the ID: %v", resp)
	}
	h.settle()
	if len(h.approvalMessages(rs[0].ID)) != 1 {
		t.Errorf("no approval message for the modal's request")
	}
}

func TestRequestModalFallback(t *testing.T) {
	h := newHarness(t)
	h.slack.FailNext("views.open", 1, slackfake.Error("expired_trigger_id"))
	rep := h.command(alice, "request")
	mustContain(t, "fallback", rep.Text, "/access request")
	mustContain(t, "no resources", h.command(erin, "request").Text, "nothing")
	if n := len(h.slack.Views()); n != 0 {
		t.Errorf("%d views opened", n)
	}
}

// TestReasonCannotInject checks that user text is escaped and cut to
// Slack's limits in every message it appears in.
func TestReasonCannotInject(t *testing.T) {
	h := newHarness(t)
	// As long as a reason may be (approvals.MaxReasonLength).
	reason := "<!channel> <@U0BOB> & " + strings.Repeat("long reason ", 39)
	id := h.request(alice, "payments-admin", "1h", reason)
	h.settle()
	if r := h.get(id); r.Reason != strings.TrimSpace(reason) {
		t.Errorf("reason not kept verbatim")
	}
	for _, c := range append(h.approvalMessages(id), h.slack.Posts(auditChannel)...) {
		all := c.AllText()
		if strings.Contains(all, "<!channel>") || strings.Contains(all, "<@U0BOB>") {
			t.Errorf("user text injected markup: %.200q", all)
		}
		mustContain(t, "message", all, "&lt;!channel&gt;", "&amp;")
	}
}

// TestSlackRateLimit checks that a 429 from chat.postMessage is retried
// in the same channel after Retry-After, and that it holds up only that
// channel.
func TestSlackRateLimit(t *testing.T) {
	h := newHarness(t)
	h.slack.FailNext("chat.postMessage", 1, slackfake.RateLimited(1))
	id := h.request(alice, "payments-admin", "1h", "hotfix")
	h.settle()
	calls := h.slack.CallsTo("chat.postMessage")
	if len(calls) < 2 || calls[0].Error != "ratelimited" {
		t.Fatalf("calls %+v", calls)
	}
	var retry *slackfake.Call
	for i := range calls[1:] {
		if c := &calls[1+i]; c.Channel == calls[0].Channel {
			retry = c
			break
		}
	}
	if retry == nil {
		t.Fatalf("no retry in %s:\n%s", calls[0].Channel, h.slack.Summary())
	}
	if gap := retry.At.Sub(calls[0].At); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, before Retry-After", gap)
	}
	h.approvalRef(id)
}
