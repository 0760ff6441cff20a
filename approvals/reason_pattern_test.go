package approvals

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheckReason(t *testing.T) {
	withHint := Resource{Name: "db", ReasonPattern: `(?i)\b(INC|CHG)-[0-9]+\b`, ReasonHint: "name the incident or change, e.g. INC-4211"}
	bare := Resource{Name: "db", ReasonPattern: `^T[0-9]+ `}
	tests := []struct {
		res    Resource
		reason string
		want   string // "" for accepted
	}{
		{Resource{Name: "db"}, "anything", ""},
		{withHint, "INC-4211 hotfix", ""},
		{withHint, "hotfix for chg-12", ""},
		{withHint, "hotfix", "the reason for db does not say what its policy asks for: name the incident or change, e.g. INC-4211"},
		{withHint, "INC-x", "name the incident"},
		{bare, "T12 check", ""},
		{bare, "check T12", "the reason for db must match `^T[0-9]+ `, which it does not"},
		{Resource{Name: "db", ReasonPattern: "("}, "anything", "must match"},
	}
	for _, tt := range tests {
		err := CheckReason(tt.res, tt.reason)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckReason(%q, %q) = %v, want nil", tt.res.ReasonPattern, tt.reason, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || ErrorCode(err) != EINVALID):
			t.Errorf("CheckReason(%q, %q) = %v, want EINVALID containing %q", tt.res.ReasonPattern, tt.reason, err, tt.want)
		}
	}
}

func TestSubmitChecksTheReason(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	p := testPolicy()
	p.Resources[0].ReasonPattern, p.Resources[0].ReasonHint = `INC-[0-9]+`, "give the incident, e.g. INC-4211"
	p.Hash = "reasons"
	if err := h.svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "fixing things"); ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "give the incident, e.g. INC-4211") {
		t.Fatalf("Submit without an incident: %v", err)
	}
	if open, _ := h.store.OpenRequests(ctx, ""); len(open) != 0 {
		t.Fatalf("a refused reason filed %d requests", len(open))
	}
	if _, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "INC-7 fixing things"); err != nil {
		t.Fatal(err)
	}
}
