package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/accessbot/accessbot/approvals"
)

// holdWriter starts a write that keeps the writer busy until release is
// called, so that the writes started meanwhile queue up behind it. It
// returns once the write is running.
func holdWriter(tb testing.TB, db *DB) (release func()) {
	tb.Helper()
	running, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.update(func(*bbolt.Tx) error {
			close(running)
			<-hold
			return nil
		})
	}()
	<-running
	return func() {
		close(hold)
		if err := <-done; err != nil {
			tb.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued returns once n writes wait in db's queue.
func waitQueued(db *DB, n int) {
	for {
		db.wmu.Lock()
		queued := len(db.queue)
		db.wmu.Unlock()
		if queued >= n {
			return
		}
		runtime.Gosched()
	}
}

func TestLoneWriterCommitsAtOnce(t *testing.T) {
	db := mustOpen(t)
	before := db.Commits()
	// Nothing else writes: if a write waited for company, this would hang.
	mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))
	if got := db.Commits() - before; got != 1 {
		t.Errorf("a lone write took %d commits, want 1", got)
	}
	if _, err := db.Request(context.Background(), "ar-1"); err != nil {
		t.Errorf("the write is not there: %v", err)
	}
}

// TestConcurrentWritersShareCommits has 64 writers arrive while the writer
// is busy: they cost one commit between them, and every write is there.
func TestConcurrentWritersShareCommits(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	const n = 64
	before := db.Commits()
	release := holdWriter(t, db)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r := newRequest(fmt.Sprintf("ar-%02d", i), fmt.Sprintf("U%02d", i), "db")
			errs[i] = db.CreateRequest(ctx, r, eventOf(r, approvals.ActionRequested, t0))
		})
	}
	waitQueued(db, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if got := db.Commits() - before; got != 2 {
		t.Errorf("%d writes behind a busy writer took %d commits with it, want 2", n, got)
	}
	if got := len(keys(t, db, bucketRequests)); got != n {
		t.Errorf("%d requests stored, want %d", got, n)
	}
	if res := mustVerify(t, db); res.Count != n {
		t.Errorf("audit log has %d records, want %d", res.Count, n)
	}
}

// TestConcurrentWritersUnprompted is the same without holding the writer:
// whatever the timing, every write lands once and no write costs more
// than one commit.
func TestConcurrentWritersUnprompted(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	const n = 64
	before := db.Commits()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := newRequest(fmt.Sprintf("ar-%02d", i), fmt.Sprintf("U%02d", i), "db")
			if err := db.CreateRequest(ctx, r, eventOf(r, approvals.ActionRequested, t0)); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	commits := db.Commits() - before
	if commits == 0 || commits > n {
		t.Errorf("%d writes took %d commits", n, commits)
	}
	t.Logf("%d concurrent writes, %d commits", n, commits)
	if got := len(keys(t, db, bucketRequests)); got != n {
		t.Errorf("%d requests stored, want %d", got, n)
	}
	if res := mustVerify(t, db); res.Count != n {
		t.Errorf("audit log has %d records, want %d", res.Count, n)
	}
}

// TestFailingWriteInBatch queues three writes behind a busy writer; the
// middle one writes, then fails. The others commit together; the failing
// one gets its own error, saw the write before it, and left nothing.
func TestFailingWriteInBatch(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	errBoom := errors.New("boom")
	before := db.Commits()
	release := holdWriter(t, db)

	var wg sync.WaitGroup
	var errA, errB, errC error
	var sawA bool
	r1, r2 := newRequest("ar-1", "U0ALICE", "db"), newRequest("ar-2", "U0BOB", "db")
	wg.Go(func() { errA = db.CreateRequest(ctx, r1, eventOf(r1, approvals.ActionRequested, t0)) })
	waitQueued(db, 1)
	wg.Go(func() {
		errB = db.update(func(tx *bbolt.Tx) error {
			sawA = tx.Bucket(bucketRequests).Get([]byte("ar-1")) != nil
			if err := tx.Bucket(bucketRequests).Put([]byte("ar-x"), []byte("{}")); err != nil {
				return err
			}
			if err := db.appendEvents(tx, approvals.Event{Action: "x"}); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", errBoom)
		})
	})
	waitQueued(db, 2)
	wg.Go(func() { errC = db.CreateRequest(ctx, r2, eventOf(r2, approvals.ActionRequested, t0)) })
	waitQueued(db, 3)
	release()
	wg.Wait()

	if errA != nil || errC != nil {
		t.Fatalf("the writes around the failing one: %v, %v", errA, errC)
	}
	if !errors.Is(errB, errBoom) || errB.Error() != "wrapped: boom" {
		t.Errorf("failing write got %v, want its own error unchanged", errB)
	}
	if !sawA {
		t.Error("the failing write did not see the write queued before it")
	}
	if got := db.Commits() - before; got != 2 {
		t.Errorf("%d commits, want 2 (the busy writer, then the batch)", got)
	}
	if got := keys(t, db, bucketRequests); fmt.Sprint(got) != "[ar-1 ar-2]" {
		t.Errorf("requests = %v, want ar-1 and ar-2 only", got)
	}
	evs := allEvents(t, db)
	if len(evs) != 2 || evs[0].RequestID != "ar-1" || evs[1].RequestID != "ar-2" {
		t.Errorf("audit log = %+v, want the two requests' events only", evs)
	}
	mustVerify(t, db)
}

// TestBatchErrorsKeepTheirCodes queues writes that fail the way callers
// see it: a conflict caused by the write queued just before, in the same
// batch, comes back as ECONFLICT, and an unknown request as ENOTFOUND.
func TestBatchErrorsKeepTheirCodes(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	release := holdWriter(t, db)
	var wg sync.WaitGroup
	var first, second, missing error
	wg.Go(func() { first = db.CreateRequest(ctx, newRequest("ar-1", "U0ALICE", "db"), approvals.Event{}) })
	waitQueued(db, 1)
	wg.Go(func() { second = db.CreateRequest(ctx, newRequest("ar-2", "U0ALICE", "db"), approvals.Event{}) })
	waitQueued(db, 2)
	wg.Go(func() {
		_, missing = db.UpdateRequest(ctx, "ar-9", func(*approvals.Request) ([]approvals.Event, error) { return nil, nil })
	})
	waitQueued(db, 3)
	release()
	wg.Wait()
	if first != nil {
		t.Errorf("first create: %v", first)
	}
	if approvals.ErrorCode(second) != approvals.ECONFLICT {
		t.Errorf("second create: %v, want ECONFLICT", second)
	}
	if approvals.ErrorCode(missing) != approvals.ENOTFOUND {
		t.Errorf("update of a missing request: %v, want ENOTFOUND", missing)
	}
}

func TestPanicInWriteReachesItsCaller(t *testing.T) {
	db := mustOpen(t)
	func() {
		defer func() {
			if v := recover(); v != "kaboom" {
				t.Errorf("recovered %v, want the write's panic", v)
			}
		}()
		db.update(func(*bbolt.Tx) error { panic("kaboom") })
	}()
	// The committer is free again.
	mustCreate(t, db, newRequest("ar-1", "U0ALICE", "db"))
}

func TestWriteAfterCloseNamesTheFile(t *testing.T) {
	db := mustOpen(t)
	db.Close()
	err := db.AppendEvent(context.Background(), approvals.Event{Action: "x"})
	if err == nil || !errors.Is(err, bolterrors.ErrDatabaseNotOpen) || !strings.Contains(err.Error(), db.path) {
		t.Errorf("write after Close: %v, want bbolt's error with the path", err)
	}
}
