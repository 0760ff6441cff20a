package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// TestServe100kGrants starts the real binary against a database holding
// 100,000 active grants, and against an empty database in the same run,
// and reports how long each takes to answer /healthz and the memory the
// process holds once healthy. Building the database takes a minute or
// two, so it runs only with ACCESSBOT_BENCH_100K=1:
//
//	ACCESSBOT_BENCH_100K=1 go test -run Serve100k -v ./cmd/accessbot/
//
// ACCESSBOT_BENCH_DB=FILE keeps the built database in FILE (and reuses it
// when it exists), for repeated runs.
func TestServe100kGrants(t *testing.T) {
	if os.Getenv("ACCESSBOT_BENCH_100K") != "1" {
		t.Skip("set ACCESSBOT_BENCH_100K=1 to build 100,000 grants and start serve on them")
	}
	if runtime.GOOS != "linux" {
		t.Skip("memory is read from /proc")
	}
	const n = 100_000
	w := newE2EWorld(t)
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	full := os.Getenv("ACCESSBOT_BENCH_DB")
	if full == "" {
		full = filepath.Join(dir, "full.db")
	}
	if _, err := os.Stat(full); err != nil {
		start := time.Now()
		buildGrants(t, full, n)
		t.Logf("built %d active grants in %s", n, time.Since(start).Round(time.Second))
	}
	fi, _ := os.Stat(full)
	t.Logf("database: %.1f MiB", float64(fi.Size())/(1<<20))

	empty := startServe(t, w, bin, filepath.Join(dir, "empty.db"))
	big := startServe(t, w, bin, full)
	empty2 := startServe(t, w, bin, filepath.Join(dir, "empty2.db"))
	big2 := startServe(t, w, bin, full)
	for _, s := range []serveFigures{empty, big, empty2, big2} {
		t.Logf("%-10s healthy in %6.0f ms; peak RSS %5.1f MiB (VmHWM), now %5.1f MiB: %5.1f MiB anonymous, %5.1f MiB file pages; Go heap in use %5.1f MiB",
			s.name, s.healthy.Seconds()*1000, s.hwm, s.rss, s.anon, s.file, s.heap)
	}
	b := serveFigures{healthy: (big.healthy + big2.healthy) / 2, hwm: max(big.hwm, big2.hwm), anon: max(big.anon, big2.anon), heap: max(big.heap, big2.heap)}
	e := serveFigures{healthy: (empty.healthy + empty2.healthy) / 2, hwm: max(empty.hwm, empty2.hwm), anon: max(empty.anon, empty2.anon), heap: max(empty.heap, empty2.heap)}
	t.Logf("100k / empty: healthy %.1f×, peak RSS %.2f×, anonymous %.2f×, heap %.2f×",
		b.healthy.Seconds()/e.healthy.Seconds(), b.hwm/e.hwm, b.anon/e.anon, b.heap/e.heap)
	if b.healthy > 500*time.Millisecond {
		t.Errorf("healthy after %s with 100k grants, want within 0.5 s", b.healthy)
	}
	if b.hwm > 60 {
		t.Errorf("peak RSS %.1f MiB with 100k grants (of which file pages %.1f MiB), want at most 60", b.hwm, max(big.file, big2.file))
	}
}

type serveFigures struct {
	name                       string
	healthy                    time.Duration
	hwm, rss, anon, file, heap float64 // MiB
}

// startServe starts `accessbot serve` on db, waits for /healthz, lets it
// settle for a second, reads its memory and stops it.
func startServe(t *testing.T, w *e2eWorld, bin, db string) serveFigures {
	t.Helper()
	cmd, addr := serveCommand(t, w, bin, "ACCESSBOT_DB_PATH="+db, "ACCESSBOT_ADMIN_SOCKET="+db+".sock", "ACCESSBOT_LOG_LEVEL=warn")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	var healthy time.Duration
	for deadline := start.Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				healthy = time.Since(start)
				break
			}
		}
	}
	if healthy == 0 {
		t.Fatalf("serve on %s never became healthy", db)
	}
	time.Sleep(time.Second)
	f := serveFigures{name: filepath.Base(db), healthy: healthy}
	status := procStatus(t, cmd.Process.Pid)
	f.hwm, f.rss, f.anon, f.file = status["VmHWM"], status["VmRSS"], status["RssAnon"], status["RssFile"]+status["RssShmem"]
	resp, err := client.Get("http://" + addr + "/metrics")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
				b, _ := strconv.ParseFloat(v, 64)
				f.heap = b / (1 << 20)
			}
		}
	}
	return f
}

// procStatus returns the kB fields of /proc/PID/status in MiB.
func procStatus(t *testing.T, pid int) map[string]float64 {
	t.Helper()
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(fh)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(rest), " kB"); ok && isKB {
			kb, _ := strconv.ParseFloat(v, 64)
			out[name] = kb / 1024
		}
	}
	return out
}

// buildGrants writes n active grants of payments-admin, one per user,
// through the store the way the approvals flow writes them (requested,
// approved, granting, granted, each a transaction with its event), with
// their approval messages posted, expiring in 3 hours.
func buildGrants(t *testing.T, path string, n int) {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	settings := json.RawMessage(`{"org":"acme","team":"payments-admins"}`)
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := g; i < n; i += workers {
				if err := buildGrant(ctx, db, i, now, settings); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func buildGrant(ctx context.Context, db *store.DB, i int, now time.Time, settings json.RawMessage) error {
	user := fmt.Sprintf("U%07d", i)
	r := &approvals.Request{
		ID: approvals.NewID(), Requester: user, Resource: "payments-admin", Provider: "github",
		Identity: fmt.Sprintf("user%07d-gh", i), Duration: 3 * time.Hour,
		Reason:   "INC-4211 hotfix for the payments outage, rolling back the ledger migration",
		Settings: settings, Required: 1, Status: approvals.StatusPending, CreatedAt: now.Add(-time.Minute),
		Asked:       []string{e2eApprovals},
		Messages:    []approvals.MessageRef{{ChannelID: e2eApprovals, TS: fmt.Sprintf("1732266000.%06d", i)}},
		AuditThread: approvals.MessageRef{ChannelID: e2eAudit, TS: fmt.Sprintf("1732266001.%06d", i)},
	}
	event := func(r *approvals.Request, action, actor string) approvals.Event {
		return approvals.Event{Time: now, Action: action, Actor: actor, RequestID: r.ID, Resource: r.Resource,
			Provider: r.Provider, Requester: r.Requester, Identity: r.Identity, Duration: r.Duration,
			ExpiresAt: r.ExpiresAt, Reason: r.Reason, Approvers: r.Approvers(), Outcome: string(r.Status),
			PolicyHash: "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"}
	}
	if err := db.CreateRequest(ctx, r, event(r, approvals.ActionRequested, user)); err != nil {
		return err
	}
	for _, s := range []struct {
		action string
		change func(r *approvals.Request)
	}{
		{approvals.ActionApproved, func(r *approvals.Request) {
			r.Approvals = []approvals.Approval{{Approver: e2eBob, At: now}}
			r.Status, r.DecidedBy, r.DecidedAt = approvals.StatusApproved, e2eBob, now
		}},
		{approvals.ActionGranting, func(r *approvals.Request) { r.Status = approvals.StatusGranting }},
		{approvals.ActionGranted, func(r *approvals.Request) {
			r.Status, r.GrantedAt, r.ExpiresAt = approvals.StatusActive, now, now.Add(r.Duration)
		}},
	} {
		_, err := db.Transition(ctx, r.ID, func(r *approvals.Request) (approvals.Change, error) {
			s.change(r)
			return approvals.Change{Events: []approvals.Event{event(r, s.action, approvals.SystemActor)}}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
