package main

import (
	"context"
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
