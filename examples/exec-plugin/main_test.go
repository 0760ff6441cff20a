package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// call runs the plugin in-process with the request as standard input.
func call(t *testing.T, args []string, stdin string) (status int, out answer, stderr string) {
	t.Helper()
	var stdout, errb bytes.Buffer
	status = run(args, strings.NewReader(stdin), &stdout, &errb)
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("stdout %q is not one JSON object: %v", stdout.String(), err)
	}
	return status, out, errb.String()
}

func TestProtocol(t *testing.T) {
	t.Setenv(stateEnv, filepath.Join(t.TempDir(), "state.json"))
	req := func(action string) string {
		return `{"action":"` + action + `","request_id":"r1","identity":"alice","settings":{"group":"exporters"}}`
	}
	if s, out, _ := call(t, []string{"--tenant", "acme", "check"}, req("check")); s != exitOK || out.Held == nil || *out.Held {
		t.Fatalf("check before grant = %d %+v, want 0 and held false", s, out)
	}
	for range 2 { // idempotent
		if s, out, _ := call(t, []string{"grant"}, req("grant")); s != exitOK {
			t.Fatalf("grant = %d %+v", s, out)
		}
	}
	if s, out, _ := call(t, []string{"list"}, req("list")); s != exitOK || out.Holders == nil || strings.Join(*out.Holders, ",") != "alice" {
		t.Fatalf("list = %d %+v, want [alice]", s, out)
	}
	for range 2 { // idempotent
		if s, out, _ := call(t, []string{"revoke"}, req("revoke")); s != exitOK {
			t.Fatalf("revoke = %d %+v", s, out)
		}
	}
	if s, out, _ := call(t, []string{"check"}, req("check")); s != exitOK || *out.Held {
		t.Fatalf("check after revoke = %d %+v, want held false", s, out)
	}
}

func TestFailures(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	tests := []struct {
		name, state string
		args        []string
		stdin, want string
		status      int
	}{
		{"NoStateVariable", "", []string{"grant"}, `{"action":"grant","identity":"a","settings":{"group":"g"}}`, stateEnv + " is not set", exitPermanent},
		{"ActionMismatch", state, []string{"grant"}, `{"action":"revoke","identity":"a","settings":{"group":"g"}}`, "command line says", exitPermanent},
		{"NoGroup", state, []string{"grant"}, `{"action":"grant","identity":"a","settings":{}}`, `needs "group"`, exitPermanent},
		{"NoIdentity", state, []string{"grant"}, `{"action":"grant","settings":{"group":"g"}}`, "no identity", exitPermanent},
		{"UnknownAction", state, []string{"promote"}, `{"action":"promote","identity":"a","settings":{"group":"g"}}`, "unknown action", exitPermanent},
		{"NotJSON", state, []string{"grant"}, `hello`, "read the request", exitPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(stateEnv, tt.state)
			s, out, stderr := call(t, tt.args, tt.stdin)
			if s != tt.status || !strings.Contains(out.Message, tt.want) || !strings.Contains(stderr, tt.want) {
				t.Errorf("status %d, message %q, stderr %q; want %d and %q in both", s, out.Message, stderr, tt.status, tt.want)
			}
		})
	}
}

// TestBusyStateIsTransient holds the lock as another run would, and
// expects exit status 75.
func TestBusyStateIsTransient(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	t.Setenv(stateEnv, state)
	defer func(d time.Duration) { lockWait = d }(lockWait)
	lockWait = 50 * time.Millisecond
	f, err := os.OpenFile(state+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	s, out, _ := call(t, []string{"grant"}, `{"action":"grant","identity":"a","settings":{"group":"g"}}`)
	if s != exitTransient || !strings.Contains(out.Message, "busy") {
		t.Errorf("status %d, message %q; want 75 and busy", s, out.Message)
	}
}
