package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The demo runs the real cycle and says so; it fails if any step does
// not happen.
func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the demo keeps its database
	var out bytes.Buffer
	if err := demo(context.Background(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	narration := out.String()
	for _, want := range []string{
		"/access request payments-admin",
		"Approve",
		"PUT /orgs/acme/teams/payments-admins/memberships/alice-gh",
		"DELETE /orgs/acme/teams/payments-admins/memberships/alice-gh",
		"still a member: false",
		"expired",
		"audit verify`: intact",
		// As a person sees it in Slack: names, not IDs.
		"@alice requests access to *payments-admin*",
		"approved by @bob",
		// The approval message once decided, a denial and a provider
		// failure.
		"after the decision (buttons removed)",
		":white_check_mark: *Granted*. Approved by @bob. Access until 20",
		":no_entry: *Denied* by @bob.",
		"was denied by @bob",
		":x: *Grant failed*",
		"403 Forbidden",
	} {
		if !strings.Contains(narration, want) {
			t.Errorf("the narration lacks %q:\n%s", want, narration)
		}
	}
	for _, raw := range []string{"<@U0", "<!date^", "&lt;", "&gt;"} {
		if strings.Contains(narration, raw) {
			t.Errorf("the narration shows Slack markup %q instead of what Slack displays:\n%s", raw, narration)
		}
	}

	// The database stays where the narration says, and the commands it
	// prints work on it.
	m := regexp.MustCompile(`ACCESSBOT_DB_PATH=(\S+) accessbot audit verify`).FindStringSubmatch(narration)
	if m == nil {
		t.Fatalf("no audit verify command in the narration:\n%s", narration)
	}
	path := m[1]
	if !strings.HasPrefix(path, tmp+string(filepath.Separator)+"accessbot-demo-") || filepath.Base(path) != "accessbot.db" {
		t.Errorf("database at %s, want under %s/accessbot-demo-…", path, tmp)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the demo's database is gone: %v", err)
	}
	if !strings.Contains(narration, "ACCESSBOT_DB_PATH="+path+" accessbot audit export") {
		t.Errorf("no audit export command for %s in the narration", path)
	}
	t.Setenv("ACCESSBOT_DB_PATH", path)
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, "audit log intact: 12 records") {
		t.Errorf("audit verify = %d, %q, %q", code, out, errOut)
	}
	code, export, errOut := runCLI(t, "audit", "export")
	if code != 0 {
		t.Fatalf("audit export = %d, %q", code, errOut)
	}
	for _, action := range []string{`"denied"`, `"grant_failed"`, `"expired"`} {
		if !strings.Contains(export, action) {
			t.Errorf("the export lacks %s:\n%s", action, export)
		}
	}
}

// TestHumanize: Slack markup is shown as Slack displays it.
func TestHumanize(t *testing.T) {
	for in, want := range map[string]string{
		"<@U0ALICE> asked <@U0NOBODY>":                                                 "@alice asked @u0nobody",
		"in <#C0APPROVALS> and <#C0SECURITY|x>":                                        "in #approvals and #security-audit",
		"until <!date^1796284305^{time}|2026-12-03T07:51:45Z> (2026-12-03T07:51:45Z).": "until 2026-12-03T07:51:45Z.",
		"at <!date^1^{date}|Jan 1> (1970-01-01T00:00:01Z)":                             "at Jan 1 (1970-01-01T00:00:01Z)",
		"&lt;!channel&gt; &amp; co":                                                    "<!channel> & co",
		"<!subteam^S0ONCALL>":                                                          "@s0oncall",
	} {
		if got := humanize(in); got != want {
			t.Errorf("humanize(%q) = %q, want %q", in, got, want)
		}
	}
}
