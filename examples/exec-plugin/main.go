// Command exec-plugin is an example accessbot exec plugin (DESIGN.md A11).
// It keeps group memberships in a JSON state file, named by the
// EXAMPLE_PLUGIN_STATE variable, and grants membership of the group named
// by the resource's settings:
//
//	exec:
//	  command: [/usr/local/bin/exec-plugin]
//	  env: {EXAMPLE_PLUGIN_STATE: /var/lib/accessbot/example-state.json}
//	  settings: {group: exporters}
//
// Replace load, save and the group edits with calls to your system (an HR
// tool, payroll, a SaaS admin API) and keep the rest: the protocol, the
// idempotent grant and revoke, and the exit statuses. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Exit statuses of the protocol.
const (
	exitOK        = 0
	exitPermanent = 1  // anything but 0 and 75: do not retry
	exitTransient = 75 // EX_TEMPFAIL: accessbot retries with backoff
)

// stateEnv names the variable holding the state file's path; the policy's
// exec.env sets it (a plugin gets no other variable but PATH).
const stateEnv = "EXAMPLE_PLUGIN_STATE"

// lockWait is how long to wait for another run holding the state file;
// after that the run fails transiently and accessbot retries.
var lockWait = 5 * time.Second

// request is what accessbot writes on standard input. Fields a plugin does
// not need can be left out; new fields may appear.
type request struct {
	Action          string     `json:"action"` // grant, revoke, check or list
	RequestID       string     `json:"request_id"`
	Resource        string     `json:"resource"`
	Identity        string     `json:"identity"` // empty for list
	Requester       string     `json:"requester"`
	Approvers       []string   `json:"approvers"`
	Reason          string     `json:"reason"`
	DurationSeconds int64      `json:"duration_seconds"`
	ExpiresAt       *time.Time `json:"expires_at"` // grant only
	Settings        struct {
		Group string `json:"group"`
	} `json:"settings"`
}

// answer is what the plugin writes on standard output: {"held": …} for
// check, {"holders": […]} for list, {} or {"message": "…"} otherwise.
type answer struct {
	Message string    `json:"message,omitempty"`
	Held    *bool     `json:"held,omitempty"`
	Holders *[]string `json:"holders,omitempty"`
}

// state is the content of the state file: group -> members, sorted.
type state struct {
	Groups map[string][]string `json:"groups"`
}

// failure is an error with the exit status it calls for.
type failure struct {
	status int
	msg    string
}

func (f *failure) Error() string { return f.msg }

func permanent(format string, args ...any) error {
	return &failure{exitPermanent, fmt.Sprintf(format, args...)}
}

func transient(format string, args ...any) error {
	return &failure{exitTransient, fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole plugin; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a, err := handle(args, stdin, stderr)
	status := exitOK
	if err != nil {
		// Standard error goes to accessbot's log; a message on standard
		// output goes into the error accessbot reports.
		fmt.Fprintln(stderr, "exec-plugin:", err)
		a = answer{Message: err.Error()}
		status = exitPermanent
		var f *failure
		if errors.As(err, &f) {
			status = f.status
		}
	}
	if err := json.NewEncoder(stdout).Encode(a); err != nil {
		fmt.Fprintln(stderr, "exec-plugin: write answer:", err)
		return exitPermanent
	}
	return status
}

// handle carries out one action.
func handle(args []string, stdin io.Reader, stderr io.Writer) (answer, error) {
	if len(args) == 0 {
		return answer{}, permanent("usage: exec-plugin [ARGS…] grant|revoke|check|list, with the request as JSON on standard input")
	}
	action := args[len(args)-1] // accessbot appends the action to the command
	var req request
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		return answer{}, permanent("read the request: %v", err)
	}
	if req.Action != action {
		return answer{}, permanent("the request says %q but the command line says %q", req.Action, action)
	}
	group := req.Settings.Group
	if group == "" {
		return answer{}, permanent(`the resource's exec.settings needs "group"`)
	}
	if action != "list" && req.Identity == "" {
		return answer{}, permanent("the request has no identity")
	}
	path := os.Getenv(stateEnv)
	if path == "" {
		return answer{}, permanent("%s is not set: add it to the resource's exec.env", stateEnv)
	}

	unlock, err := lock(path + ".lock")
	if err != nil {
		return answer{}, err
	}
	defer unlock()
	st, err := load(path)
	if err != nil {
		return answer{}, err
	}
	members := st.Groups[group]
	held := slices.Contains(members, req.Identity)

	switch action {
	case "check":
		return answer{Held: &held}, nil
	case "list":
		holders := slices.Clone(members)
		if holders == nil {
			holders = []string{}
		}
		return answer{Holders: &holders}, nil
	case "grant":
		if held {
			// Granting access already there succeeds: grants are retried.
			return answer{Message: fmt.Sprintf("%s was already in %s", req.Identity, group)}, nil
		}
		members = append(members, req.Identity)
		slices.Sort(members)
		st.Groups[group] = members
		if err := save(path, st); err != nil {
			return answer{}, err
		}
		until := "no expiry given"
		if req.ExpiresAt != nil {
			until = "until " + req.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(stderr, "added %s to %s for request %q (%s)\n", req.Identity, group, req.RequestID, until)
		return answer{Message: fmt.Sprintf("%s added to %s", req.Identity, group)}, nil
	case "revoke":
		if !held {
			// Revoking access that is not there succeeds: revokes are
			// retried until they do.
			return answer{}, nil
		}
		st.Groups[group] = slices.DeleteFunc(members, func(m string) bool { return m == req.Identity })
		if err := save(path, st); err != nil {
			return answer{}, err
		}
		fmt.Fprintf(stderr, "removed %s from %s for request %q\n", req.Identity, group, req.RequestID)
		return answer{}, nil
	}
	return answer{}, permanent("unknown action %q: want grant, revoke, check or list", action)
}

// lock takes an exclusive lock on path, so that concurrent runs do not
// lose each other's changes. A lock still held after lockWait is a
// transient failure.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, transient("open the lock file: %v", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, transient("the state file is busy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load reads the state file; a missing file is an empty state.
func load(path string) (*state, error) {
	st := &state{Groups: map[string][]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, transient("read the state file: %v", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, permanent("the state file %s is corrupt: %v", path, err)
	}
	if st.Groups == nil {
		st.Groups = map[string][]string{}
	}
	return st, nil
}

// save replaces the state file atomically: a crash leaves the old or the
// new state, never half of one.
func save(path string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return permanent("encode the state: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return transient("write the state file: %v", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return transient("write the state file: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return transient("write the state file: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return transient("write the state file: %v", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return transient("replace the state file: %v", err)
	}
	return nil
}
