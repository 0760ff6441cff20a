package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// The actions of the protocol, appended to the command.
const (
	ActionGrant  = "grant"
	ActionRevoke = "revoke"
	ActionCheck  = "check"
	ActionList   = "list"
)

// ExitTransient is the exit status (EX_TEMPFAIL) by which a program reports
// a failure worth retrying.
const ExitTransient = 75

const (
	// defaultPATH is passed when accessbot itself has no PATH.
	defaultPATH = "/usr/local/bin:/usr/bin:/bin"
	// maxStdout bounds the answer read from a program.
	maxStdout = 1 << 20
	// maxExcerpt bounds the excerpt of an answer or message in an error.
	maxExcerpt = 200
	// waitDelay is how long to wait for the output pipes to close once the
	// program has exited or been killed (a descendant that left the
	// process group may hold them open).
	waitDelay = 2 * time.Second
)

// Provider runs exec plugins. It is safe for concurrent use.
type Provider struct {
	log *slog.Logger
	// path is the PATH given to programs: accessbot's own.
	path string
}

var (
	_ approvals.Provider     = (*Provider)(nil)
	_ approvals.HolderLister = (*Provider)(nil)
)

// New returns a provider that logs programs' standard error to logger
// (slog.Default() if nil) and passes them accessbot's PATH.
func New(logger *slog.Logger) *Provider {
	if logger == nil {
		logger = slog.Default()
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPATH
	}
	return &Provider{log: logger, path: path}
}

// input is the JSON object written to a program's standard input
// (DESIGN.md A11). Every key is always present.
type input struct {
	Action          string         `json:"action"`
	RequestID       string         `json:"request_id"`
	Resource        string         `json:"resource"`
	Identity        string         `json:"identity"`
	Requester       string         `json:"requester"`
	Approvers       []string       `json:"approvers"`
	Reason          string         `json:"reason"`
	DurationSeconds int64          `json:"duration_seconds"`
	ExpiresAt       *string        `json:"expires_at"`
	Settings        map[string]any `json:"settings"`
}

// answer is the JSON object a program writes to standard output; which
// field is required depends on the action.
type answer struct {
	Message string    `json:"message"`
	Held    *bool     `json:"held"`
	Holders *[]string `json:"holders"`
}

// Grant runs `command… grant` for req. A grant of access already there
// must succeed (the program's duty); the program's message, if any, is
// returned for the requester.
//
// Errors: invalid settings, an empty identity, a program that cannot be
// started, exits with a status other than 0 or 75, or answers with
// anything but one JSON object are permanent; exit status 75, a timeout and
// a context that ends first are *approvals.TransientError. A program that
// exits 0 with an unreadable answer may have granted: drift detection
// (list) reports such access.
func (p *Provider) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	in := p.input(ActionGrant, req.RequestID, req.Resource, req.Identity, s)
	in.describe(req.Requester, req.Approvers, req.Reason, req.Duration, req.ExpiresAt)
	a, err := p.run(ctx, s, in)
	if err != nil {
		return approvals.GrantResult{}, err
	}
	return approvals.GrantResult{Message: a.Message}, nil
}

// Revoke runs `command… revoke` for req. A revoke of access that is not
// there must succeed (the program's duty).
//
// Errors: as Grant.
func (p *Provider) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return err
	}
	in := p.input(ActionRevoke, req.RequestID, req.Resource, req.Identity, s)
	in.describe(req.Requester, req.Approvers, req.Reason, req.Duration, req.ExpiresAt)
	a, err := p.run(ctx, s, in)
	if err == nil && a.Message != "" {
		p.log.Info("exec plugin revoked", "request_id", req.RequestID, "resource", req.Resource, "message", a.Message)
	}
	return err
}

// Holds runs `command… check` and returns its "held".
//
// Errors: as Grant; an answer without a boolean "held" is permanent.
func (p *Provider) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	s, err := parse(req.Settings, req.Identity)
	if err != nil {
		return false, err
	}
	in := p.input(ActionCheck, req.RequestID, req.Resource, req.Identity, s)
	in.describe(req.Requester, req.Approvers, req.Reason, req.Duration, time.Time{})
	a, err := p.run(ctx, s, in)
	if err != nil {
		return false, err
	}
	return *a.Held, nil
}

// Holders runs `command… list` and returns its "holders", sorted.
//
// Errors: as Grant; an answer without a "holders" list of non-empty
// strings is permanent.
func (p *Provider) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return nil, err
	}
	a, err := p.run(ctx, s, p.input(ActionList, "", req.Resource, "", s))
	if err != nil {
		return nil, err
	}
	holders := slices.Clone(*a.Holders)
	sort.Strings(holders)
	return holders, nil
}

// parse parses the settings and checks the identity.
func parse(raw json.RawMessage, identity string) (Settings, error) {
	s, err := ParseSettings(raw)
	if err != nil {
		return Settings{}, err
	}
	if strings.TrimSpace(identity) == "" {
		return Settings{}, errors.New("exec: the identity is empty")
	}
	return s, nil
}

// input returns the standard input of an action, with every key present.
func (p *Provider) input(action, requestID, resource, identity string, s Settings) input {
	settings := s.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	return input{
		Action:    action,
		RequestID: requestID,
		Resource:  resource,
		Identity:  identity,
		Approvers: []string{},
		Settings:  settings,
	}
}

// describe fills in the request an action is for. A revoke or check made
// for no request (drift detection) leaves them empty.
func (in *input) describe(requester string, approvers []string, reason string, d time.Duration, expiresAt time.Time) {
	in.Requester = requester
	in.Approvers = append(in.Approvers, approvers...)
	in.Reason = reason
	in.DurationSeconds = int64(d / time.Second)
	if !expiresAt.IsZero() {
		at := expiresAt.UTC().Format(time.RFC3339)
		in.ExpiresAt = &at
	}
}

// run runs the program for in.Action and returns its checked answer.
func (p *Provider) run(ctx context.Context, s Settings, in input) (answer, error) {
	program := s.Command[0]
	what := fmt.Sprintf("exec: %s %s", program, in.Action)
	if err := ctx.Err(); err != nil {
		return answer{}, approvals.Transient(fmt.Errorf("%s: not started: %w", what, err))
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		return answer{}, fmt.Errorf("%s: encode the request: %w", what, err)
	}
	log := p.log.With("provider", "exec", "program", program, "action", in.Action, "request_id", in.RequestID, "resource", in.Resource)

	timeout := s.timeout()
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := osexec.CommandContext(runCtx, program, append(slices.Clone(s.Command[1:]), in.Action)...)
	cmd.Env = p.environ(s)
	cmd.Stdin = bytes.NewReader(append(stdin, '\n'))
	stdout := &boundedBuffer{max: maxStdout}
	cmd.Stdout = stdout
	stderr := &lineLogger{log: log}
	cmd.Stderr = stderr
	// A group of its own, so that a timeout kills the program's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay

	start := time.Now()
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = killGroup(cmd.Process.Pid) // whatever it left behind
	}
	stderr.flush()
	elapsed := time.Since(start)

	out, truncated := stdout.result()
	switch {
	case runErr == nil || errors.Is(runErr, osexec.ErrWaitDelay):
		// It exited 0, even if its time ran out just after.
	case runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return answer{}, approvals.Transient(fmt.Errorf("%s: timed out after %s and was killed", what, timeout))
	case ctx.Err() != nil:
		return answer{}, approvals.Transient(fmt.Errorf("%s: did not finish: %w", what, ctx.Err()))
	default:
		var ee *osexec.ExitError
		if !errors.As(runErr, &ee) {
			return answer{}, fmt.Errorf("%s: cannot run the program: %w", what, runErr)
		}
		err := fmt.Errorf("%s: %s%s (its standard error is in the log)", what, exitText(ee), failureMessage(out))
		if ee.ExitCode() == ExitTransient {
			return answer{}, approvals.Transient(err)
		}
		return answer{}, err
	}
	if errors.Is(runErr, osexec.ErrWaitDelay) {
		log.Warn("exec plugin exited but something it started kept its output open; killed its process group")
	}
	log.Debug("exec plugin done", "elapsed", elapsed)
	if truncated {
		return answer{}, fmt.Errorf("%s: exited 0 but its answer is longer than %d bytes; check whether it took effect", what, maxStdout)
	}
	a, err := decodeAnswer(in.Action, out)
	if err != nil {
		if in.Action == ActionGrant || in.Action == ActionRevoke {
			// It said success by its exit status: whether it did the work
			// is unknown.
			return answer{}, fmt.Errorf("%s: exited 0 but %w; check whether it took effect", what, err)
		}
		return answer{}, fmt.Errorf("%s: exited 0 but %w", what, err)
	}
	return a, nil
}

// environ returns the program's whole environment: PATH and the policy's
// env, sorted.
func (p *Provider) environ(s Settings) []string {
	vars := map[string]string{"PATH": p.path}
	for k, v := range s.Env {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// killGroup kills the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// exitText describes how a program ended.
func exitText(ee *osexec.ExitError) string {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ee.ExitCode())
}

// failureMessage returns ": message" when a failing program explained
// itself with {"message": "…"} on standard output, else "".
func failureMessage(out []byte) string {
	var a struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(out, &a) != nil || strings.TrimSpace(a.Message) == "" {
		return ""
	}
	return ": " + excerpt([]byte(a.Message))
}

// decodeAnswer reads the one JSON object a program wrote and checks that
// it has what action needs.
func decodeAnswer(action string, out []byte) (answer, error) {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) == 0 {
		return answer{}, fmt.Errorf("wrote no answer: it must print one JSON object on standard output%s", expected(action))
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if trimmed[0] != '{' {
		return answer{}, fmt.Errorf("its answer is not a JSON object%s; it wrote %s", expected(action), excerpt(trimmed))
	}
	if err := dec.Decode(&a); err != nil {
		return answer{}, fmt.Errorf("its answer is not valid%s (%v); it wrote %s", expected(action), err, excerpt(trimmed))
	}
	if dec.InputOffset() != int64(len(trimmed)) {
		return answer{}, fmt.Errorf("it wrote more than one JSON object; it wrote %s", excerpt(trimmed))
	}
	switch action {
	case ActionCheck:
		if a.Held == nil {
			return answer{}, fmt.Errorf(`its answer has no boolean "held"%s; it wrote %s`, expected(action), excerpt(trimmed))
		}
	case ActionList:
		if a.Holders == nil {
			return answer{}, fmt.Errorf(`its answer has no "holders" list%s; it wrote %s`, expected(action), excerpt(trimmed))
		}
		for i, h := range *a.Holders {
			if strings.TrimSpace(h) == "" {
				return answer{}, fmt.Errorf(`"holders[%d]" in its answer is empty`, i)
			}
		}
	}
	return a, nil
}

// expected says what action's answer looks like, for messages.
func expected(action string) string {
	switch action {
	case ActionCheck:
		return ` such as {"held": true}`
	case ActionList:
		return ` such as {"holders": ["alice"]}`
	}
	return ` such as {} or {"message": "…"}`
}

// excerpt quotes the start of b, cut at maxExcerpt bytes.
func excerpt(b []byte) string {
	if len(b) <= maxExcerpt {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q… (%d bytes)", b[:maxExcerpt], len(b))
}
