package approvals

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestSubmitFindsResourcesWhateverTheCase(t *testing.T) {
	h := newHarness(t)
	r, err := h.svc.Submit(context.Background(), "UALICE", "DB", time.Hour, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Resource != "db" {
		t.Errorf("resource stored as %q, want the policy's name %q", r.Resource, "db")
	}
}

func TestSubmitSuggestsOnlyRequestableResources(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		actor, typed, want string
	}{
		{"UALICE", "bd", "did you mean db?"},
		{"UALICE", "sefl", "did you mean self?"},
		// "nobody" needs a payroll account nobody has: never suggested.
		{"UALICE", "nobdy", "`/access resources` lists what you can request"},
		{"UALICE", "zzzzzz", "`/access resources` lists what you can request"},
	}
	for _, tt := range tests {
		_, err := h.svc.Submit(context.Background(), tt.actor, tt.typed, time.Hour, "x")
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Submit(%q) error = %v, want it to contain %q", tt.typed, err, tt.want)
		}
		if strings.Contains(err.Error(), "nobody") {
			t.Errorf("Submit(%q) suggested a resource the user may not request: %v", tt.typed, err)
		}
	}
}

func TestSubmitKeepsTheSystemName(t *testing.T) {
	h := newHarness(t)
	p := testPolicy()
	p.Resources[0].System = "Payroll"
	p.Hash = "with-system"
	if err := h.svc.SetPolicy(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r, err := h.svc.Submit(context.Background(), "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	if r.System != "Payroll" || r.SystemName() != "Payroll" {
		t.Errorf("System = %q, SystemName = %q; want Payroll", r.System, r.SystemName())
	}
	if got := (&Request{Provider: "fake"}).SystemName(); got != "fake" {
		t.Errorf("SystemName without a system = %q, want the provider", got)
	}
}
