package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// writeKeyFile writes n new random keys, one per line in base64, and
// returns the file's path and the keys.
func writeKeyFile(t *testing.T, dir string, n int) (string, [][]byte) {
	t.Helper()
	var keys [][]byte
	var text strings.Builder
	text.WriteString("# audit keys, newest first\n")
	for range n {
		k := make([]byte, 32)
		rand.Read(k)
		keys = append(keys, k)
		text.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	}
	path := filepath.Join(dir, "audit.keys")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, keys
}

func TestReadAuditKeys(t *testing.T) {
	dir := t.TempDir()
	path, keys := writeKeyFile(t, dir, 2)
	got, err := readAuditKeys(path)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], keys[0]) || !bytes.Equal(got[1], keys[1]) {
		t.Fatalf("readAuditKeys = %d keys, %v; want the two keys in order", len(got), err)
	}
	short := base64.StdEncoding.EncodeToString([]byte("too short"))
	for name, text := range map[string]string{
		"empty":      "# nothing\n\n",
		"short":      short + "\n",
		"not base64": "this is not base64!\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(text), 0o600)
		_, err := readAuditKeys(p)
		if err == nil || !strings.Contains(err.Error(), "ACCESSBOT_AUDIT_KEY_FILE") || strings.Contains(err.Error(), short) {
			t.Errorf("%s key file: %v; want an error naming the variable and not the key", name, err)
		}
	}
	if _, err := readAuditKeys(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_AUDIT_KEY_FILE") {
		t.Errorf("missing key file: %v", err)
	}
}

// serve refuses to start with a key file it cannot use, naming the
// variable, and creates no database.
func TestServeRefusesBadAuditKeyFile(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.config()
	cfg.AuditKeyFile = filepath.Join(w.dir, "no-such-file")
	m := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "ACCESSBOT_AUDIT_KEY_FILE") {
		t.Fatalf("Run with a missing key file: %v", err)
	}
}

// keyed reopens the fixture's database with the audit keys of a new key
// file, set in ACCESSBOT_AUDIT_KEY_FILE for the CLI.
func (f *cliFixture) keyed() {
	f.t.Helper()
	path, keys := writeKeyFile(f.t, f.dir, 1)
	f.t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", path)
	f.svc.Shutdown()
	if err := f.db.Close(); err != nil {
		f.t.Fatal(err)
	}
	var err error
	if f.db, err = store.OpenWith(f.dbPath, store.Options{AuditKey: keys[0]}); err != nil {
		f.t.Fatal(err)
	}
	pol, err := loadPolicy(os.Getenv("ACCESSBOT_POLICY_FILE"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = approvals.New(approvals.Config{
		Store: f.db, Providers: map[string]approvals.Provider{"exec": f.provider}, Policy: pol,
		Now: f.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// Someone who can write the file but has no key rewrites a record and
// recomputes the whole chain after it with plain SHA-256, head included:
// audit verify, given the key file, refuses the log.
func TestAuditVerifyCatchesAChainRecomputedWithoutTheKey(t *testing.T) {
	f := newCLIFixture(t)
	f.keyed()
	f.story()
	f.close()
	code, out, errOut := runCLI(t, "audit", "verify")
	if code != 0 || !strings.Contains(out, "keyed (HMAC-SHA-256) from record 1") {
		t.Fatalf("verify of the keyed log = %d, %q %q", code, out, errOut)
	}
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error {
		audit := tx.Bucket([]byte("audit"))
		prev := ""
		var n uint64
		for k, v := audit.Cursor().First(); k != nil; k, v = audit.Cursor().Seek(seqKey(n + 1)) {
			n++
			if v[0] != 0x02 {
				t.Fatalf("record %d is not keyed (format %#x)", n, v[0])
			}
			var ev approvals.Event
			if err := json.Unmarshal(v[1+8+32:], &ev); err != nil {
				return err
			}
			if n == 1 {
				ev.Reason = "nothing to see here"
			}
			ev.PrevHash, ev.Hash = prev, ""
			prev = ev.ChainHash(prev)
			body, _ := json.Marshal(ev)
			sum, _ := hex.DecodeString(prev)
			if err := audit.Put(seqKey(n), append(append([]byte{0x01}, sum...), body...)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("audit_head"), append(seqKey(n), prev...))
	})
	// Without the key the forgery reads as a plain, intact chain.
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", "")
	if code, _, _ := runCLI(t, "audit", "verify"); code != 0 {
		t.Fatalf("the forged chain does not even verify as a plain chain (exit %d): the test forges badly", code)
	}
	t.Setenv("ACCESSBOT_AUDIT_KEY_FILE", filepath.Join(f.dir, "audit.keys"))
	code, _, errOut = runCLI(t, "audit", "verify")
	if code != 1 || !strings.Contains(errOut, "NOT intact") || !strings.Contains(errOut, "recomputed without the key") {
		t.Errorf("verify of a chain recomputed without the key = %d, %q", code, errOut)
	}
}

// fileState is what a read must not change: the bytes and the mtime.
type fileState struct {
	data  []byte
	mtime time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{data, fi.ModTime()}
}

// The reading commands open the file read-only: its bytes and its mtime
// are the same afterwards, keyed or not.
func TestReadingCommandsLeaveTheFileAlone(t *testing.T) {
	f := newCLIFixture(t)
	f.keyed()
	f.story()
	f.close()
	before := stateOf(t, f.dbPath)
	time.Sleep(20 * time.Millisecond) // so that a write would move the mtime
	for _, args := range [][]string{
		{"grants", "list"},
		{"audit", "verify"},
		{"audit", "export"},
		{"audit", "export", "--format", "csv"},
		{"audit", "who", cliResource},
	} {
		if code, _, errOut := runCLI(t, args...); code != 0 {
			t.Fatalf("%v = %d: %s", args, code, errOut)
		}
		after := stateOf(t, f.dbPath)
		if !bytes.Equal(after.data, before.data) || !after.mtime.Equal(before.mtime) {
			t.Errorf("%v changed the database file (mtime %s → %s)", args, before.mtime, after.mtime)
		}
	}
}

// The anchor is posted to the audit channel when the head moved since the
// last anchor, and not again while it stays.
func TestAnchorPostedWhenTheHeadMoves(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	defer m.Close()
	ctx := context.Background()
	anchors := func() int {
		m.Settle()
		n := 0
		for _, c := range w.slack.Posts(e2eAudit) {
			if strings.Contains(c.Text, "Audit log anchor") {
				n++
			}
		}
		return n
	}
	id := w.requestAndApprove(m)
	if err := m.PostAnchor(ctx); err != nil {
		t.Fatal(err)
	}
	if n := anchors(); n != 1 {
		t.Fatalf("%d anchors posted, want 1", n)
	}
	head, _ := m.db.AuditHead(ctx)
	if !strings.Contains(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "--expect-head "+head.String()) {
		t.Errorf("the anchor post does not carry the head %s", head)
	}
	m.PostAnchor(ctx)
	if n := anchors(); n != 1 {
		t.Errorf("%d anchors after a run with the head unchanged, want still 1", n)
	}
	w.command(m, e2eAlice, "list") // reads only
	m.PostAnchor(ctx)
	if n := anchors(); n != 1 {
		t.Errorf("%d anchors after a read, want still 1", n)
	}
	w.command(m, e2eAlice, "revoke "+id)
	m.PostAnchor(ctx)
	if n := anchors(); n != 2 {
		t.Errorf("%d anchors after the head moved, want 2", n)
	}
}
