package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// editRequestJSON changes the stored JSON of request id in the raw file.
func editRequestJSON(t *testing.T, path, id string, fn func(m map[string]any)) {
	t.Helper()
	editBolt(t, path, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("requests"))
		var m map[string]any
		if err := json.Unmarshal(b.Get([]byte(id)), &m); err != nil {
			return err
		}
		fn(m)
		v, err := json.Marshal(m)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
}

// TestStartRepairsIndexes removes the revokes_by_time key of an 8-second
// grant while serve is stopped: audit verify names it, the next start
// rewrites it from the request with an index_repaired event, and the grant
// is revoked at its expiry.
func TestStartRepairsIndexes(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	m := w.startWith(cfg)
	id := w.requestAndApproveFor(m, "8s")
	r := w.request(m, id)
	if r.Status != approvals.StatusActive || r.ExpiresAt.Sub(r.GrantedAt) != 8*time.Second {
		t.Fatalf("%s is %s until %s", id, r.Status, r.ExpiresAt)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	editBolt(t, cfg.DBPath, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte("revokes_by_time")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	want := "request " + id + ": revoke due at " + r.ExpiresAt.UTC().Format(time.RFC3339Nano) + " but no revokes_by_time key (index removed)"
	code, out, errOut := runCLI(t, "audit", "verify")
	if code == 0 || !strings.Contains(out, "audit log intact") || !strings.Contains(out, want+"\n") || !strings.Contains(errOut, "do NOT agree") {
		t.Fatalf("audit verify with the key removed = %d\n%s%s\nwant non-zero and the line %q", code, out, errOut, want)
	}

	m = w.startWith(cfg)
	defer m.Close()
	var repaired *approvals.Event
	for _, ev := range events2(t, m) {
		if ev.Action == approvals.ActionIndexRepaired {
			repaired = &ev
		}
	}
	if repaired == nil || !strings.Contains(repaired.Detail, want) {
		t.Fatalf("index_repaired event %+v; want one naming %q", repaired, want)
	}
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 {
		t.Errorf("audit verify after the repair (through the socket) = %d\n%s%s", code, out, errOut)
	}
	w.clock.Advance(8 * time.Second)
	m.sweep(context.Background())
	m.Settle()
	if r := w.request(m, id); r.Status != approvals.StatusExpired {
		t.Errorf("after the repair, the sweep at expiry left %s %s", id, r.Status)
	}
}

// events2 reads the audit log through the running program's store.
func events2(t *testing.T, m *Main) []approvals.Event {
	t.Helper()
	var evs []approvals.Event
	if err := m.db.Events(context.Background(), func(ev approvals.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestStartRefusesEditedRecords edits a grant's status, or its expiry, in
// the requests bucket while serve is stopped: serve refuses to start,
// naming the request and what differs from the log.
func TestStartRefusesEditedRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"status", func(m map[string]any) { m["status"] = "expired" }, ": status expired in the record, active in the log (event "},
		{"expiry", func(m map[string]any) { m["expires_at"] = "2026-11-23T09:00:00Z" }, ": expiry 2026-11-23T09:00:00Z in the record, "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newE2EWorld(t)
			m := w.start()
			id := w.requestAndApprove(m)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			cfg := w.config()
			editRequestJSON(t, cfg.DBPath, id, tc.edit)
			m = &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now}
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), "request "+id+tc.want) {
				t.Fatalf("Run after editing the %s = %v; want a refusal naming %q", tc.name, err, "request "+id+tc.want)
			}
		})
	}
}

// TestAuditVerifyStateSameThroughSocket edits an ended grant's status,
// which a start does not look at: audit verify names it, with the same
// output and exit status through the running serve's admin socket and on
// the file directly.
func TestAuditVerifyStateSameThroughSocket(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	m := w.startWith(cfg)
	id := w.requestAndApprove(m)
	if _, err := m.Service().Revoke(context.Background(), e2eAlice, id); err != nil {
		t.Fatal(err)
	}
	m.Settle()
	if r := w.request(m, id); r.Status != approvals.StatusRevoked {
		t.Fatalf("%s is %s, want revoked", id, r.Status)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	editRequestJSON(t, cfg.DBPath, id, func(m map[string]any) { m["status"] = "expired" })
	m = w.startWith(cfg)
	code, viaSocket, errSocket := runCLI(t, "audit", "verify")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	want := "request " + id + ": status expired in the record, revoked in the log (event "
	if code == 0 || !strings.Contains(viaSocket, want) {
		t.Fatalf("audit verify through the socket = %d\n%s%s\nwant non-zero and %q", code, viaSocket, errSocket, want)
	}
	code2, direct, errDirect := runCLI(t, "audit", "verify")
	if code2 != code || direct != viaSocket || errDirect != errSocket {
		t.Errorf("through the socket: %d\n%s%s\ndirect: %d\n%s%s", code, viaSocket, errSocket, code2, direct, errDirect)
	}
}
