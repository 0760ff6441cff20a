package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// socketDir returns a short directory for admin sockets: a socket path
// has at most 107 bytes, and t.TempDir() paths can be longer.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// adminConfig is the e2e configuration with an admin socket, and the
// environment pointing the CLI at the same database, policy and socket.
func (w *e2eWorld) adminConfig() Config {
	w.t.Helper()
	cfg := w.config()
	cfg.AdminSocket = filepath.Join(socketDir(w.t), "a.sock")
	for k, v := range map[string]string{
		"ACCESSBOT_DB_PATH":      cfg.DBPath,
		"ACCESSBOT_ADMIN_SOCKET": cfg.AdminSocket,
		"ACCESSBOT_POLICY_FILE":  cfg.PolicyFile,
		"ACCESSBOT_GITHUB_TOKEN": e2eGitHubToken,
		// Direct mode builds the provider from the environment.
		"ACCESSBOT_GITHUB_API_URL": cfg.GitHubAPIURL,
		"ACCESSBOT_LOG_LEVEL":      "info",
	} {
		w.t.Setenv(k, v)
	}
	return cfg
}

// startWith runs the program with cfg on a loopback port.
func (w *e2eWorld) startWith(cfg Config) *Main {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now, Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		w.t.Fatalf("Run: %v", err)
	}
	return m
}

// cliResult is what one command line printed and returned.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runAll(t *testing.T, cmds [][]string) []cliResult {
	t.Helper()
	out := make([]cliResult, len(cmds))
	for i, args := range cmds {
		out[i].code, out[i].stdout, out[i].stderr = runCLI(t, args...)
	}
	return out
}

// TestAdminSocketSameOutput: while serve runs, the operator commands go
// through its admin socket and print exactly what they print from the
// file once serve has stopped, errors and exit status included.
func TestAdminSocketSameOutput(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	m := w.startWith(cfg)
	id := w.requestAndApprove(m)
	m.Settle()

	fi, err := os.Stat(cfg.AdminSocket)
	if err != nil {
		t.Fatalf("no admin socket: %v", err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want a socket with 0600", fi.Mode())
	}

	at := w.clock.Now().Add(time.Minute).Format(time.RFC3339)
	cmds := [][]string{
		{"audit", "verify"},
		{"audit", "export"},
		{"audit", "export", "--format", "csv", "--since", "2026-11-22"},
		{"audit", "who", "payments-admin", "--at", at},
		{"audit", "who", "payments-admn", "--at", at},
		{"grants", "list"},
		{"grants", "revoke", "ar-nosuchid"},
		{"audit", "export", "--format", "xlsx"},
		{"grants"},
	}
	viaSocket := runAll(t, cmds)
	backupDir := t.TempDir()
	code, socketBackup, errOut := runCLI(t, "backup", filepath.Join(backupDir, "copy.db"))
	if code != 0 {
		t.Fatalf("backup through the socket = %d, %q", code, errOut)
	}
	if !strings.Contains(viaSocket[0].stdout, "audit log intact") || !strings.Contains(viaSocket[5].stdout, id) {
		t.Fatalf("through the socket: verify %+v, grants list %+v", viaSocket[0], viaSocket[5])
	}
	// Anything printed through the socket came from serve: the file is
	// locked, so the CLI could not have read it itself.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(cfg.AdminSocket); !os.IsNotExist(err) {
		t.Errorf("admin socket left behind after shutdown: %v", err)
	}

	direct := runAll(t, cmds)
	for i := range cmds {
		if viaSocket[i] != direct[i] {
			t.Errorf("%v through the socket:\n%+v\ndirect:\n%+v", cmds[i], viaSocket[i], direct[i])
		}
	}
	code, directBackup, errOut := runCLI(t, "backup", filepath.Join(backupDir, "direct.db"))
	if code != 0 {
		t.Fatalf("direct backup = %d, %q", code, errOut)
	}
	if strings.ReplaceAll(socketBackup, "copy.db", "direct.db") != directBackup {
		t.Errorf("backup through the socket printed\n%s\ndirect:\n%s", socketBackup, directBackup)
	}
	if !strings.Contains(socketBackup, "anchor now: ") || !strings.Contains(viaSocket[0].stdout, socketBackup[strings.Index(socketBackup, "anchor now: "):]) {
		t.Errorf("the backup's anchor %q is not the database's (%q)", socketBackup, viaSocket[0].stdout)
	}
	for _, name := range []string{"copy.db", "direct.db"} {
		path := filepath.Join(backupDir, name)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("backup %s: %v, %v; want mode 0600", name, fi.Mode(), err)
		}
		db, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatalf("the backup does not open: %v", err)
		}
		if r, err := db.Request(context.Background(), id); err != nil || r.Status != approvals.StatusActive {
			t.Errorf("the backup has %s as %v, %v", id, r, err)
		}
		db.Close()
	}
	// An existing file is never overwritten.
	before, _ := os.ReadFile(filepath.Join(backupDir, "copy.db"))
	if code, _, errOut := runCLI(t, "backup", filepath.Join(backupDir, "copy.db")); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup onto an existing file = %d, %q", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(backupDir, "copy.db")); !bytes.Equal(before, after) {
		t.Error("backup changed an existing file")
	}
}

// TestAdminSocketRevoke: grants revoke through the socket is carried out
// by the running serve: its provider revokes, the command returns once the
// outcome is recorded, and the audit log names the operating system user.
func TestAdminSocketRevoke(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	m := w.startWith(cfg)
	defer m.Close()
	id := w.requestAndApprove(m)

	code, out, errOut := runCLI(t, "grants", "revoke", id)
	if code != 0 || out != id+": revoked (alice-gh of payments-admin for U0ALICE)\n" {
		t.Fatalf("grants revoke through the socket = %d, %q, %q", code, out, errOut)
	}
	if n := w.github.Count(http.MethodDelete, e2eTeamPath); n != 1 {
		t.Errorf("%d GitHub DELETEs, want 1", n)
	}
	wantActor := approvals.OperatorAs(osUser(os.Getuid()))
	var actors []string
	m.db.Events(context.Background(), func(ev approvals.Event) error {
		if ev.RequestID == id && (ev.Action == approvals.ActionRevokeAsked || ev.Action == approvals.ActionRevoked) {
			actors = append(actors, ev.Actor)
		}
		return nil
	})
	if len(actors) != 2 || actors[0] != wantActor || actors[1] != wantActor {
		t.Errorf("revoke events by %v, want both by %q", actors, wantActor)
	}
	if !strings.HasPrefix(wantActor, "operator:") || !strings.Contains(wantActor, "uid ") {
		t.Errorf("the operator actor %q does not name the user", wantActor)
	}
	m.Settle()
	w.slack.WaitFor(t, func() bool {
		return strings.Contains(e2eText(w.slack.CallsTo("chat.postMessage"), e2eAudit), "revoked")
	}, 5*time.Second)
	// Again: nothing to do, the same answer.
	if code, out, _ := runCLI(t, "grants", "revoke", id); code != 0 || !strings.Contains(out, id+": revoked") {
		t.Errorf("second grants revoke = %d, %q", code, out)
	}
}

// TestAdminSocketStale: a socket file left by a serve that crashed is
// replaced; a socket another serve answers on is refused, as is a path
// that is not a socket.
func TestAdminSocketStale(t *testing.T) {
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.AdminSocket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	m := w.startWith(cfg)
	defer m.Close()
	if code, out, errOut := runCLI(t, "grants", "list"); code != 0 || !strings.HasPrefix(out, "ID") {
		t.Errorf("grants list after replacing a stale socket = %d, %q, %q", code, out, errOut)
	}

	other := cfg
	other.DBPath = filepath.Join(t.TempDir(), "other.db")
	m2 := &Main{Config: other, Logger: e2eLogger(), Now: w.clock.Now, Listener: mustListen(t)}
	err = m2.Run(context.Background())
	m2.Close()
	if err == nil || !strings.Contains(err.Error(), "another accessbot serve answers on ACCESSBOT_ADMIN_SOCKET") {
		t.Errorf("a second serve on the same socket: %v", err)
	}

	notSocket := filepath.Join(socketDir(t), "file")
	os.WriteFile(notSocket, []byte("keep me"), 0o600)
	other.AdminSocket = notSocket
	m3 := &Main{Config: other, Logger: e2eLogger(), Now: w.clock.Now, Listener: mustListen(t)}
	err = m3.Run(context.Background())
	m3.Close()
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("a serve whose socket path is a file: %v", err)
	}
	if b, _ := os.ReadFile(notSocket); string(b) != "keep me" {
		t.Error("serve removed a file that was not a socket")
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestAdminSocketRefusesOtherUsers connects as another user: the peer's
// credentials, not only the socket's mode, keep it out. Connecting as
// another user needs root.
func TestAdminSocketRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("connecting as another user needs root")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	w := newE2EWorld(t)
	cfg := w.adminConfig()
	m := w.startWith(cfg)
	defer m.Close()
	// Let the other user reach the socket, so that only the credential
	// check stands in the way, and run a copy of this test binary it can
	// execute.
	dir := filepath.Dir(cfg.AdminSocket)
	for path, mode := range map[string]os.FileMode{dir: 0o755, cfg.AdminSocket: 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "helper")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestAdminSocketHelper$")
	cmd.Env = []string{"ACCESSBOT_ADMIN_HELPER=" + cfg.AdminSocket}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "exit 1") || !strings.Contains(string(out), "uid 65534 may not use the admin socket") {
		t.Errorf("a connection from uid 65534 got:\n%s", out)
	}
	if strings.Contains(string(out), "audit log intact") {
		t.Error("uid 65534 got an answer")
	}
}

// TestAdminSocketHelper is the other user's side of
// TestAdminSocketRefusesOtherUsers; it does nothing in a normal run.
func TestAdminSocketHelper(t *testing.T) {
	path := os.Getenv("ACCESSBOT_ADMIN_HELPER")
	if path == "" {
		t.Skip("run by TestAdminSocketRefusesOtherUsers")
	}
	conn, ok, err := dialAdmin(path)
	if err != nil || !ok {
		t.Fatalf("dial: %v, %v", ok, err)
	}
	var stdout, stderr bytes.Buffer
	code, err := forward(context.Background(), conn, adminRequest{Args: []string{"audit", "verify"}}, &stdout, &stderr, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"stdout": stdout.String(), "stderr": stderr.String()})
	t.Logf("%s exit %d", b, code)
	os.Stdout.WriteString(stdout.String() + stderr.String() + "exit " + string(rune('0'+code)) + "\n")
}
