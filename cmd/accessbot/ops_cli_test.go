package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCheckRefusesChannelNames: approval_channel must be a channel
// ID; a name or a user ID is refused with file:line, like other mistakes.
func TestPolicyCheckRefusesChannelNames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ channel, want string }{
		{`"#approvals"`, "is a channel name, not a channel ID"},
		{"U0BOB", "is a user ID, not a channel ID"},
	} {
		path := filepath.Join(dir, "policy.yaml")
		text := strings.Replace(e2ePolicy, "approval_channel: C0APPROVALS", "approval_channel: "+tc.channel, 1)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "policy", "check", path)
		if code != 1 || !strings.Contains(errOut, path+":11: resources[0].approval_channel: ") ||
			!strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "C0123ABCD") {
			t.Errorf("policy check with approval_channel %s = %d:\n%s", tc.channel, code, errOut)
		}
	}
}

// TestAuditWhoUnknownResource: a resource that is neither in the policy nor
// in the audit log is an error, so a typo does not read as "nobody"; one
// that left the policy but is in the log still answers.
func TestAuditWhoUnknownResource(t *testing.T) {
	f := newCLIFixture(t)
	f.story()
	f.close()
	code, _, errOut := runCLI(t, "audit", "who", "payrol-export")
	if code != 1 || !strings.Contains(errOut, `unknown resource "payrol-export"`) || !strings.Contains(errOut, cliResource) {
		t.Errorf("audit who of a typo = %d, %q", code, errOut)
	}
	// The policy no longer has payroll-export: the audit log still knows it.
	policyPath := os.Getenv("ACCESSBOT_POLICY_FILE")
	if err := os.WriteFile(policyPath, []byte(e2ePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := whoIDs(t, cliResource); len(got) != 0 {
		t.Errorf("audit who %s = %v", cliResource, got)
	}
	// In the policy, never requested: nobody, exit 0.
	if got := whoIDs(t, "payments-admin"); len(got) != 0 {
		t.Errorf("audit who payments-admin = %v", got)
	}
	// Neither, with the policy unreadable.
	os.Remove(policyPath)
	if code, _, errOut := runCLI(t, "audit", "who", "nothing-at-all"); code != 1 || !strings.Contains(errOut, "nothing-at-all") {
		t.Errorf("audit who with no policy = %d, %q", code, errOut)
	}
}
