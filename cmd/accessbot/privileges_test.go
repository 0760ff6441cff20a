package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrivilegeReport checks that a provider whose credentials can do more
// than the policy needs is reported at start to the audit channel, and that
// ACCESSBOT_STRICT_PRIVILEGES refuses to start with it.
func TestPrivilegeReport(t *testing.T) {
	w := newE2EWorld(t)
	w.github.SetTokenScopes("admin:org, delete_repo")

	m := w.start()
	m.Settle()
	var report string
	for _, c := range w.slack.Posts(e2eAudit) {
		if strings.Contains(c.Text, "*privileges*") {
			report = c.Text
		}
	}
	if !strings.Contains(report, "delete_repo") || strings.Contains(report, "admin:org") {
		t.Errorf("audit channel report %q: want the delete_repo scope named, not admin:org", report)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	cfg := w.config()
	cfg.StrictPrivileges = true
	strict := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now}
	err := strict.Run(context.Background())
	strict.Close()
	if err == nil || !strings.Contains(err.Error(), "ACCESSBOT_STRICT_PRIVILEGES") || !strings.Contains(err.Error(), "delete_repo") {
		t.Fatalf("strict start: %v; want a refusal naming the variable and the scope", err)
	}

	w.github.SetTokenScopes("admin:org")
	ok := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now}
	if err := ok.Run(context.Background()); err != nil {
		t.Fatalf("strict start with least privilege: %v", err)
	}
	ok.Close()
}

// TestSecretFromFile checks that every secret variable X may be given as a
// file named by X_FILE, and that setting both is refused.
func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("xoxb-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN", "")
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN_FILE", file)
	c, err := loadConfig()
	if err != nil || c.SlackBotToken != "xoxb-from-file" {
		t.Fatalf("loadConfig = %q, %v; want the token from the file", c.SlackBotToken, err)
	}
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN", "xoxb-env")
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_SLACK_BOT_TOKEN_FILE") {
		t.Fatalf("both set: %v; want a refusal naming both", err)
	}
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN", "")
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN_FILE", filepath.Join(dir, "missing"))
	if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_SLACK_BOT_TOKEN_FILE") {
		t.Fatalf("missing file: %v; want an error naming the variable", err)
	}
}
