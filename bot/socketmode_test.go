package bot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestSocketMode runs a request and its approval over Socket Mode.
func TestSocketMode(t *testing.T) {
	h := newHarness(t)
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
	// Without a signing secret the HTTP endpoints accept nothing, not even
	// a request "signed" with the empty secret.
	r := slackfake.SignedCommand("", h.clock.Now(), h.slack.Command(alice, "help"))
	rec := httptest.NewRecorder()
	sm.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("HTTP with no secret: status %d, want 401", rec.Code)
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

	ack := h.slack.SendSocket(t, "slash_commands", slackfake.CommandJSON(h.slack.Command(alice, "request payments-admin 1h hotfix")), 5*time.Second)
	var rep reply
	if err := json.Unmarshal(ack, &rep); err != nil {
		t.Fatalf("ack %q: %v", ack, err)
	}
	rs := h.list(alice)
	if len(rs) != 1 || !strings.Contains(rep.Text, rs[0].ID) || rep.ResponseType != "ephemeral" {
		t.Fatalf("ack %+v, requests %v", rep, rs)
	}
	id := rs[0].ID
	h.settle()
	ref := h.approvalRef(id)
	if ack := h.slack.SendSocket(t, "interactive", h.slack.BlockActions(bob, bot.ActionApprove, id, ref.ChannelID, ref.TS), 5*time.Second); ack != nil {
		t.Errorf("click ack carries %s", ack)
	}
	h.settle()
	if n := h.github.Count(http.MethodPut, aliceTeamPath); n != 1 {
		t.Errorf("%d GitHub PUTs, want 1", n)
	}
}
