package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestStartRefusesABadBotToken checks that serve does not start, looking
// healthy while every post fails, with a token Slack refuses or one that
// is not a bot token; the message names the variable.
func TestStartRefusesABadBotToken(t *testing.T) {
	w := newE2EWorld(t)
	for _, tc := range []struct {
		name, token, authError, want string
	}{
		{"invalid_auth", slackfake.Token, "invalid_auth", "invalid_auth"},
		{"account_inactive", slackfake.Token, "account_inactive", "account_inactive"},
		{"user token", "xoxp-1234", "", "must start with xoxb-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.authError != "" {
				w.slack.FailNext("auth.test", 1, slackfake.Error(tc.authError))
			}
			cfg := w.config()
			cfg.SlackBotToken = tc.token
			m := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now}
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), "ACCESSBOT_SLACK_BOT_TOKEN") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v; want a refusal naming ACCESSBOT_SLACK_BOT_TOKEN and %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.DBPath); err == nil {
				t.Errorf("a refused start left %s behind", cfg.DBPath)
			}
		})
	}
}

// TestHungSlackShutdown checks that a Slack API that accepts connections
// and never answers neither delays a grant nor holds up a shutdown, and
// that what could not be delivered is delivered after the next start.
func TestHungSlackShutdown(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	w.command(m, e2eAlice, "request payments-admin 2h INC-4211 hotfix")
	m.Settle()
	open, _ := m.db.OpenRequests(context.Background(), e2eAlice)
	if len(open) != 1 || len(open[0].Messages) != 1 {
		t.Fatalf("open requests %v", open)
	}
	id, msg := open[0].ID, open[0].Messages[0]

	w.slack.Hang()
	payload := w.slack.BlockActions(e2eBob, "approve", id, msg.ChannelID, msg.TS)
	clicked := time.Now()
	if code, body := w.post(m, slackfake.SignedInteraction(e2eSecret, w.clock.Now(), payload)); code != http.StatusOK {
		t.Fatalf("approve click: status %d, body %q", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.request(m, id).Status != approvals.StatusActive {
		if time.Now().After(deadline) {
			t.Fatalf("not granted with Slack hung: %s", w.request(m, id).Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("granted %s after the click, Slack hung", time.Since(clicked))

	closing := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(closing); took > 10*time.Second {
		t.Errorf("shutdown took %s with Slack hung, want within 10 s", took)
	}
	w.slack.Unhang()
	m2 := w.start()
	defer m2.Close()
	m2.Settle()
	var granted bool
	for _, c := range w.slack.DMs(e2eAlice) {
		granted = granted || (strings.Contains(c.Text, id) && strings.Contains(c.Text, "You now have"))
	}
	if !granted {
		t.Errorf("the grant was never told to the requester after the restart:\n%s", w.slack.Summary())
	}
}

// TestKilledBeforeDelivery runs the real binary, kills it with SIGKILL
// after the request is committed and before Slack could be told, and
// checks that the next start delivers every message exactly once.
func TestKilledBeforeDelivery(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL of a child process is tested on Linux")
	}
	w := newE2EWorld(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	cmd, addr := serveCommand(t, w, bin, "ACCESSBOT_DB_PATH="+w.config().DBPath, "ACCESSBOT_ADMIN_SOCKET="+filepath.Join(dir, "admin.sock"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitHealthy(t, addr)

	// Slack answers nothing from now on: the request is committed and
	// acknowledged, its messages wait in the outbox.
	w.slack.Hang()
	req := slackfake.SignedCommand(e2eSecret, time.Now(), w.slack.Command(e2eAlice, "request payments-admin 2h INC-4211 hotfix"))
	req.URL.Host, req.URL.Scheme, req.RequestURI = addr, "http", ""
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A post is under way, and will never answer.
	w.slack.WaitFor(t, func() bool { return w.slack.Hanging("chat.postMessage") > 0 }, 10*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The hung post died with the process: Slack never took it.
	w.slack.WaitFor(t, func() bool { return w.slack.Hanging("chat.postMessage") == 0 }, 10*time.Second)
	w.slack.Unhang()

	m := w.start()
	defer m.Close()
	m.Settle()
	open, err := m.db.OpenRequests(context.Background(), e2eAlice)
	if err != nil || len(open) != 1 {
		t.Fatalf("open requests after the restart: %v %v", open, err)
	}
	id := open[0].ID
	count := func(channel string) int {
		n := 0
		for _, c := range w.slack.Posts(channel) {
			if strings.Contains(c.AllText(), id) {
				n++
			}
		}
		return n
	}
	if a, b := count(e2eApprovals), count(e2eAudit); a != 1 || b != 1 {
		t.Errorf("after the restart: %d approval messages and %d audit posts of %s, want 1 and 1:\n%s", a, b, id, w.slack.Summary())
	}
	if depth, _, _ := m.db.OutboxState(context.Background()); depth != 0 {
		t.Errorf("%d notices left in the outbox", depth)
	}
}

// serveCommand returns the command that runs `accessbot serve` of bin
// against w's fakes on a free loopback port, and that address; extra are
// more variables (the store's). Its log goes to stderr with
// ACCESSBOT_TEST_LOG set.
func serveCommand(t *testing.T, w *e2eWorld, bin string, extra ...string) (*osexec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := w.config()
	cmd := osexec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"ACCESSBOT_SLACK_BOT_TOKEN="+cfg.SlackBotToken, "ACCESSBOT_SLACK_SIGNING_SECRET="+cfg.SlackSigningSecret,
		"ACCESSBOT_SLACK_API_URL="+cfg.SlackAPIURL, "ACCESSBOT_LISTEN_ADDR="+addr,
		"ACCESSBOT_POLICY_FILE="+cfg.PolicyFile, "ACCESSBOT_AUDIT_CHANNEL="+cfg.AuditChannel,
		"ACCESSBOT_GITHUB_TOKEN="+cfg.GitHubToken, "ACCESSBOT_GITHUB_API_URL="+cfg.GitHubAPIURL)
	cmd.Env = append(cmd.Env, extra...)
	if os.Getenv("ACCESSBOT_TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	return cmd, addr
}

// buildBinary builds the program into dir and returns its path.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "accessbot")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	if out, err := osexec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// waitHealthy waits for a serve process to answer /healthz.
func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve at %s never became healthy", addr)
}
