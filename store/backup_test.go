package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// TestOpenReadOnly: a read-only open reads what Open wrote, writes
// nothing (the file's bytes stay the same), waits for a writer and gives
// up, and refuses a file it does not know.
func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accessbot.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := approvals.Event{Time: time.Unix(1e9, 0), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}
	if err := db.AppendEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("OpenReadOnly while a writer holds the file: %v", err)
	}
	db.Close()

	before, _ := os.ReadFile(path)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := ro.Verify(ctx); err != nil || res.Count != 1 {
		t.Errorf("Verify read-only: %+v, %v", res, err)
	}
	if err := ro.AppendEvent(ctx, ev); err == nil {
		t.Error("AppendEvent on a read-only database succeeded")
	}
	ro.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a read-only open changed the file")
	}

	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenReadOnly created or opened a missing file")
	}
	other := filepath.Join(t.TempDir(), "other.db")
	b, err := bbolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(func(tx *bbolt.Tx) error {
		m, _ := tx.CreateBucket(bucketMeta)
		return m.Put(keySchema, []byte("9"))
	})
	b.Close()
	if _, err := OpenReadOnly(other); err == nil || !strings.Contains(err.Error(), `schema version "9"`) {
		t.Errorf("OpenReadOnly of schema 9: %v", err)
	}
}

// TestBackup: the copy taken while the database is open and written to
// opens on its own and holds what was committed before it.
func TestBackup(t *testing.T) {
	db := mustOpen(t)
	ctx := context.Background()
	for i := range 3 {
		ev := approvals.Event{Time: time.Unix(1e9+int64(i), 0), Action: approvals.ActionDrift, Actor: approvals.SystemActor}
		if err := db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes (%d written), %v", n, buf.Len(), err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := OpenReadOnly(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	want, _ := db.AuditHead(ctx)
	if res, err := cp.Verify(ctx); err != nil || res.Count != 3 || res.Head != want.Hash {
		t.Errorf("the copy verifies as %+v, %v; want 3 records ending at %s", res, err, want.Hash)
	}
}
