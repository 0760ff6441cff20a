package approvals

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// listingProvider is a fakeProvider whose holder listing runs a hook
// first, standing in for a listing slow enough that requests are approved
// and granted while it runs.
type listingProvider struct {
	*fakeProvider
	duringListing func()
}

func (p *listingProvider) Holders(ctx context.Context, req HoldersRequest) ([]string, error) {
	if f := p.duringListing; f != nil {
		p.duringListing = nil
		f()
	}
	return p.fakeProvider.Holders(ctx, req)
}

// driftFindings returns the findings on resource, by identity.
func driftFindings(findings []DriftFinding, resource string) map[string]DriftFinding {
	out := map[string]DriftFinding{}
	for _, f := range findings {
		if f.Resource == resource {
			out[f.Identity] = f
		}
	}
	return out
}

// A resource renamed with the same provider settings is the same access:
// the grant made under the old name (its settings snapshot on the request)
// is not drift, and is not revoked while the request says "active".
func TestDriftKeepsGrantOfARenamedResource(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r, err := h.svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Approve(ctx, "UBOB", r.ID); err != nil {
		t.Fatal(err)
	}
	h.svc.Wait()
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusActive {
		t.Fatalf("request is %s, want active", got.Status)
	}

	p := testPolicy()
	p.Resources = p.Resources[:1]
	p.Resources[0].Name = "db-rw"
	// The same settings, written differently.
	p.Resources[0].Settings = json.RawMessage("{ \"role\" :\n \"rw\" }")
	p.Resources[0].Drift = DriftRevoke
	p.Hash = "renamed"
	if err := h.svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	h.provider.held["mallory"] = true

	findings, err := h.svc.DetectDrift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := driftFindings(findings, "db-rw")
	if _, ok := got["alice"]; ok {
		t.Errorf("alice's grant under the old name reported as drift: %+v", got["alice"])
	}
	if f, ok := got["mallory"]; !ok || !f.Revoked || len(got) != 1 {
		t.Errorf("findings on db-rw: %+v; want mallory only, revoked", got)
	}
	if !h.provider.held["alice"] || h.provider.held["mallory"] {
		t.Errorf("held after drift detection: %v; want alice kept, mallory removed", h.provider.held)
	}
	if got, _ := h.store.Request(ctx, r.ID); got.Status != StatusActive {
		t.Errorf("request is %s after drift detection, want active", got.Status)
	}
}

// A request approved and granted while the holder listing runs was not
// open-and-granted when the open requests were first read: the second read
// just before the revoke finds it, and its access is left alone.
func TestDriftRechecksGrantsBeforeRevoking(t *testing.T) {
	store, clk := newMemStore(), &clock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	provider := &listingProvider{fakeProvider: newFakeProvider()}
	p := testPolicy()
	p.Resources = p.Resources[:1]
	p.Resources[0].Drift = DriftRevoke
	svc := New(Config{
		Store: store, Providers: map[string]Provider{"fake": provider},
		Policy: p, Now: clk.Now, RetryBackoff: time.Millisecond,
	})
	t.Cleanup(svc.Shutdown)
	ctx := context.Background()

	r, err := svc.Submit(ctx, "UALICE", "db", time.Hour, "x")
	if err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	provider.duringListing = func() {
		if _, err := svc.Approve(ctx, "UBOB", r.ID); err != nil {
			t.Error(err)
		}
		svc.Wait() // granted before the listing answers
	}

	findings, err := svc.DetectDrift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Request(ctx, r.ID); got.Status != StatusActive {
		t.Fatalf("request is %s, want active", got.Status)
	}
	if _, revokes := provider.counts(); revokes != 0 || !provider.held["alice"] {
		t.Fatalf("%d revokes, held %v: the grant made during the listing was removed", revokes, provider.held)
	}
	f, ok := driftFindings(findings, "db")["alice"]
	if !ok || f.Revoked || f.CoveredBy != r.ID || f.Error != "" {
		t.Fatalf("finding %+v (found %v); want reported, not revoked, covered by %s", f, ok, r.ID)
	}
	ev := store.events[len(store.events)-1]
	if ev.Action != ActionDrift || ev.Outcome != "reported" || !strings.Contains(ev.Detail, "not removed: request "+r.ID) {
		t.Errorf("drift event: %+v", ev)
	}
}

// Approved, granting and active requests all protect their access from a
// drift revoke, whatever the case of the identity; a pending one does not.
func TestDriftCountsEveryGrantUnderWay(t *testing.T) {
	for _, tc := range []struct {
		status  Status
		revoked bool
	}{
		{StatusApproved, false},
		{StatusGranting, false},
		{StatusActive, false},
		{StatusPending, true},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			p := testPolicy()
			p.Resources = p.Resources[:1]
			p.Resources[0].Drift = DriftRevoke
			p.Hash = "v2"
			if err := h.svc.SetPolicy(ctx, p); err != nil {
				t.Fatal(err)
			}
			h.store.edited["ar-1"] = true
			h.store.requests["ar-1"] = &Request{
				ID: "ar-1", Requester: "UALICE", Resource: "db-old-name", Provider: "fake",
				Identity: "Alice", Settings: json.RawMessage(`{"role": "rw"}`), Status: tc.status,
			}
			h.provider.held["alice"] = true

			findings, err := h.svc.DetectDrift(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f, found := driftFindings(findings, "db")["alice"]
			if found != tc.revoked || f.Revoked != tc.revoked || h.provider.held["alice"] == tc.revoked {
				t.Fatalf("finding %+v (found %v), held %v; want revoked=%v", f, found, h.provider.held, tc.revoked)
			}
		})
	}
}

func TestGrantIndexCovering(t *testing.T) {
	g := grantIndex{
		bySettings: map[grantKey]string{{"fake", canonicalSettings(json.RawMessage(`{"b":1,"a":[1,2]}`)), "alice"}: "ar-1"},
		byName:     map[nameKey]string{{"fake", "db", "alice"}: "ar-1"},
	}
	for _, tc := range []struct {
		name     string
		res      Resource
		identity string
		want     bool
	}{
		{"same settings, other order and spacing", Resource{Name: "renamed", Provider: "fake", Settings: json.RawMessage(" {\"a\": [1, 2],\n\"b\": 1}")}, "ALICE", true},
		{"same name, edited settings", Resource{Name: "db", Provider: "fake", Settings: json.RawMessage(`{"b":2}`)}, "alice", true},
		{"other settings", Resource{Name: "other", Provider: "fake", Settings: json.RawMessage(`{"b":2,"a":[1,2]}`)}, "alice", false},
		{"other provider", Resource{Name: "db", Provider: "github", Settings: json.RawMessage(`{"b":1,"a":[1,2]}`)}, "alice", false},
		{"other identity", Resource{Name: "db", Provider: "fake", Settings: json.RawMessage(`{"b":1,"a":[1,2]}`)}, "bob", false},
	} {
		if _, got := g.covering(tc.res, tc.identity); got != tc.want {
			t.Errorf("%s: covered %v, want %v", tc.name, got, tc.want)
		}
	}
	if canonicalSettings(nil) != canonicalSettings(json.RawMessage(" null ")) {
		t.Error("absent settings and null differ")
	}
	if got := canonicalSettings(json.RawMessage(`{"n": 12345678901234567890}`)); got != `{"n":12345678901234567890}` {
		t.Errorf("large number: %s", got)
	}
}
