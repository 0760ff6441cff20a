package exec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DefaultTimeout is how long a program may run when the policy sets no
// timeout.
const DefaultTimeout = 30 * time.Second

// Settings is a resource's exec policy block.
type Settings struct {
	// Command is the program and its arguments; the action is appended.
	// An absolute path is best: a bare name is looked up in accessbot's
	// PATH.
	Command []string `yaml:"command" json:"command"`
	// Timeout bounds one run of the program; DefaultTimeout when zero.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Env holds the only variables the program gets besides PATH (a PATH
	// here replaces accessbot's).
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Settings is passed through to the program as the "settings" object.
	Settings map[string]any `yaml:"settings" json:"settings,omitempty"`
}

// Duration is a time.Duration written as Go duration text ("30s",
// "1m30s") in YAML and JSON.
type Duration time.Duration

// MarshalText writes d as Go duration text.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(time.Duration(d).String()), nil
}

// UnmarshalText parses Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("expected a duration such as 30s or 1m30s, got %q", b)
	}
	*d = Duration(v)
	return nil
}

// envName matches the environment variable names a policy may set.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the settings. Its messages name the field to fix.
func (s Settings) Validate() error {
	var errs []error
	switch {
	case len(s.Command) == 0:
		errs = append(errs, errors.New(`exec: "command" is required: the program and its arguments, like [/usr/local/bin/payroll-access, --tenant, acme]`))
	case strings.TrimSpace(s.Command[0]) == "":
		errs = append(errs, errors.New(`exec: "command" starts with an empty program name`))
	}
	for i, arg := range s.Command {
		if strings.ContainsRune(arg, 0) {
			errs = append(errs, fmt.Errorf(`exec: "command[%d]" contains a NUL byte`, i))
		}
	}
	if s.Timeout < 0 {
		errs = append(errs, fmt.Errorf(`exec: "timeout" must be positive, got %s`, time.Duration(s.Timeout)))
	}
	names := make([]string, 0, len(s.Env))
	for k := range s.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !envName.MatchString(k) {
			errs = append(errs, fmt.Errorf(`exec: "env" key %q is not a valid variable name (letters, digits and _, not starting with a digit)`, k))
		}
		if strings.ContainsRune(s.Env[k], 0) {
			errs = append(errs, fmt.Errorf(`exec: "env.%s" contains a NUL byte`, k))
		}
	}
	if _, err := json.Marshal(s.Settings); err != nil {
		errs = append(errs, fmt.Errorf(`exec: "settings" cannot be passed to the program as JSON: %v`, err))
	}
	return errors.Join(errs...)
}

// timeout returns how long one run may take.
func (s Settings) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(s.Timeout)
}

// ParseSettings decodes a resource's exec block strictly (unknown fields
// are errors: a typo must not silently change what runs) and validates it.
// Numbers in settings keep their exact text.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return s, errors.New(`exec: settings missing: the resource needs an "exec" block with "command"`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("exec: settings: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Settings{}, errors.New("exec: settings: unexpected data after the settings object")
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}
