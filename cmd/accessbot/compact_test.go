package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/store"
)

// compact puts a packed copy in place of the database, or writes it to
// --output; it refuses while the file is held by a writer.
func TestCompact(t *testing.T) {
	f := newCLIFixture(t)
	f.keyed()
	f.story()
	// Free pages to give back: many requests, then their records dropped
	// from the index by the service's own transitions would take long;
	// a bucket written and deleted does it directly.
	f.close()
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("scratch"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(seqKey(uint64(i)), make([]byte, 1024)); err != nil {
				return err
			}
		}
		return nil
	})
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("scratch")) })
	_, verifyBefore, _ := runCLI(t, "audit", "verify")
	sizeBefore := fileSize(t, f.dbPath)

	// Held by a writer (a serve with another admin socket): refused, with
	// the reason.
	held, err := store.Open(f.dbPath)
	if err == nil {
		code, _, errOut := runCLI(t, "compact")
		held.Close()
		if code != 1 || !strings.Contains(errOut, "accessbot serve") {
			t.Errorf("compact while held = %d, %q; want a refusal naming serve", code, errOut)
		}
	}

	out := filepath.Join(f.dir, "packed.db")
	if code, stdout, errOut := runCLI(t, "compact", "--output", out); code != 0 || !strings.Contains(stdout, out) {
		t.Fatalf("compact --output = %d, %q %q", code, stdout, errOut)
	}
	if fileSize(t, f.dbPath) != sizeBefore {
		t.Error("compact --output changed the database")
	}
	if code, _, errOut := runCLI(t, "compact", "--output", out); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("compact over an existing file = %d, %q", code, errOut)
	}

	code, stdout, errOut := runCLI(t, "compact")
	if code != 0 || !strings.Contains(stdout, "compacted") {
		t.Fatalf("compact = %d, %q %q", code, stdout, errOut)
	}
	if after := fileSize(t, f.dbPath); after >= sizeBefore {
		t.Errorf("compacted file has %d bytes, was %d", after, sizeBefore)
	}
	if _, verifyAfter, _ := runCLI(t, "audit", "verify"); verifyAfter != verifyBefore {
		t.Errorf("audit verify after compact:\n%s\nbefore:\n%s", verifyAfter, verifyBefore)
	}
	if entries, _ := filepath.Glob(filepath.Join(f.dir, ".*compact*")); len(entries) != 0 {
		t.Errorf("compact left %v behind", entries)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
