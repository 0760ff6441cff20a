package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// scrape returns the /metrics page of m.
func (w *e2eWorld) scrape(m *Main) string {
	w.t.Helper()
	code, body := w.get(m, "/metrics")
	if code != http.StatusOK {
		w.t.Fatalf("/metrics: %d\n%s", code, body)
	}
	return body
}

// wantSeries fails for every line of want that is not a line of page.
func wantSeries(t *testing.T, when, page string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(page, "\n") {
		lines[l] = true
	}
	for _, l := range want {
		if !lines[l] {
			t.Errorf("%s: /metrics lacks %q", when, l)
		}
	}
}

// TestMetricsAfterLifecycle: a scrape shows every family README.md lists,
// with the values of a request that was filed, granted and expired.
func TestMetricsAfterLifecycle(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	defer m.Close()
	hash := m.svc.Policy().Hash

	w.requestAndApprove(m)
	wantSeries(t, "granted", w.scrape(m),
		"accessbot_active_grants 1",
		"accessbot_pending_requests 0",
		`accessbot_requests_total{outcome="granted"} 1`,
		`accessbot_provider_calls_total{operation="grant",outcome="ok",provider="github"} 1`,
		`accessbot_provider_call_seconds_count{operation="grant",provider="github"} 1`,
	)

	w.clock.Advance(2*time.Hour + 3*time.Second)
	m.sweep(context.Background())
	m.Settle()
	head, err := m.db.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	page := w.scrape(m)
	wantSeries(t, "expired", page,
		"accessbot_active_grants 0",
		"accessbot_pending_requests 0",
		`accessbot_events_total{action="expired"} 1`,
		`accessbot_requests_total{outcome="granted"} 1`,
		`accessbot_provider_calls_total{operation="revoke",outcome="ok",provider="github"} 1`,
		`accessbot_provider_call_seconds_count{operation="revoke",provider="github"} 1`,
		`accessbot_revoke_lateness_seconds_count{provider="github"} 1`,
		`accessbot_revoke_lateness_seconds_sum{provider="github"} 3`,
		fmt.Sprintf("accessbot_audit_head_sequence %d", head.Count),
		"accessbot_outbox_depth 0",
		"accessbot_outbox_oldest_age_seconds 0",
		fmt.Sprintf(`accessbot_policy_info{hash=%q} 1`, hash),
		`accessbot_expiry_sweeps_total{result="ok"} 2`,
	)
	for _, family := range []string{"accessbot_slack_calls_total{", "accessbot_expiry_sweep_seconds_count", "accessbot_provider_calls_total{operation=\"holds\""} {
		if !strings.Contains(page, family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	if strings.Contains(page, "accessbot_revoke_lateness_seconds_count{provider=\"github\"} 2") {
		t.Error("a revoke counted twice")
	}

	// A request waiting for approval is pending.
	w.command(m, e2eAlice, "request payments-admin 1h INC-2 again")
	wantSeries(t, "pending", w.scrape(m), "accessbot_pending_requests 1", "accessbot_active_grants 0")
}
