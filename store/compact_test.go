package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

func TestCompact(t *testing.T) {
	ctx := context.Background()
	db := mustOpenWithLegacy(t, 50, 50, weirdEvent) // schema 1 records first
	// Many small appends, each its own transaction, and requests that
	// change: the way a bot grows its file.
	for i := range 600 {
		r := newRequest(fmt.Sprintf("ar-%04d", i), fmt.Sprintf("U%04d", i), "db")
		mustCreate(t, db, r)
		mustUpdate(t, db, r.ID, func(r *approvals.Request) { r.Status = approvals.StatusDenied })
	}
	want := mustVerify(t, db)
	wantEvents := jsonOf(t, allEvents(t, db))
	src := db.path
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "compact.db")
	if err := Compact(src, dst); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	before, after := usedSize(t, src), usedSize(t, dst)
	if after >= before || fileSize(t, dst) > fileSize(t, src) {
		t.Errorf("compacted file uses %d bytes (file %d), the original %d (file %d)", after, fileSize(t, dst), before, fileSize(t, src))
	}
	t.Logf("%d bytes in use (file %d) compacted to %d (file %d)", before, fileSize(t, src), after, fileSize(t, dst))
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("compacted file mode = %o, want 600", mode)
	}

	copyDB := mustOpenPath(t, dst)
	if got := mustVerify(t, copyDB); got != want {
		t.Errorf("compacted copy verifies as %+v, the original as %+v", got, want)
	}
	if got := jsonOf(t, allEvents(t, copyDB)); got != wantEvents {
		t.Error("the compacted copy reads other events")
	}
	// The chain goes on in the copy, whose audit bucket is still filled up.
	if err := copyDB.AppendEvent(ctx, approvals.Event{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if res := mustVerify(t, copyDB); res.Count != want.Count+1 {
		t.Errorf("after an append to the copy: %+v", res)
	}

	if err := Compact(src, dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("Compact onto an existing file: %v", err)
	}
	if got := fileSize(t, dst); got < after {
		t.Errorf("a refused Compact changed the existing file")
	}
}

func TestCompactRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "other.db")
	raw, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("kubernetes"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	dst := filepath.Join(dir, "out.db")
	if err := Compact(foreign, dst); err == nil || !strings.Contains(err.Error(), "not an accessbot database") {
		t.Errorf("Compact of another program's file: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a refused Compact left %s: %v", dst, err)
	}
}

func TestCompactWhileOpenFailsFast(t *testing.T) {
	db := mustOpen(t)
	err := Compact(db.path, filepath.Join(t.TempDir(), "out.db"))
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Compact of an open database: %v", err)
	}
}

func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// usedSize returns the size of the pages in use in the bbolt file at path,
// up to its last page: a bbolt file grows in steps, so its length says
// less.
func usedSize(tb testing.TB, path string) int64 {
	tb.Helper()
	raw, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	var size int64
	if err := raw.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return size
}
