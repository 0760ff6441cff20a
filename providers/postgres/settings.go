package postgres

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxIdentifierLen is PostgreSQL's NAMEDATALEN-1: the server silently
// truncates longer identifiers, which could make a long name mean another
// role.
const maxIdentifierLen = 63

// Settings is a resource's postgres policy block.
type Settings struct {
	// Role is the role the identity becomes a direct member of, spelled
	// exactly as in pg_roles (case matters: it is always quoted).
	Role string `yaml:"role" json:"role"`
}

// Validate checks the settings. Its messages name the field to fix.
func (s Settings) Validate() error {
	if s.Role == "" {
		return errors.New(`postgres: "role" is required: the role to grant, for example readonly`)
	}
	if err := checkName(s.Role); err != nil {
		return fmt.Errorf(`postgres: "role" %q %w`, s.Role, err)
	}
	return nil
}

// ParseSettings decodes a resource's postgres block strictly (unknown
// fields are errors: a typo must not silently change what is granted) and
// validates it.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return s, errors.New(`postgres: settings missing: the resource needs a "postgres" block with "role"`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("postgres: settings: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Settings{}, errors.New("postgres: settings: unexpected data after the settings object")
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// checkName reports why s cannot be used as a role name, or nil. Any other
// character is fine: names are always quoted.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > maxIdentifierLen:
		return fmt.Errorf("is longer than %d bytes (PostgreSQL would truncate it)", maxIdentifierLen)
	case strings.ContainsRune(s, 0):
		return errors.New("contains a NUL byte")
	case strings.TrimSpace(s) != s:
		return errors.New("has leading or trailing spaces")
	case strings.EqualFold(s, "public") || strings.EqualFold(s, "none"):
		return errors.New("is reserved by PostgreSQL")
	}
	return nil
}

// checkIdentity reports why identity cannot be granted a role, or nil.
func checkIdentity(identity string) error {
	if err := checkName(identity); err != nil {
		return fmt.Errorf("postgres: identity %q %w", identity, err)
	}
	if strings.HasPrefix(identity, "pg_") {
		return fmt.Errorf("postgres: identity %q: names starting with pg_ are PostgreSQL's predefined roles, not accounts", identity)
	}
	return nil
}
