package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

var (
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = bytes.Repeat([]byte{0x22}, 32)
)

func mustOpenWith(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	db, err := OpenWith(path, opts)
	if err != nil {
		tb.Fatalf("OpenWith: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func appendN(tb testing.TB, db *DB, from, n int) {
	tb.Helper()
	for i := from; i < from+n; i++ {
		if err := db.AppendEvent(context.Background(), weirdEvent(i)); err != nil {
			tb.Fatal(err)
		}
	}
}

// withKeys returns a handle on db's open file that verifies with keys
// instead of db's own, as another process given other keys would.
func withKeys(db *DB, keys ...[]byte) *DB {
	other := &DB{bolt: db.bolt, path: db.path}
	for _, k := range keys {
		ak, err := newAuditKey(k)
		if err != nil {
			panic(err)
		}
		other.keys = append(other.keys, ak)
	}
	return other
}

// rechain rewrites records from..last as someone with write access to the
// file but maybe not the key would: each record's event as it reads, with
// one field changed in record from, chained anew with key (the zero
// auditKey for plain SHA-256), and the head to match.
func rechain(tb testing.TB, tx *bbolt.Tx, from uint64, key auditKey) {
	tb.Helper()
	b := tx.Bucket(bucketAudit)
	prev := ""
	if from > 1 {
		ev, err := decodeEvent(seqKey(from-1), b.Get(seqKey(from-1)))
		if err != nil {
			tb.Fatal(err)
		}
		prev = ev.Hash
	}
	last := b.Sequence()
	for seq := from; seq <= last; seq++ {
		ev, err := decodeEvent(seqKey(seq), b.Get(seqKey(seq)))
		if err != nil {
			tb.Fatal(err)
		}
		if seq == from {
			ev.Actor = "U0MALLORY"
		}
		ev.PrevHash = prev
		v, sum, err := encodeRecord(key, key.hasher(), ev)
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			tb.Fatal(err)
		}
		prev = hex.EncodeToString(sum[:])
	}
	if err := writeHead(tx, auditHead{last, prev}); err != nil {
		tb.Fatal(err)
	}
}

func TestKeyedChain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "accessbot.db")
	db := mustOpenWith(t, path, Options{AuditKey: key1})
	mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))
	mustUpdate(t, db, "ar-1", func(r *approvals.Request) { r.Status = approvals.StatusApproved })
	appendN(t, db, 0, 4)
	res := mustVerify(t, db)
	if res.Count != 6 || res.KeyedFrom != 1 {
		t.Errorf("Verify = %+v, want 6 records keyed from 1", res)
	}
	evs := allEvents(t, db)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || len(ev.Hash) != 64 || (i > 0 && ev.PrevHash != evs[i-1].Hash) {
			t.Errorf("event %d: seq %d prev %q hash %q", i+1, ev.Seq, ev.PrevHash, ev.Hash)
		}
		if ev.Hash == ev.ChainHash(ev.PrevHash) {
			t.Errorf("event %d carries its plain SHA-256 hash", i+1)
		}
	}
	if err := db.VerifyAnchor(ctx, res.Head, res.Count); err != nil {
		t.Errorf("VerifyAnchor: %v", err)
	}
	if last, ok, err := db.LastEvent(ctx); err != nil || !ok || last.Hash != res.Head {
		t.Errorf("LastEvent = %+v, %v, %v", last, ok, err)
	}

	// Without the key, a keyed record cannot be checked.
	_, err := withKeys(db).Verify(ctx)
	if err == nil || !strings.Contains(err.Error(), "audit record 1 is keyed: set ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("Verify without the key: %v", err)
	}
	if err := withKeys(db).VerifyAnchor(ctx, res.Head, res.Count); err == nil || !strings.Contains(err.Error(), "is keyed") {
		t.Errorf("VerifyAnchor without the key: %v", err)
	}
	// With another key, the error names the key the record was made with.
	_, err = withKeys(db, key2).Verify(ctx)
	if id := keyName(db.keys[0].id[:]); err == nil || !strings.Contains(err.Error(), "audit record 1 was made with audit key "+id+", which is not among the keys given") {
		t.Errorf("Verify with the wrong key: %v", err)
	}

	// Nor can a writer go on without it, or with another key only.
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "the audit log is keyed (record 6, key ") || !strings.Contains(err.Error(), "ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("Open of a keyed log without the key: %v", err)
	}
	if _, err := OpenWith(path, Options{AuditKey: key2}); err == nil || !strings.Contains(err.Error(), "not among the keys given") {
		t.Errorf("Open of a keyed log with another key: %v", err)
	}
}

// TestKeyedChainCatchesRecomputing has someone who can write the file
// change a keyed record and recompute the chain from there on, without
// the key.
func TestKeyedChainCatchesRecomputing(t *testing.T) {
	ctx := context.Background()
	otherKey, err := newAuditKey(key2)
	if err != nil {
		t.Fatal(err)
	}
	// forgedID is key2 under key1's ID: the record claims the real key.
	forgedID := otherKey
	forgedID.id = sumID(key1)
	for _, tc := range []struct {
		name string
		from uint64
		key  auditKey
		want string
	}{
		{"plain SHA-256", 3, auditKey{}, "audit record 3 is not keyed, but record 2 before it is (the chain was recomputed without the audit key)"},
		{"another key", 3, otherKey, "audit record 3 was made with audit key " + keyName(otherKey.id[:]) + ", which is not among the keys given"},
		{"another key under the key's ID", 3, forgedID, "audit record 3: hash mismatch"},
		{"another key under the key's ID from the start", 1, forgedID, "audit record 1: hash mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "accessbot.db")
			db := mustOpenWith(t, path, Options{AuditKey: key1})
			appendN(t, db, 0, 6)
			mustVerify(t, db)
			db.Close()
			editFile(t, path, func(tx *bbolt.Tx) error { rechain(t, tx, tc.from, tc.key); return nil })
			_, err := verifyFile(t, path, key1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v, want %q", err, tc.want)
			}
		})
	}

	// Recomputing the whole chain without the key leaves a plain chain
	// that is intact: Verify says none of it is keyed, and an anchor kept
	// elsewhere no longer matches.
	path := filepath.Join(t.TempDir(), "accessbot.db")
	db := mustOpenWith(t, path, Options{AuditKey: key1})
	appendN(t, db, 0, 6)
	anchor := mustVerify(t, db)
	db.Close()
	editFile(t, path, func(tx *bbolt.Tx) error { rechain(t, tx, 1, auditKey{}); return nil })
	res, err := verifyFile(t, path, key1)
	if err != nil || res.KeyedFrom != 0 {
		t.Errorf("Verify of a chain recomputed from the start = %+v, %v; want intact and not keyed", res, err)
	}
	db = mustOpenWith(t, path, Options{AuditKey: key1})
	if err := db.VerifyAnchor(ctx, anchor.Head, anchor.Count); err == nil || !strings.Contains(err.Error(), "the anchor says") {
		t.Errorf("VerifyAnchor of a chain recomputed from the start: %v", err)
	}
}

// TestKeyRotation writes with one key, then with a second while the first
// stays among the older keys; a log that starts unkeyed goes on keyed.
func TestKeyRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accessbot.db")
	db := mustOpenPath(t, path)
	appendN(t, db, 0, 2)
	db.Close()
	db = mustOpenWith(t, path, Options{AuditKey: key1})
	appendN(t, db, 2, 2)
	db.Close()
	db = mustOpenWith(t, path, Options{AuditKey: key2, AuditKeys: [][]byte{key1}})
	appendN(t, db, 4, 2)
	if res := mustVerify(t, db); res.Count != 6 || res.KeyedFrom != 3 {
		t.Errorf("Verify = %+v, want 6 records keyed from 3", res)
	}
	db.Close()
	// The first of AuditKeys writes when AuditKey is empty.
	db = mustOpenWith(t, path, Options{AuditKeys: [][]byte{key2, key1}})
	appendN(t, db, 6, 1)
	if res := mustVerify(t, db); res.Count != 7 {
		t.Errorf("Verify = %+v", res)
	}
	var last record
	if err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		last, err = splitRecord(bytes.Clone(tx.Bucket(bucketAudit).Get(seqKey(7))))
		return err
	}); err != nil || last.format != formatHMAC || !bytes.Equal(last.keyID, db.keys[0].id[:]) || db.keys[0].id != sumID(key2) {
		t.Errorf("record 7 was not made with key2: %+v, %v", last, err)
	}
	db.Close()
	// Without the older key, its records cannot be checked.
	db = mustOpenWith(t, path, Options{AuditKey: key2})
	_, err := db.Verify(context.Background())
	id1 := sumID(key1)
	if err == nil || !strings.Contains(err.Error(), "audit record 3 was made with audit key "+keyName(id1[:])) {
		t.Errorf("Verify without the older key: %v", err)
	}
}

func TestOpenWithRefusesBadKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accessbot.db")
	if _, err := OpenWith(path, Options{AuditKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "audit key of 5 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := OpenWith(path, Options{AuditKey: key1, AuditKeys: [][]byte{key2, key1}}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("key given twice: %v", err)
	}
}

// verifyFile verifies the database at path with keys, reading the file
// with bbolt directly, whatever keys its last record needs.
func verifyFile(tb testing.TB, path string, keys ...[]byte) (VerifyResult, error) {
	tb.Helper()
	raw, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	return withKeys(&DB{bolt: raw, path: path}, keys...).Verify(context.Background())
}

func sumID(key []byte) [keyIDSize]byte {
	k, err := newAuditKey(key)
	if err != nil {
		panic(err)
	}
	return k.id
}
