package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
)

// "N of M approvals" follows the policy in force: once Bob is no longer
// an approver his approval stops counting, in /access list and in the
// approval message.
func TestApprovalCountsFollowThePolicyInForce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.request(alice, "sre-oncall", "30m", "INC-2 pager")
	h.settle()
	h.click(bob, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()
	p := testPolicy()
	p.Hash = "without-bob"
	p.Resources[2].Approvers = []string{carol, dave}
	if err := h.svc.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "list", h.command(alice, "list").Text, "0 of 2 approvals")
	h.click(carol, bot.ActionApprove, id, h.approvalRef(id))
	h.settle()
	if r := h.get(id); r.Status != approvals.StatusPending {
		t.Fatalf("status %s after one counting approval of two", r.Status)
	}
	mustContain(t, "list", h.command(alice, "list").Text, "1 of 2 approvals")
	msg := h.current(h.approvalRef(id)).AllText()
	mustContain(t, "approval message", msg, "1 of 2 approvals")
	if strings.Contains(msg, "<@"+bob+">") {
		t.Errorf("approval message still counts Bob: %q", msg)
	}
}
