package store

import (
	"context"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// TestExtensionMovesTheRevokeIndex checks that an approved extension,
// written in one UpdateRequest with its event, moves the grant's key in
// revokes_by_time, and that the extension round survives a reopen.
func TestExtensionMovesTheRevokeIndex(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	mustGrant(t, db, "ar-ext", "U0ALICE", "payments-admin", t0, time.Hour)
	oldExpiry, newExpiry := t0.Add(time.Hour), t0.Add(3*time.Hour)
	mustUpdate(t, db, "ar-ext", func(r *approvals.Request) {
		r.Extensions = append(r.Extensions, approvals.Extension{
			Duration: 2 * time.Hour, Reason: "still debugging", RequestedAt: t0.Add(time.Minute), Required: 1,
			Status: approvals.ExtensionApproved, Approvals: []approvals.Approval{{Approver: "U0BOB", At: t0.Add(2 * time.Minute)}},
			DecidedBy: "U0BOB", DecidedAt: t0.Add(2 * time.Minute), FromExpiresAt: oldExpiry, ToExpiresAt: newExpiry,
			Messages: []approvals.MessageRef{{ChannelID: "C0APPROVALS", TS: "2.0"}},
		})
		r.ExpiresAt = newExpiry
	})
	if due, err := db.DueRevokes(ctx, oldExpiry); err != nil || len(due) != 0 {
		t.Fatalf("due at the old expiry: %v, %v", ids(due), err)
	}
	if got := keys(t, db, bucketRevokes); len(got) != 1 {
		t.Fatalf("revokes_by_time has %d keys, want 1: %v", len(got), got)
	}
	db = reopen(t, db)
	due, err := db.DueRevokes(ctx, newExpiry)
	if err != nil || len(due) != 1 {
		t.Fatalf("due at the new expiry: %v, %v", ids(due), err)
	}
	e := due[0].LastExtension()
	if e == nil || e.Status != approvals.ExtensionApproved || e.Reason != "still debugging" || !e.ToExpiresAt.Equal(newExpiry) || len(e.Messages) != 1 || e.Approvers()[0] != "U0BOB" {
		t.Fatalf("extension after reopen: %+v", e)
	}
	holders, err := db.HoldersAt(ctx, "payments-admin", oldExpiry.Add(time.Minute))
	if err != nil || len(holders) != 1 {
		t.Fatalf("holders after the old expiry: %v, %v", ids(holders), err)
	}
}
