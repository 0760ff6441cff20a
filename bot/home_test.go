package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// openHome sends the app_home_opened event of user over HTTP and waits for
// their Home to be published.
func (h *harness) openHome(user string) slackfake.Call {
	h.t.Helper()
	before := len(h.slack.Homes(user))
	w := h.serve(slackfake.SignedEvent(secret, h.clock.Now(), slackfake.AppHomeOpened(user, "home")))
	if w.Code != http.StatusOK {
		h.t.Fatalf("app_home_opened: status %d, body %q", w.Code, w.Body.String())
	}
	return h.waitHome(user, before)
}

// waitHome waits for a publish of user's Home after the first before,
// and returns the latest.
func (h *harness) waitHome(user string, before int) slackfake.Call {
	h.t.Helper()
	h.slack.WaitFor(h.t, func() bool { return len(h.slack.Homes(user)) > before }, 10*time.Second)
	homes := h.slack.Homes(user)
	return homes[len(homes)-1]
}

// homeButton returns the value of the button actionID on a Home showing
// request id, or "".
func homeButton(c slackfake.Call, actionID, id string) string {
	for _, b := range c.Buttons() {
		if b.ActionID == actionID && b.Value == id {
			return b.Value
		}
	}
	return ""
}

// clickHome sends a signed click on user's Home.
func (h *harness) clickHome(user, actionID, id string) {
	h.t.Helper()
	w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), h.slack.HomeBlockActions(user, actionID, id)))
	if w.Code != http.StatusOK {
		h.t.Fatalf("click %s on the Home of %s: status %d", actionID, user, w.Code)
	}
}

// TestEventsEndpoint: the URL check gets its challenge back, and an
// unsigned event is refused.
func TestEventsEndpoint(t *testing.T) {
	h := newHarness(t)
	w := h.serve(slackfake.SignedEvent(secret, h.clock.Now(), slackfake.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")))
	var got struct{ Challenge string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil || got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification: status %d, body %q", w.Code, w.Body.String())
	}
	w = h.serve(slackfake.SignedEvent("not-the-secret", h.clock.Now(), slackfake.AppHomeOpened(alice, "home")))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("forged event: status %d, want 401", w.Code)
	}
	// The messages tab is not the Home: nothing to publish.
	w = h.serve(slackfake.SignedEvent(secret, h.clock.Now(), slackfake.AppHomeOpened(alice, "messages")))
	if w.Code != http.StatusOK {
		t.Errorf("messages tab: status %d", w.Code)
	}
	h.bot.Shutdown() // waits for any publishing
	if n := len(h.slack.CallsTo("views.publish")); n != 0 {
		t.Errorf("%d views.publish calls, want none:\n%s", n, h.slack.Summary())
	}
}

// TestHomeApproveFromHome: the Home lists what waits for an approver; an
// approval from there grants, and the Homes of the approver and of the
// requester are published again to show it.
func TestHomeApproveFromHome(t *testing.T) {
	h := newHarness(t)
	home := h.openHome(alice)
	mustContain(t, "empty Home", home.AllText(), "You hold no access", "No request of yours", "Nothing waits for you")

	id := h.request(alice, "payments-admin", "1h", "INC-1 hotfix")
	h.settle()
	home = h.waitHome(alice, 1)
	if homeButton(home, bot.ActionCancel, id) == "" {
		t.Errorf("alice's Home has no Cancel for %s:\n%s", id, home.AllText())
	}

	bobHome := h.openHome(bob)
	if homeButton(bobHome, bot.ActionApprove, id) == "" || homeButton(bobHome, bot.ActionDeny, id) == "" {
		t.Fatalf("bob's Home has no Approve and Deny for %s:\n%s", id, bobHome.AllText())
	}
	// Dave approves only sre-oncall: nothing waits for him.
	if daveHome := h.openHome(dave); homeButton(daveHome, bot.ActionApprove, id) != "" {
		t.Errorf("dave's Home offers to approve %s", id)
	}

	bobBefore, aliceBefore := len(h.slack.Homes(bob)), len(h.slack.Homes(alice))
	h.clickHome(bob, bot.ActionApprove, id)
	h.settle()
	if n := h.github.Count(http.MethodPut, aliceTeamPath); n != 1 {
		t.Fatalf("%d GitHub PUTs, want 1", n)
	}
	if r := h.get(id); r.Status != approvals.StatusActive || r.DecidedBy != bob {
		t.Fatalf("request %s is %s, decided by %q", id, r.Status, r.DecidedBy)
	}
	// The approval message shows the decision like any other.
	mustContain(t, "approval message", h.current(h.approvalRef(id)).AllText(), "Granted")

	h.slack.WaitFor(t, func() bool {
		hs := h.slack.Homes(bob)
		return len(hs) > bobBefore && homeButton(hs[len(hs)-1], bot.ActionApprove, id) == ""
	}, 10*time.Second)
	h.slack.WaitFor(t, func() bool {
		hs := h.slack.Homes(alice)
		return len(hs) > aliceBefore && homeButton(hs[len(hs)-1], bot.ActionEndGrant, id) != ""
	}, 10*time.Second)
	hs := h.slack.Homes(alice)
	home = hs[len(hs)-1]
	if homeButton(home, bot.ActionExtend, id) == "" {
		t.Errorf("alice's Home has no Extend for %s:\n%s", id, home.AllText())
	}

	// End now, from the Home: the grant is revoked, and the Home lists it
	// among the recent decisions.
	before := len(h.slack.Homes(alice))
	h.clickHome(alice, bot.ActionEndGrant, id)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusRevoked {
		t.Fatalf("after End now, request %s is %s", id, r.Status)
	}
	h.slack.WaitFor(t, func() bool {
		hs := h.slack.Homes(alice)
		return len(hs) > before && strings.Contains(hs[len(hs)-1].AllText(), "Revoked")
	}, 10*time.Second)
}

// TestHomeRefusedClick: a click on the Home that the rules refuse (a
// request already decided) reaches the clicker by DM, since a Home has no
// channel, and changes nothing.
func TestHomeRefusedClick(t *testing.T) {
	h := newHarness(t)
	id := h.request(alice, "payments-admin", "1h", "INC-2")
	h.settle()
	if code := h.click(carol, bot.ActionDeny, id, h.approvalRef(id)); code != http.StatusOK {
		t.Fatalf("deny: %d", code)
	}
	h.settle()
	h.clickHome(bob, bot.ActionApprove, id)
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusDenied {
		t.Fatalf("request %s is %s, want denied", id, r.Status)
	}
	h.slack.WaitFor(t, func() bool {
		for _, c := range h.slack.DMs(bob) {
			if strings.Contains(c.Text, "already") {
				return true
			}
		}
		return false
	}, 10*time.Second)
	if n := h.github.Count(http.MethodPut, aliceTeamPath); n != 0 {
		t.Errorf("%d GitHub PUTs after a refused click", n)
	}
}

// startSocketBot runs a second Bot of h's service over Socket Mode until
// the test ends.
func startSocketBot(t *testing.T, h *harness) {
	t.Helper()
	sm, err := bot.New(bot.Config{
		Client:     h.slack.Client(slack.OptionAppLevelToken("xapp-1-slackfake")),
		Service:    h.svc,
		SocketMode: true,
		Logger:     testLogger(),
		Now:        h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sm.RunSocketMode(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSocketMode: %v", err)
		}
		sm.Shutdown()
	})
}

// TestHomeSocketMode: an events_api envelope is acknowledged bare, and the
// Home is published; the resource menu's options load is answered in the
// ack of its interactive envelope.
func TestHomeSocketMode(t *testing.T) {
	h := newHarness(t)
	startSocketBot(t, h)
	if ack := h.slack.SendSocket(t, "events_api", slackfake.AppHomeOpened(bob, "home"), 5*time.Second); ack != nil {
		t.Errorf("events_api ack carries %s", ack)
	}
	home := h.waitHome(bob, 0)
	mustContain(t, "bob's Home", home.AllText(), "Waiting for your decision")

	ack := h.slack.SendSocket(t, "interactive", h.slack.BlockSuggestion(alice, bot.CallbackRequestModal, bot.BlockModalResource, bot.ActionModalResource, "sre"), 5*time.Second)
	if problems := slackfake.CheckOptions(ack); len(problems) > 0 || !strings.Contains(string(ack), `"value":"sre-oncall"`) {
		t.Errorf("options ack %s: %v", ack, problems)
	}
}
