package bot_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/github/githubtest"
	"github.com/accessbot/accessbot/store"
)

// newPathsHarness is newHarness with the test policy changed by policy
// and the service's Config by config (on-call and step-up clients).
func newPathsHarness(t *testing.T, policy func(*approvals.Policy), config func(*approvals.Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: start}}
	h.slack = slackfake.NewServer(t)
	h.github = githubtest.NewServer(t)
	h.github.AddTeam("acme", "payments-admins")
	h.github.AddTeam("acme", "sre")
	h.github.AddRepo("acme", "payments")
	db, err := store.Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	gh, err := github.New(github.Config{Token: "ghp-test", APIURL: h.github.URL()})
	if err != nil {
		t.Fatal(err)
	}
	log := testLogger()
	client := h.slack.Client(slack.OptionHTTPClient(bot.HTTPClient()))
	pol := testPolicy()
	if policy != nil {
		policy(pol)
	}
	cfg := approvals.Config{
		Store:        db,
		Providers:    map[string]approvals.Provider{github.Name: gh},
		Policy:       pol,
		Now:          h.clock.Now,
		Logger:       log,
		RetryBackoff: time.Millisecond,
	}
	if config != nil {
		config(&cfg)
	}
	h.svc = approvals.New(cfg)
	h.bot, err = bot.New(bot.Config{Client: client, SigningSecret: secret, Service: h.svc, Logger: log, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.handler = h.bot.Handler()
	h.deliverer = startDeliverer(t, client, db, h.svc, log)
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

// resource returns a pointer to the named resource of pol, to change it.
func resource(t *testing.T, pol *approvals.Policy, name string) *approvals.Resource {
	t.Helper()
	for i := range pol.Resources {
		if pol.Resources[i].Name == name {
			return &pol.Resources[i]
		}
	}
	t.Fatalf("no resource %s", name)
	return nil
}

// events returns the audit log's actions for request id, in order.
func (h *harness) events(id string) []approvals.Event {
	h.t.Helper()
	var out []approvals.Event
	err := h.db.Events(context.Background(), func(ev approvals.Event) error {
		if ev.RequestID == id {
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func actions(evs []approvals.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

// eventOf returns the first event of action in evs.
func pathEvent(t *testing.T, evs []approvals.Event, action string) approvals.Event {
	t.Helper()
	for _, ev := range evs {
		if ev.Action == action {
			return ev
		}
	}
	t.Fatalf("no %s event in %v", action, actions(evs))
	return approvals.Event{}
}
