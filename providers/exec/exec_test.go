package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/providertest"
)

// pluginBin is the example plugin, built once by TestMain.
var pluginBin string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperProcess())
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "exec-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginBin = filepath.Join(dir, "exec-plugin")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	build := osexec.Command(goBin, "build", "-o", pluginBin, "github.com/accessbot/accessbot/examples/exec-plugin")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the example plugin: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// helperEnv, when set, makes the test binary act as a plugin (the os/exec
// tests' helper-process pattern): it answers a list with its environment.
const helperEnv = "EXEC_TEST_HELPER"

func helperProcess() int {
	env := os.Environ()
	b, _ := json.Marshal(map[string]any{"holders": env})
	os.Stdout.Write(b)
	return 0
}

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the logged records with the given message.
func (b *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func newProvider(t *testing.T) (*Provider, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return New(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), logs
}

// script writes a /bin/sh script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func raw(t *testing.T, s Settings) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func grantReq(settings json.RawMessage) approvals.GrantRequest {
	return approvals.GrantRequest{
		RequestID: "r-42",
		Resource:  "payroll-export",
		Identity:  "alice",
		Requester: "U0ALICE",
		Approvers: []string{"U0HR", "U0CFO"},
		Reason:    "month-end close",
		Duration:  time.Hour,
		ExpiresAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
		Settings:  settings,
	}
}

func TestConformanceWithExamplePlugin(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"EXAMPLE_PLUGIN_STATE": state}
	p, _ := newProvider(t)
	providertest.Run(t, providertest.Harness{
		Provider:      p,
		Resource:      "payroll-export",
		Settings:      raw(t, Settings{Command: []string{pluginBin}, Env: env, Settings: map[string]any{"group": "exporters"}}),
		Identity:      "alice",
		OtherIdentity: "bob",
		Preexisting: func(t *testing.T, identity string) {
			// An admin adds the member with the plugin itself, not
			// through accessbot.
			cmd := osexec.Command(pluginBin, "grant")
			cmd.Env = []string{"EXAMPLE_PLUGIN_STATE=" + state}
			cmd.Stdin = strings.NewReader(`{"action":"grant","identity":"` + identity + `","settings":{"group":"exporters"}}`)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("grant by hand: %v: %s", err, out)
			}
		},
	})
}

// TestRequestOnStdin checks the command line and the standard input of
// each action against DESIGN.md A11, key by key.
func TestRequestOnStdin(t *testing.T) {
	dir := t.TempDir()
	bin := script(t, `printf '%s\n' "$@" > "$OUT_DIR/args"; cat > "$OUT_DIR/stdin"
case "$1$2$3" in *check) echo '{"held": false}';; *list) echo '{"holders": []}';; *) echo '{}';; esac`)
	s := raw(t, Settings{
		Command:  []string{bin, "--tenant", "acme"},
		Env:      map[string]string{"OUT_DIR": dir},
		Settings: map[string]any{"group": "exporters", "limit": 12345678901234567},
	})
	p, _ := newProvider(t)
	settings := map[string]any{"group": "exporters", "limit": json.Number("12345678901234567")}

	tests := []struct {
		action string
		call   func() error
		want   map[string]any
	}{
		{ActionGrant, func() error { _, err := p.Grant(ctx(t), grantReq(s)); return err }, map[string]any{
			"action": "grant", "request_id": "r-42", "resource": "payroll-export", "identity": "alice",
			"requester": "U0ALICE", "approvers": []any{"U0HR", "U0CFO"}, "reason": "month-end close",
			"duration_seconds": json.Number("3600"), "expires_at": "2026-11-22T09:00:00Z", "settings": settings,
		}},
		{ActionRevoke, func() error {
			return p.Revoke(ctx(t), approvals.RevokeRequest{
				RequestID: "r-42", Resource: "payroll-export", Identity: "alice", Requester: "U0ALICE",
				Approvers: []string{"U0HR"}, Reason: "month-end close", Duration: time.Hour,
				ExpiresAt: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), Settings: s,
			})
		}, map[string]any{
			"action": "revoke", "request_id": "r-42", "resource": "payroll-export", "identity": "alice",
			"requester": "U0ALICE", "approvers": []any{"U0HR"}, "reason": "month-end close", "duration_seconds": json.Number("3600"),
			"expires_at": "2026-11-22T09:00:00Z", "settings": settings,
		}},
		{ActionCheck, func() error {
			_, err := p.Holds(ctx(t), approvals.HoldsRequest{
				Resource: "payroll-export", Identity: "alice", RequestID: "r-42", Requester: "U0ALICE",
				Approvers: []string{"U0HR"}, Reason: "month-end close", Duration: time.Hour, Settings: s,
			})
			return err
		}, map[string]any{
			"action": "check", "request_id": "r-42", "resource": "payroll-export", "identity": "alice",
			"requester": "U0ALICE", "approvers": []any{"U0HR"}, "reason": "month-end close", "duration_seconds": json.Number("3600"),
			"expires_at": nil, "settings": settings,
		}},
		{ActionList, func() error {
			_, err := p.Holders(ctx(t), approvals.HoldersRequest{Resource: "payroll-export", Settings: s})
			return err
		}, map[string]any{
			"action": "list", "request_id": "", "resource": "payroll-export", "identity": "",
			"requester": "", "approvers": []any{}, "reason": "", "duration_seconds": json.Number("0"), "expires_at": nil, "settings": settings,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			args, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(args), "--tenant\nacme\n"+tt.action+"\n"; got != want {
				t.Errorf("arguments = %q, want %q", got, want)
			}
			stdin, err := os.ReadFile(filepath.Join(dir, "stdin"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(bytes.TrimSpace(stdin), []byte("\n")) != 0 {
				t.Errorf("stdin is not one line of JSON: %q", stdin)
			}
			dec := json.NewDecoder(bytes.NewReader(stdin))
			dec.UseNumber()
			var got map[string]any
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("stdin %q: %v", stdin, err)
			}
			if !jsonEqual(got, tt.want) {
				t.Errorf("stdin =\n %s\nwant\n %s", stdin, mustJSON(tt.want))
			}
		})
	}
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestEnvironmentIsIsolated checks that a program gets PATH and the
// policy's env, and nothing else of accessbot's environment.
func TestEnvironmentIsIsolated(t *testing.T) {
	t.Setenv("ACCESSBOT_SLACK_BOT_TOKEN", "xoxb-must-not-leak")
	t.Setenv("PATH", "/usr/bin:/bin")
	p, _ := newProvider(t) // reads PATH now
	s := raw(t, Settings{
		Command: []string{os.Args[0], "-test.run=^$"},
		// GORACE: a race-enabled helper would otherwise sleep 1s at exit.
		Env: map[string]string{helperEnv: "1", "GORACE": "atexit_sleep_ms=0", "PAYROLL_URL": "https://payroll.internal", "WITH_SPACES": "a b=c"},
	})
	got, err := p.Holders(ctx(t), approvals.HoldersRequest{Resource: "r", Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{helperEnv + "=1", "GORACE=atexit_sleep_ms=0", "PATH=/usr/bin:/bin", "PAYROLL_URL=https://payroll.internal", "WITH_SPACES=a b=c"}
	if !slices.Equal(got, want) {
		t.Errorf("environment = %q, want exactly %q", got, want)
	}

	// A PATH in the policy replaces accessbot's.
	s = raw(t, Settings{Command: []string{os.Args[0], "-test.run=^$"}, Env: map[string]string{helperEnv: "1", "GORACE": "atexit_sleep_ms=0", "PATH": "/opt/plugin/bin"}})
	got, err = p.Holders(ctx(t), approvals.HoldersRequest{Resource: "r", Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{helperEnv + "=1", "GORACE=atexit_sleep_ms=0", "PATH=/opt/plugin/bin"}; !slices.Equal(got, want) {
		t.Errorf("environment = %q, want exactly %q", got, want)
	}
}

// TestTimeoutKillsProcessGroup checks that a program that outlives its
// timeout is killed with its children, and that the failure is transient.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	bin := script(t, `sleep 30 &
echo $! > "$PID_FILE"
wait`)
	p, _ := newProvider(t)
	s := raw(t, Settings{Command: []string{bin}, Timeout: Duration(300 * time.Millisecond), Env: map[string]string{"PID_FILE": pidFile}})

	start := time.Now()
	_, err := p.Grant(ctx(t), grantReq(s))
	elapsed := time.Since(start)
	if !approvals.Retryable(err) || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("Grant = %v, want a transient timeout", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Grant took %s after a 300ms timeout", elapsed)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the script's child (sleep, pid %d) survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func TestCancelledWhileRunningIsTransient(t *testing.T) {
	p, _ := newProvider(t)
	s := raw(t, Settings{Command: []string{script(t, "exec sleep 30")}})
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Revoke(c, approvals.RevokeRequest{Identity: "alice", Settings: s})
	if !approvals.Retryable(err) {
		t.Fatalf("Revoke = %v, want a transient error", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Revoke took %s after its context ended", elapsed)
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		transient bool
		want      []string // in the error
	}{
		{"75IsTransient", "echo 'backend down' >&2; exit 75", true, []string{"exit status 75"}},
		{"1IsPermanent", "echo 'no such employee' >&2; exit 1", false, []string{"exit status 1", "standard error is in the log"}},
		{"MessageOnStdout", `echo '{"message": "alice is not an employee"}'; exit 2`, false, []string{"exit status 2", "alice is not an employee"}},
		{"Signal", "kill -KILL $$", false, []string{"killed by signal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, logs := newProvider(t)
			s := raw(t, Settings{Command: []string{script(t, tt.body)}})
			_, err := p.Grant(ctx(t), grantReq(s))
			if err == nil {
				t.Fatal("Grant succeeded")
			}
			if got := approvals.Retryable(err); got != tt.transient {
				t.Errorf("transient = %v, want %v (%v)", got, tt.transient, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "no such employee") {
				t.Errorf("error %q carries standard error, which belongs in the log", err)
			}
			var logged []string
			for _, r := range logs.records(t, "exec plugin stderr") {
				logged = append(logged, r["line"].(string))
			}
			if strings.Contains(tt.body, ">&2") && len(logged) != 1 {
				t.Errorf("logged stderr = %q, want the program's one line", logged)
			}
		})
	}
}

// TestStderrIsLogged checks that standard error is logged line by line,
// with the request's keys, and bounded.
func TestStderrIsLogged(t *testing.T) {
	p, logs := newProvider(t)
	long := strings.Repeat("x", 3*maxLine)
	bin := script(t, `echo 'first line' >&2
printf 'second\r\n' >&2
echo '`+long+`' >&2
echo 'after the long one' >&2
printf 'no newline' >&2
echo '{}'`)
	if _, err := p.Grant(ctx(t), grantReq(raw(t, Settings{Command: []string{bin}}))); err != nil {
		t.Fatal(err)
	}
	recs := logs.records(t, "exec plugin stderr")
	var lines []string
	for _, r := range recs {
		lines = append(lines, r["line"].(string))
		if r["request_id"] != "r-42" || r["resource"] != "payroll-export" || r["action"] != "grant" {
			t.Errorf("record %v lacks request_id, resource or action", r)
		}
	}
	want := []string{"first line", "second", long[:maxLine], "after the long one", "no newline"}
	if !slices.Equal(lines, want) {
		t.Errorf("logged lines = %q, want %q", lines, want)
	}

	// A flood is cut at maxStderr.
	p, logs = newProvider(t)
	bin = script(t, `i=0; while [ $i -lt 2000 ]; do echo "line $i ..................................................................." >&2; i=$((i+1)); done; echo '{}'`)
	if _, err := p.Grant(ctx(t), grantReq(raw(t, Settings{Command: []string{bin}}))); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range logs.records(t, "exec plugin stderr") {
		total += len(r["line"].(string))
	}
	if total > maxStderr {
		t.Errorf("logged %d bytes of stderr, want at most %d", total, maxStderr)
	}
	if len(logs.records(t, "exec plugin stderr: more output dropped")) != 1 {
		t.Error("no note that stderr was cut")
	}
}

func TestBadAnswers(t *testing.T) {
	garbage := strings.Repeat("garbage ", 1000)
	tests := []struct {
		name   string
		action string
		stdout string
		want   string
	}{
		{"Garbage", ActionGrant, garbage, `not a JSON object`},
		{"Empty", ActionGrant, "", "wrote no answer"},
		{"NotAnObject", ActionRevoke, `["ok"]`, "not a JSON object"},
		{"TwoObjects", ActionGrant, `{} {}`, "more than one JSON object"},
		{"Truncated", ActionGrant, `{"message": "ok"`, "not valid"},
		{"CheckWithoutHeld", ActionCheck, `{}`, `no boolean "held"`},
		{"CheckHeldNotBool", ActionCheck, `{"held": "yes"}`, "not valid"},
		{"ListWithoutHolders", ActionList, `{"held": true}`, `no "holders" list`},
		{"ListEmptyHolder", ActionList, `{"holders": ["alice", ""]}`, `"holders[1]" in its answer is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(out, []byte(tt.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			p, _ := newProvider(t)
			s := raw(t, Settings{Command: []string{script(t, `cat "$OUT" # exit 0`)}, Env: map[string]string{"OUT": out}})
			var err error
			switch tt.action {
			case ActionGrant:
				_, err = p.Grant(ctx(t), grantReq(s))
			case ActionRevoke:
				err = p.Revoke(ctx(t), approvals.RevokeRequest{Identity: "alice", Settings: s})
			case ActionCheck:
				_, err = p.Holds(ctx(t), approvals.HoldsRequest{Identity: "alice", Settings: s})
			case ActionList:
				_, err = p.Holders(ctx(t), approvals.HoldersRequest{Settings: s})
			}
			if err == nil || approvals.Retryable(err) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long, want a short excerpt", len(err.Error()))
			}
		})
	}
}

// TestErrorsHideSecrets checks that arguments and env values, which may
// hold secrets, appear in no error.
func TestErrorsHideSecrets(t *testing.T) {
	p, _ := newProvider(t)
	bin := script(t, "exit 3")
	s := raw(t, Settings{Command: []string{bin, "--token=arg-s3cret"}, Env: map[string]string{"API_TOKEN": "env-s3cret"}})
	_, err := p.Grant(ctx(t), grantReq(s))
	if err == nil {
		t.Fatal("Grant succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks a secret: %q", err)
	}
	if !strings.Contains(err.Error(), bin) {
		t.Errorf("error %q does not name the program", err)
	}
}

func TestProgramNotFoundIsPermanent(t *testing.T) {
	p, _ := newProvider(t)
	s := raw(t, Settings{Command: []string{filepath.Join(t.TempDir(), "missing")}})
	_, err := p.Grant(ctx(t), grantReq(s))
	if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "cannot run") {
		t.Fatalf("Grant = %v, want a permanent \"cannot run\"", err)
	}
}

func TestSettings(t *testing.T) {
	// The A11 block, as the policy loader decodes it from YAML.
	var s Settings
	err := yaml.Unmarshal([]byte(`
command: [/usr/local/bin/payroll-access, --tenant, acme]
timeout: 45s
env: {PAYROLL_URL: https://payroll.internal}
settings: {group: exporters}
`), &s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"command":["/usr/local/bin/payroll-access","--tenant","acme"],"timeout":"45s","env":{"PAYROLL_URL":"https://payroll.internal"},"settings":{"group":"exporters"}}`
	if string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	back, err := ParseSettings(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.timeout() != 45*time.Second || !slices.Equal(back.Command, s.Command) {
		t.Errorf("round trip = %+v", back)
	}
	if d, _ := ParseSettings(json.RawMessage(`{"command":["/bin/true"]}`)); d.timeout() != DefaultTimeout {
		t.Errorf("default timeout = %s, want %s", d.timeout(), DefaultTimeout)
	}

	bad := []struct{ raw, want string }{
		{``, "settings missing"},
		{`{}`, `"command" is required`},
		{`{"command": []}`, `"command" is required`},
		{`{"command": [""]}`, "empty program name"},
		{`{"command": ["/bin/x"], "timout": "1s"}`, `unknown field "timout"`},
		{`{"command": ["/bin/x"], "timeout": "soon"}`, "duration"},
		{`{"command": ["/bin/x"], "timeout": 30}`, "timeout"},
		{`{"command": ["/bin/x"], "timeout": "-1s"}`, "must be positive"},
		{`{"command": ["/bin/x"], "env": {"BAD-NAME": "x"}}`, "not a valid variable name"},
		{`{"command": ["/bin/x"]} {}`, "unexpected data"},
	}
	for _, tt := range bad {
		_, err := ParseSettings(json.RawMessage(tt.raw))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSettings(%s) = %v, want an error containing %q", tt.raw, err, tt.want)
		}
	}
	if err := yaml.Unmarshal([]byte("command: [/bin/x]\ntimeout: 30\n"), &Settings{}); err == nil {
		t.Error("YAML timeout: 30 (no unit) was accepted")
	}
}

func TestEmptyIdentityIsRefused(t *testing.T) {
	p, _ := newProvider(t)
	s := raw(t, Settings{Command: []string{"/bin/true"}})
	if _, err := p.Grant(ctx(t), approvals.GrantRequest{Settings: s}); err == nil {
		t.Error("Grant with no identity succeeded")
	}
	if _, err := p.Holds(ctx(t), approvals.HoldsRequest{Settings: s}); err == nil {
		t.Error("Holds with no identity succeeded")
	}
}
