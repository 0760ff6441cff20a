package leader

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("ACCESSBOT_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s: %v", dsn, err)
	}
	conn.Close(ctx)
	return dsn
}

// replica is one Elector running, counting its terms.
type replica struct {
	e      *Elector
	terms  atomic.Int32
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, dsn string, key int64) *replica {
	r := &replica{e: New(Config{DSN: dsn, Key: key, Check: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.e.Run(ctx, func(ctx context.Context) {
			r.terms.Add(1)
			<-ctx.Done()
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !cond() {
		if time.Since(began) > 15*time.Second {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began)
}

// TestOneLeaderAndFailover checks that of two replicas one leads; when
// the leader's session is killed (as a crash or a cut connection ends it)
// it stops leading at once and the other takes over; when a leader stops
// cleanly the other takes over too.
func TestOneLeaderAndFailover(t *testing.T) {
	dsn := testDSN(t)
	key := time.Now().UnixNano()
	a, b := start(t, dsn, key), start(t, dsn, key)
	waitFor(t, "a leader", func() bool { return a.e.Leading() || b.e.Leading() })
	time.Sleep(300 * time.Millisecond)
	if a.e.Leading() && b.e.Leading() {
		t.Fatal("both replicas lead")
	}
	first, second := a, b
	if b.e.Leading() {
		first, second = b, a
	}

	// Kill the leader's session from outside.
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed bool
	err = admin.QueryRow(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`, key).Scan(&killed)
	if err != nil || !killed {
		t.Fatalf("terminate the leader's session: %v %v", killed, err)
	}
	took := waitFor(t, "the other replica to lead", func() bool { return second.e.Leading() && !first.e.Leading() })
	t.Logf("failover after the session was killed: %s", took)

	// A clean stop hands over too, and the old leader's work was ended.
	if first.terms.Load() != 1 {
		t.Errorf("first replica led %d terms, want 1", first.terms.Load())
	}
	waitFor(t, "the first replica to lead again after the second stops", func() bool {
		if second.e.Leading() {
			second.stop()
		}
		return first.e.Leading()
	})
}
