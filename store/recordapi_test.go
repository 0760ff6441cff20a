package store

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// TestAuditRecordAPI checks that the exported encoder writes what an
// append to the bbolt file writes, and that the decoder reads it back.
func TestAuditRecordAPI(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	evs := []approvals.Event{
		{Time: at, Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor},
		{Time: at.Add(time.Second), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor, Detail: "bad \xff byte"},
	}
	prev := ""
	for i, ev := range evs {
		if err := db.AppendEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		ev.Seq = uint64(i + 1)
		v, hash, err := EncodeAuditRecord(ev, prev)
		if err != nil {
			t.Fatal(err)
		}
		stored := rawRecord(t, db, ev.Seq)
		if !bytes.Equal(v, stored) {
			t.Errorf("record %d:\n encoded %q\n stored  %q", ev.Seq, v, stored)
		}
		got, err := DecodeAuditRecord(ev.Seq, v)
		if err != nil || got.Hash != hash || got.PrevHash != prev || got.ChainHash(prev) != hash {
			t.Errorf("record %d decodes to %+v, %v; want hash %s", ev.Seq, got, err, hash)
		}
		prev = hash
	}
	head, _ := db.AuditHead(context.Background())
	if head.Hash != prev || head.Count != 2 {
		t.Errorf("head %v, want %s@2", head, prev)
	}
}

// rawRecord returns the stored bytes of audit record seq.
func rawRecord(t *testing.T, db *DB, seq uint64) []byte {
	t.Helper()
	var v []byte
	if err := db.view(func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketAudit).Get(seqKey(seq)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAuditVerifier checks records with the exported verifier as Verify
// checks them, and catches a changed one.
func TestAuditVerifier(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "accessbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := db.AppendEvent(context.Background(), approvals.Event{Time: at.Add(time.Duration(i) * time.Second), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := db.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vf := NewAuditVerifier()
	for seq := uint64(1); seq <= 3; seq++ {
		if err := vf.Check(seq, rawRecord(t, db, seq)); err != nil {
			t.Fatalf("record %d: %v", seq, err)
		}
	}
	if got := vf.Result(); got != want {
		t.Errorf("verifier result %+v, Verify's %+v", got, want)
	}
	vf = NewAuditVerifier()
	vf.Check(1, rawRecord(t, db, 1))
	changed := bytes.Replace(rawRecord(t, db, 2), []byte("policy"), []byte("pOlicy"), 1)
	if err := vf.Check(2, changed); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("a changed record 2: %v", err)
	}
}
