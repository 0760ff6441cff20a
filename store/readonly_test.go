package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// TestReadOnlyWritesNothing opens files read-only, one still at schema 1, and runs every read: the file's bytes and
// modification time stay as they were, and writes are refused.
func TestReadOnlyWritesNothing(t *testing.T) {
	ctx := context.Background()
	for _, legacy := range []int{0, 3} {
		db := mustOpenWithLegacy(t, legacy, 3, weirdEvent)
		mustGrant(t, db, "ar-1", "U0ALICE", "db", t0, time.Hour)
		path := db.path
		if legacy > 0 {
			// Back to version 1, as a file that no writer opened since the
			// upgrade would be.
			db.Close()
			editFile(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("1")) })
		} else {
			db.Close()
		}
		old := time.Now().Add(-time.Hour).Truncate(time.Second)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}

		ro, err := OpenWith(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open of a file with %d schema 1 records: %v", legacy, err)
		}
		// A second reader shares the file.
		ro2, err := OpenWith(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("second read-only open: %v", err)
		}
		ro2.Close()
		if err := ro.Ping(ctx); err != nil {
			t.Error(err)
		}
		if res := mustVerify(t, ro); res.Count != 5 {
			t.Errorf("Verify = %+v", res)
		}
		if n := len(allEvents(t, ro)); n != 5 {
			t.Errorf("%d events", n)
		}
		if _, err := ro.Request(ctx, "ar-1"); err != nil {
			t.Error(err)
		}
		if got, err := ro.HoldersAt(ctx, "db", t0.Add(time.Minute)); err != nil || ids(got) != "ar-1" {
			t.Errorf("HoldersAt = %q, %v", ids(got), err)
		}
		if _, err := ro.DueRevokes(ctx, t0.Add(2*time.Hour)); err != nil {
			t.Error(err)
		}
		for name, err := range map[string]error{
			"CreateRequest": ro.CreateRequest(ctx, newRequest("ar-2", "U0BOB", "db"), approvals.Event{}),
			"AppendEvent":   ro.AppendEvent(ctx, approvals.Event{Action: "x"}),
		} {
			if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s on a read-only database: %v, want ErrReadOnly naming the file", name, err)
			}
		}
		if _, err := ro.UpdateRequest(ctx, "ar-1", func(*approvals.Request) ([]approvals.Event, error) { return nil, nil }); !errors.Is(err, ErrReadOnly) {
			t.Errorf("UpdateRequest on a read-only database: %v", err)
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}

		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("a read-only open changed the file (%d schema 1 records)", legacy)
		}
		if fi, err := os.Stat(path); err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("a read-only open changed the file's mtime: %v, %v", fi.ModTime(), err)
		}
	}
}

func TestReadOnlyRefuses(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenWith(missing, Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a read-only open created %s", missing)
	}
	db := mustOpen(t)
	db.Close()
	editFile(t, db.path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("5")) })
	if _, err := OpenWith(db.path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), `schema version "5"`) {
		t.Errorf("read-only open of a version 5 file: %v", err)
	}
}

// TestReadOnlyKeyed reads a keyed log read-only: without the key it opens
// and Verify names the missing key; with it, it verifies.
func TestReadOnlyKeyed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accessbot.db")
	db := mustOpenWith(t, path, Options{AuditKey: key1})
	appendN(t, db, 0, 3)
	db.Close()
	ro := mustOpenWith(t, path, Options{ReadOnly: true})
	if _, err := ro.Verify(context.Background()); err == nil || !strings.Contains(err.Error(), "audit record 1 is keyed: set ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("Verify without the key: %v", err)
	}
	ro.Close()
	ro = mustOpenWith(t, path, Options{ReadOnly: true, AuditKey: key1})
	if res := mustVerify(t, ro); res.Count != 3 || res.KeyedFrom != 1 {
		t.Errorf("Verify with the key = %+v", res)
	}
}
