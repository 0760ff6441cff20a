package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/duo"
	"github.com/accessbot/accessbot/duo/duotest"
	"github.com/accessbot/accessbot/pagerduty"
	"github.com/accessbot/accessbot/pagerduty/pagerdutytest"
)

func pathsPolicy() *approvals.Policy {
	return &approvals.Policy{
		Identities: map[string]map[string]string{
			"U0ALICE": {"github": "alice-gh", "pagerduty": "alice@acme.example", "duo": "alice"},
			"U0BOB":   {"github": "bob-gh", "pagerduty": "nobody@acme.example"},
		},
		Resources: []approvals.Resource{
			{Name: "a", AutoApprove: &approvals.AutoApprove{PagerDutySchedules: []string{"PS1"}}},
			{Name: "b", StepUp: "duo"},
		},
	}
}

func TestPagerDutyOnCallMapsThroughIdentities(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	pd := pagerdutytest.NewServer("tok", t.Errorf)
	defer pd.Close()
	pd.AddUser("PALICE", "Alice", "alice@acme.example")
	pd.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE", ScheduleID: "PS1", Start: at.Add(-time.Hour), End: at.Add(time.Hour)})
	c, err := pagerduty.New(pagerduty.Config{Token: "tok", APIURL: pd.URL()})
	if err != nil {
		t.Fatal(err)
	}
	oc := &pagerDutyOnCall{client: c, policy: pathsPolicy, log: slog.New(slog.DiscardHandler).Warn}
	ctx := context.Background()
	if s, on, err := oc.OnCall(ctx, "U0ALICE", []string{"PS1"}, at); err != nil || !on || s != "PS1" {
		t.Errorf("alice: %q %v %v; want PS1 on call", s, on, err)
	}
	// No PagerDuty user with bob's email, and no email at all for carol:
	// not on call, and no error to fall back on.
	for _, u := range []string{"U0BOB", "U0CAROL"} {
		if s, on, err := oc.OnCall(ctx, u, []string{"PS1"}, at); err != nil || on || s != "" {
			t.Errorf("%s: %q %v %v; want not on call", u, s, on, err)
		}
	}
	pd.FailNext(500)
	if _, on, err := oc.OnCall(ctx, "U0ALICE", []string{"PS1"}, at.Add(time.Minute)); err == nil || on {
		t.Errorf("PagerDuty 500: on %v err %v; want an error", on, err)
	}
}

func TestDuoStepUpMapsThroughIdentities(t *testing.T) {
	srv := duotest.NewServer("DIKEY", "skey", t.Errorf)
	defer srv.Close()
	c, err := duo.New(duo.Config{BaseURL: srv.URL(), IKey: "DIKEY", SKey: "skey", PollInterval: time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := &duoStepUp{client: c, policy: pathsPolicy}
	ctx := context.Background()
	srv.Script("alice", duotest.Answer{Result: duotest.Allow})
	if ok, err := d.Verify(ctx, "U0ALICE", "approve"); !ok || err != nil {
		t.Errorf("allowed push: %v %v", ok, err)
	}
	srv.Script("alice", duotest.Answer{Result: duotest.Deny})
	if ok, err := d.Verify(ctx, "U0ALICE", "approve"); ok || err != nil {
		t.Errorf("denied push: %v %v; want false, nil", ok, err)
	}
	// No Duo identity: refused without a push.
	before := len(srv.Pushes())
	if ok, err := d.Verify(ctx, "U0BOB", "approve"); ok || err == nil || len(srv.Pushes()) != before {
		t.Errorf("no identity: %v %v, %d pushes", ok, err, len(srv.Pushes())-before)
	}
}

func TestPathClientsNeedCredentials(t *testing.T) {
	m := &Main{Logger: slog.New(slog.DiscardHandler)}
	err := m.checkPaths(pathsPolicy())
	if err == nil {
		t.Fatal("a policy with auto_approve and step_up accepted without PagerDuty and Duo")
	}
	for _, want := range []string{"ACCESSBOT_PAGERDUTY_TOKEN", "auto_approve rules (a)", "ACCESSBOT_DUO_SKEY_FILE", "step_up: duo (b)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not name %q", err, want)
		}
	}
	skey := filepath.Join(t.TempDir(), "duo.skey")
	if err := os.WriteFile(skey, []byte("secret-duo-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Config = Config{PagerDutyToken: "tok", DuoHost: "api-123.duosecurity.com", DuoIKey: "DIKEY", DuoSKeyFile: skey}
	oc, su, err := m.pathClients(pathsPolicy())
	if err != nil || oc == nil || su["duo"] == nil {
		t.Fatalf("pathClients: %v %v %v", oc, su, err)
	}
}

func TestPagerDutyTokenFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pd")
	if err := os.WriteFile(f, []byte(" pd-token \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACCESSBOT_PAGERDUTY_TOKEN_FILE", f)
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.PagerDutyToken != "pd-token" {
		t.Errorf("token %q", c.PagerDutyToken)
	}
}
