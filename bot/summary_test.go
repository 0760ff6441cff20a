package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
)

const testHash = "3f1c9e0b7a2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"

func activeGrant(i int, now time.Time) *approvals.Request {
	return &approvals.Request{
		ID: fmt.Sprintf("ar-act%05d", i), Requester: fmt.Sprintf("U0USER%04d", i), Resource: "payments-admin",
		Provider: "github", Identity: fmt.Sprintf("user%d-gh", i), Duration: 2 * time.Hour, Reason: "INC-1",
		Status: approvals.StatusActive, CreatedAt: now.Add(-time.Hour), GrantedAt: now.Add(-40 * time.Minute),
		ExpiresAt: now.Add(time.Duration(i+80) * time.Minute), Approvals: []approvals.Approval{{Approver: bob, At: now}},
	}
}

func testSummary(now time.Time) *approvals.Summary {
	failing := activeGrant(7, now)
	failing.ID, failing.RevokeFailures, failing.LastError = "ar-failing", 3, "github: 502 Bad Gateway"
	failing.ExpiresAt, failing.RevokeRetryAt = now.Add(-time.Hour), now.Add(10*time.Minute)
	return &approvals.Summary{
		Since: now.Add(-24 * time.Hour), Until: now,
		Requested: 12, Approved: 9, Denied: 1, Expired: 7, Revoked: 2, Extended: 3, Failed: 1,
		MedianDecision: 4*time.Minute + 20*time.Second, Decided: 10,
		Active: []*approvals.Request{activeGrant(1, now), failing},
		StalePending: []*approvals.Request{{
			ID: "ar-stale", Requester: dave, Resource: "sre-oncall", Status: approvals.StatusPending,
			Required: 2, CreatedAt: now.Add(-3 * time.Hour),
		}},
		RevokeFailing: []*approvals.Request{failing},
		Drift: []approvals.DriftFinding{
			{Resource: "payments-admin", Identity: "mallory-gh", Revoked: true},
			{Resource: "payments-repo-write", Identity: "eve-gh"},
		},
		Anchor: approvals.Anchor{Count: 42, Hash: testHash},
	}
}

// summaryPost returns the one summary post and its decoded blocks, and
// checks them against Slack's limits on top of the fake's own checks.
func summaryPost(t *testing.T, s *slackfake.Server) (slackfake.Call, []map[string]any) {
	t.Helper()
	posts := s.Posts(auditChannel)
	if len(posts) != 1 {
		t.Fatalf("%d audit channel posts, want 1:\n%s", len(posts), s.Summary())
	}
	var blocks []map[string]any
	if err := json.Unmarshal(posts[0].Blocks, &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack allows 50", len(blocks))
	}
	for i, b := range blocks {
		if txt, ok := b["text"].(map[string]any); ok && b["type"] == "section" {
			if n := len(utf16.Encode([]rune(txt["text"].(string)))); n > 3000 {
				t.Errorf("block %d (%v): %d characters, Slack allows 3000", i, b["block_id"], n)
			}
		}
	}
	return posts[0], blocks
}

func blockText(blocks []map[string]any, id string) string {
	for _, b := range blocks {
		if b["block_id"] == id {
			raw, _ := json.Marshal(b)
			return slackfake.Call{Blocks: json.RawMessage("[" + string(raw) + "]")}.AllText()
		}
	}
	return ""
}

// TestPostSummary checks the summary's sections: counts, the lists with
// people as mentions, and the anchor with the command that checks it.
func TestPostSummary(t *testing.T) {
	g := newRig(t, auditChannel)
	s := g.slack
	now := start.Add(24 * time.Hour)
	g.summary(testSummary(now))
	post, blocks := summaryPost(t, s)
	if blocks[0]["type"] != "header" {
		t.Errorf("first block is %v, want a header", blocks[0]["type"])
	}
	mustContain(t, "header", blockText(blocks, "summary_header"), "Access summary", "Nov 22 09:00", "Nov 23 09:00 UTC")
	mustContain(t, "counts", blockText(blocks, "summary_counts"),
		"*Requests*\n12", "*Approvals*\n9", "*Denials*\n1", "*Expiries*\n7", "*Early revocations*\n2", "*Extensions*\n3",
		"*Failures*\n:warning: 1 failed", "*Median time to decision*\n4m (10 decided)", "*Active grants now*\n2")
	mustContain(t, "active grants", blockText(blocks, "summary_active"),
		"Active grants (2)", "*payments-admin*", "<@U0USER0001>", "`user1-gh`", "1h21m left", "ar-act00001", "expired, revoke due")
	mustContain(t, "stale pending", blockText(blocks, "summary_pending"), "(1)", "ar-stale", "*sre-oncall*", "<@"+dave+">", "waiting 3h", "0 of 2")
	mustContain(t, "revoke failures", blockText(blocks, "summary_revoke_failures"), "(1)", "ar-failing", "3 failed attempt", "502 Bad Gateway", "Nov 23 09:10 UTC")
	mustContain(t, "drift", blockText(blocks, "summary_drift"), "(2)", "`mallory-gh`", "removed", "`eve-gh`", "not removed")
	anchor := testHash + "@42"
	mustContain(t, "anchor", blockText(blocks, "summary_anchor"), "`"+anchor+"`", "`accessbot audit verify --expect-head "+anchor+"`")
	mustContain(t, "fallback text", post.Text, "12 requests", "2 active grants", anchor)
	if post.ThreadTS != "" {
		t.Errorf("summary posted in a thread")
	}
}

// TestPostSummaryEmpty checks a quiet period: every list says none.
func TestPostSummaryEmpty(t *testing.T) {
	g := newRig(t, auditChannel)
	s := g.slack
	g.summary(&approvals.Summary{Since: start.Add(-time.Hour), Until: start, Anchor: approvals.Anchor{Count: 1, Hash: testHash}})
	_, blocks := summaryPost(t, s)
	for _, id := range []string{"summary_active", "summary_pending", "summary_revoke_failures", "summary_drift"} {
		mustContain(t, id, blockText(blocks, id), "(0)", "none")
	}
	mustContain(t, "counts", blockText(blocks, "summary_counts"), "*Median time to decision*\n—")
}

// TestPostSummaryLarge checks that a summary of 500 active grants, and
// long lists of everything else, stays within Slack's limits and says how
// much was left out.
func TestPostSummaryLarge(t *testing.T) {
	g := newRig(t, auditChannel)
	s := g.slack
	now := start
	sum := testSummary(now)
	sum.Active, sum.StalePending, sum.RevokeFailing, sum.Drift = nil, nil, nil, nil
	for i := range 500 {
		sum.Active = append(sum.Active, activeGrant(i, now))
	}
	for i := range 200 {
		r := activeGrant(1000+i, now)
		r.Status, r.CreatedAt = approvals.StatusPending, now.Add(-2*time.Hour)
		sum.StalePending = append(sum.StalePending, r)
		r = activeGrant(2000+i, now)
		r.RevokeFailures, r.LastError = i+1, strings.Repeat("upstream said no ", 100)
		sum.RevokeFailing = append(sum.RevokeFailing, r)
		sum.Drift = append(sum.Drift, approvals.DriftFinding{Resource: "payments-admin", Identity: fmt.Sprintf("standing-%d", i), Error: strings.Repeat("x", 5000)})
	}
	g.summary(sum)
	_, blocks := summaryPost(t, s)
	active := blockText(blocks, "summary_active")
	mustContain(t, "active grants", active, "Active grants (500)", "<@U0USER0000>", "more_")
	shown := strings.Count(active, "\n• ")
	if shown < 10 || !strings.Contains(active, fmt.Sprintf("and %d more", 500-shown)) {
		t.Errorf("%d grants shown, and the rest not counted:\n%s", shown, active)
	}
	for _, id := range []string{"summary_pending", "summary_revoke_failures", "summary_drift"} {
		mustContain(t, id, blockText(blocks, id), "(200)", "more_")
	}
	mustContain(t, "anchor", blockText(blocks, "summary_anchor"), "--expect-head "+testHash+"@42")
}

func TestPostSummaryNoAuditChannel(t *testing.T) {
	g := newRig(t, "")
	s := g.slack
	g.summary(testSummary(start))
	if len(s.Calls()) != 0 {
		t.Errorf("posted without an audit channel:\n%s", s.Summary())
	}
}

// summary queues sum for the audit channel and waits for its delivery.
func (g *rig) summary(sum *approvals.Summary) {
	g.t.Helper()
	if err := g.db.Enqueue(context.Background(), approvals.Notice{Summary: sum}); err != nil {
		g.t.Fatal(err)
	}
	g.idle()
}

// TestPostSummaryTrimmed checks that a summary cut to a sample before it
// is queued still counts every entry: the totals, and "and N more".
func TestPostSummaryTrimmed(t *testing.T) {
	g := newRig(t, auditChannel)
	now := start
	sum := testSummary(now)
	sum.Active = nil
	for i := range 500 {
		sum.Active = append(sum.Active, activeGrant(i, now))
	}
	sum.Trim(3)
	if len(sum.Active) != 3 || sum.ActiveCount() != 500 {
		t.Fatalf("after Trim(3): %d listed, %d counted", len(sum.Active), sum.ActiveCount())
	}
	g.summary(sum)
	post, blocks := summaryPost(t, g.slack)
	mustContain(t, "active grants", blockText(blocks, "summary_active"), "Active grants (500)", "and 497 more")
	mustContain(t, "counts", blockText(blocks, "summary_counts"), "*Active grants now*\n500")
	mustContain(t, "fallback", post.Text, "500 active grants")
}
