package store

import (
	"context"
	"testing"

	"github.com/accessbot/accessbot/approvals"
)

// TestUpdateWithoutEvents checks that a change that is not audited (the
// audit thread of a request) is stored, appends nothing to the audit log,
// and survives a reopen.
func TestUpdateWithoutEvents(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	r := newRequest("ar-thread", "UALICE", "db")
	mustCreate(t, db, r)
	before, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	thread := approvals.MessageRef{ChannelID: "C0AUDIT", TS: "1700000001.000100"}
	if _, err := db.UpdateRequest(ctx, r.ID, func(r *approvals.Request) ([]approvals.Event, error) {
		r.AuditThread = thread
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	after, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("audit head moved from %v to %v without an event", before, after)
	}
	db = reopen(t, db)
	got, err := db.Request(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AuditThread != thread {
		t.Errorf("audit thread %v after reopen, want %v", got.AuditThread, thread)
	}
	if res, err := db.Verify(ctx); err != nil || res.Count != after.Count {
		t.Errorf("verify after an update without events: %+v, %v", res, err)
	}
}
