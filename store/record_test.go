package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// appendLegacy appends evs the way schema 1 did: the JSON of each whole
// event, its hash taken over the event as it decodes.
func appendLegacy(tb testing.TB, tx *bbolt.Tx, evs ...approvals.Event) {
	tb.Helper()
	head, err := readHead(tx)
	if err != nil {
		tb.Fatal(err)
	}
	b := tx.Bucket(bucketAudit)
	for _, ev := range evs {
		seq, err := b.NextSequence()
		if err != nil {
			tb.Fatal(err)
		}
		ev.Time, ev.ExpiresAt = ev.Time.UTC(), ev.ExpiresAt.UTC()
		ev.Seq, ev.PrevHash, ev.Hash = seq, head.Hash, ""
		v, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		var normal approvals.Event
		if err := json.Unmarshal(v, &normal); err != nil {
			tb.Fatal(err)
		}
		normal.Hash = normal.ChainHash(head.Hash)
		if v, err = json.Marshal(normal); err != nil {
			tb.Fatal(err)
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			tb.Fatal(err)
		}
		head = auditHead{Seq: seq, Hash: normal.Hash}
	}
	if err := writeHead(tx, head); err != nil {
		tb.Fatal(err)
	}
}

// mustOpenWithLegacy returns a database whose audit log holds n events
// made by event: the first legacy written by schema 1 (the file then being
// at version 1), the rest appended after Open migrated it.
func mustOpenWithLegacy(tb testing.TB, legacy, n int, event func(i int) approvals.Event) *DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "accessbot.db")
	if legacy > 0 {
		db, err := Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		db.Close()
		editFile(tb, path, func(tx *bbolt.Tx) error {
			for i := range legacy {
				appendLegacy(tb, tx, event(i))
			}
			return tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
		})
	}
	db := mustOpenPath(tb, path)
	for i := legacy; i < n; i++ {
		if err := db.AppendEvent(context.Background(), event(i)); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// isLegacy reports whether stored value v is a schema 1 record.
func isLegacy(v []byte) bool { return len(v) > 0 && v[0] == formatJSON }

// storedValue returns the stored form of ev, hash as it carries it: the
// schema 1 JSON, or the current format.
func storedValue(ev approvals.Event, legacy bool) ([]byte, error) {
	if legacy {
		return json.Marshal(ev)
	}
	sum, err := hex.DecodeString(ev.Hash)
	if err != nil || len(sum) != hashSize {
		return nil, fmt.Errorf("hash %q is not %d bytes of hex", ev.Hash, hashSize)
	}
	ev.Hash = ""
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return append(append([]byte{formatSHA256}, sum...), body...), nil
}

// weirdEvent has what JSON encoding makes lossy or escapes.
func weirdEvent(i int) approvals.Event {
	return approvals.Event{
		Time:      t0.Add(time.Duration(i) * time.Second).In(time.FixedZone("CET", 3600)),
		ExpiresAt: t0.Add(time.Hour + time.Duration(i)*time.Nanosecond),
		Action:    approvals.ActionGranted,
		Actor:     "U0ALICE",
		Reason:    fmt.Sprintf("bad utf-8 \xff\xfe\xc3 <html> & \u2028 \"quoted\" \x01 #%d", i),
		Approvers: []string{"U0BOB", "bad \xff"},
		Detail:    "line\nbreak",
		Duration:  90 * time.Minute,
	}
}

// TestNewRecordsReadAsBefore writes the same events through schema 1 and
// through the current format: every reader returns the same events, hashes
// included, and the chains verify and agree.
func TestNewRecordsReadAsBefore(t *testing.T) {
	ctx := context.Background()
	const n = 6
	old := mustOpenWithLegacy(t, n, n, weirdEvent)
	cur := mustOpenWithLegacy(t, 0, n, weirdEvent)
	mixed := mustOpenWithLegacy(t, n/2, n, weirdEvent)
	want := allEvents(t, old)
	for name, db := range map[string]*DB{"current": cur, "mixed": mixed} {
		got := allEvents(t, db)
		if jsonOf(t, got) != jsonOf(t, want) {
			t.Errorf("%s format reads\n%s\nschema 1 reads\n%s", name, jsonOf(t, got), jsonOf(t, want))
		}
		for i, ev := range got {
			if ev.Hash != ev.ChainHash(ev.PrevHash) {
				t.Errorf("%s event %d: Hash is not the event's ChainHash", name, i+1)
			}
		}
		last, ok, err := db.LastEvent(ctx)
		if err != nil || !ok || jsonOf(t, last) != jsonOf(t, want[n-1]) {
			t.Errorf("%s LastEvent = %+v, %v, %v", name, last, ok, err)
		}
		if res := mustVerify(t, db); res.Count != n || res.Head != want[n-1].Hash {
			t.Errorf("%s Verify = %+v, want %d records ending in %s", name, res, n, want[n-1].Hash)
		}
		for i, ev := range want {
			if err := db.VerifyAnchor(ctx, ev.Hash, uint64(i+1)); err != nil {
				t.Errorf("%s VerifyAnchor(%d): %v", name, i+1, err)
			}
		}
	}
	if res := mustVerify(t, old); res.Count != n {
		t.Errorf("schema 1 log: %+v", res)
	}
	var schema string
	if err := cur.bolt.View(func(tx *bbolt.Tx) error {
		schema = string(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	}); err != nil || schema != schemaVersion {
		t.Errorf("schema after migration = %q, %v", schema, err)
	}
}

// TestMigrationKeepsRecords opens a schema 1 file: the version changes and
// the indexes of schema 3 are built, and old records keep their bytes.
func TestMigrationKeepsRecords(t *testing.T) {
	db := mustOpenWithLegacy(t, 3, 3, weirdEvent)
	for _, k := range keys(t, db, bucketAudit) {
		if err := db.bolt.View(func(tx *bbolt.Tx) error {
			if v := tx.Bucket(bucketAudit).Get([]byte(k)); !isLegacy(v) {
				t.Errorf("record %x was rewritten: %q", k, v)
			}
			if v := tx.Bucket(bucketMeta).Get(keySchema); string(v) != schemaVersion {
				t.Errorf("schema = %q, want %s", v, schemaVersion)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
