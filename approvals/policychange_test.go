package approvals

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Provider settings may hold secrets (an exec resource's env): a policy
// change names what changed in them, never a value, because the detail is
// kept in the audit log for good and posted to the audit channel.
func TestPolicyChangeNeverShowsSettingValues(t *testing.T) {
	secrets := []string{"s3cr3t-old", "s3cr3t-new", "k3y-added", "argsecret", "payroll.internal", "exporters", "30s"}
	oldPolicy := testPolicy()
	oldPolicy.Resources = append(oldPolicy.Resources, Resource{
		Name: "payroll", Provider: "exec", Approvers: []string{"UBOB"}, MaxDuration: time.Hour,
		Settings: json.RawMessage(`{"command":["/usr/local/bin/payroll-access"],"timeout":"30s",
			"env":{"PAYROLL_TOKEN":"s3cr3t-old","PAYROLL_URL":"https://payroll.internal","KEEP":"same"}}`),
	})
	newPolicy := testPolicy()
	newPolicy.Hash = "v2"
	newPolicy.Resources = append(newPolicy.Resources, Resource{
		Name: "payroll", Provider: "exec", Approvers: []string{"UBOB"}, MaxDuration: time.Hour,
		Settings: json.RawMessage(`{"command":["/usr/local/bin/payroll-access","--token","argsecret"],
			"env":{"PAYROLL_TOKEN":"s3cr3t-new","API_KEY":"k3y-added","KEEP":"same"},"settings":{"group":"exporters"}}`),
	})

	diff := DiffPolicies(oldPolicy, newPolicy)
	for _, want := range []string{"payroll provider settings changed", "command", "env (added API_KEY; removed PAYROLL_URL; changed PAYROLL_TOKEN)", "settings added (added group)", "timeout removed"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff %q does not say %q", diff, want)
		}
	}
	if strings.Contains(diff, "KEEP") {
		t.Errorf("diff %q names an unchanged variable", diff)
	}

	// The same through SetPolicy: the audit event, its log line.
	var logs bytes.Buffer
	store := newMemStore()
	svc := New(Config{
		Store: store, Providers: map[string]Provider{"fake": newFakeProvider()},
		Policy: oldPolicy, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(svc.Shutdown)
	if err := svc.SetPolicy(context.Background(), newPolicy); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	recorded, err := json.Marshal(store.events)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		for what, text := range map[string]string{"diff": diff, "audit log": string(recorded), "log": logs.String()} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the setting value %q: %s", what, s, text)
			}
		}
	}
}

func TestPolicyChangeSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		want     string // "" when no settings change is reported
	}{
		{"reformatted only", `{"role":"rw","db":"x"}`, "{ \"db\": \"x\",\n \"role\": \"rw\" }", ""},
		{"value changed", `{"role":"rw"}`, `{"role":"ro"}`, "db provider settings changed (values not shown): role"},
		{"key added", `{"role":"rw"}`, `{"role":"rw","host":"h"}`, "db provider settings changed (values not shown): host added"},
		{"not an object", `{"role":"rw"}`, `"hunter2"`, "db provider settings changed (values not shown): replaced"},
		{"from none", ``, `{"role":"rw"}`, "db provider settings changed (values not shown): role added"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testPolicy(), testPolicy()
			a.Resources[0].Settings = json.RawMessage(tc.old)
			b.Resources[0].Settings = json.RawMessage(tc.new)
			diff := DiffPolicies(a, b)
			if tc.want == "" {
				if strings.Contains(diff, "settings") {
					t.Fatalf("diff %q, want no settings change", diff)
				}
				return
			}
			if diff != tc.want {
				t.Fatalf("diff %q, want %q", diff, tc.want)
			}
			if strings.Contains(diff, "hunter2") || strings.Contains(diff, `"ro"`) {
				t.Fatalf("diff %q shows a value", diff)
			}
		})
	}
	a, b := testPolicy(), testPolicy()
	b.Resources[0].Provider = "exec"
	if diff := DiffPolicies(a, b); diff != "db provider: fake -> exec" {
		t.Errorf("provider change: %q", diff)
	}
}
