package salesforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Settings is a resource's salesforce policy block. Exactly one of
// PermissionSet and PermissionSetGroup is set, each by its API name (the
// Name of a PermissionSet, the DeveloperName of a PermissionSetGroup, with
// the namespace prefix for a managed package: ns__Name), not its label.
type Settings struct {
	PermissionSet      string `yaml:"permission_set" json:"permission_set,omitempty"`
	PermissionSetGroup string `yaml:"permission_set_group" json:"permission_set_group,omitempty"`
}

// apiName matches Salesforce API names (letters, digits, underscores,
// starting with a letter, at most 80 characters, with an optional
// namespace prefix). Checking it keeps a policy typo from turning into a
// query that matches something else.
var apiName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

// Validate checks the settings. Its messages name the field to fix.
func (s Settings) Validate() error {
	switch {
	case s.PermissionSet == "" && s.PermissionSetGroup == "":
		return errors.New(`salesforce: set "permission_set" or "permission_set_group" (the API name)`)
	case s.PermissionSet != "" && s.PermissionSetGroup != "":
		return errors.New(`salesforce: set only one of "permission_set" or "permission_set_group", not both`)
	case s.PermissionSet != "" && !apiName.MatchString(s.PermissionSet):
		return fmt.Errorf(`salesforce: "permission_set" %q is not an API name: use the permission set's API Name (like Payments_Admin), not its label`, s.PermissionSet)
	case s.PermissionSetGroup != "" && !apiName.MatchString(s.PermissionSetGroup):
		return fmt.Errorf(`salesforce: "permission_set_group" %q is not an API name: use the group's API Name (like Payments_Admins), not its label`, s.PermissionSetGroup)
	}
	return nil
}

// String describes the access, for messages: "permission set X" or
// "permission set group X".
func (s Settings) String() string {
	if s.PermissionSetGroup != "" {
		return "permission set group " + s.PermissionSetGroup
	}
	return "permission set " + s.PermissionSet
}

// ParseSettings decodes a resource's salesforce block strictly (unknown
// fields are errors: a typo must not silently change what is granted) and
// validates it.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return s, errors.New(`salesforce: settings missing: the resource needs a "salesforce" block with "permission_set" or "permission_set_group"`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("salesforce: settings: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Settings{}, errors.New("salesforce: settings: unexpected data after the settings object")
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}
