package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Repository permissions GitHub accepts when adding a collaborator, from
// least to most powerful.
const (
	PermissionPull     = "pull"
	PermissionTriage   = "triage"
	PermissionPush     = "push"
	PermissionMaintain = "maintain"
	PermissionAdmin    = "admin"
)

// permissions lists the repository permissions in increasing order of power.
var permissions = []string{PermissionPull, PermissionTriage, PermissionPush, PermissionMaintain, PermissionAdmin}

// permissionRank orders permissions: 0 is no access. It also knows the
// names GitHub uses elsewhere for the same levels: role_name and the legacy
// "permission" field ("read", "write"), and invitation permissions.
var permissionRank = map[string]int{
	"none":             0,
	"":                 0,
	PermissionPull:     1,
	"read":             1,
	PermissionTriage:   2,
	PermissionPush:     3,
	"write":            3,
	PermissionMaintain: 4,
	PermissionAdmin:    5,
}

// rank returns the rank of a permission name and whether the name is known.
func rank(perm string) (int, bool) {
	r, ok := permissionRank[strings.ToLower(perm)]
	return r, ok
}

// Settings is a resource's github policy block. Exactly one of Team and
// Repo is set: Team grants membership (role member) in the organization's
// team with that slug; Repo grants Permission on the organization's
// repository as a direct collaborator.
type Settings struct {
	// Org is the organization (or, for Repo, the user) owning the team or
	// repository.
	Org string `yaml:"org" json:"org,omitempty"`
	// Team is the team's slug, as in its URL (payments-admins), not its
	// display name.
	Team string `yaml:"team" json:"team,omitempty"`
	// Repo is the repository name, without the owner.
	Repo string `yaml:"repo" json:"repo,omitempty"`
	// Permission is required with Repo: pull, triage, push, maintain or admin.
	Permission string `yaml:"permission" json:"permission,omitempty"`
}

// name matches the names GitHub allows for organizations, team slugs,
// repositories and logins closely enough to keep every one of them a single,
// harmless URL path segment.
var name = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$`)

// validName reports whether s can be used as an org, team, repo or login.
func validName(s string) bool {
	return name.MatchString(s) && s != "." && s != ".."
}

// Validate checks the settings. Its messages name the field to fix.
func (s Settings) Validate() error {
	var errs []error
	switch {
	case s.Org == "":
		errs = append(errs, errors.New(`github: "org" is required`))
	case !validName(s.Org):
		errs = append(errs, fmt.Errorf(`github: "org" %q is not a valid organization name`, s.Org))
	}
	switch {
	case s.Team == "" && s.Repo == "":
		errs = append(errs, errors.New(`github: set "team" (team membership) or "repo" (repository collaborator)`))
	case s.Team != "" && s.Repo != "":
		errs = append(errs, errors.New(`github: set only one of "team" or "repo", not both`))
	case s.Team != "":
		if !validName(s.Team) {
			errs = append(errs, fmt.Errorf(`github: "team" %q is not a team slug: use the name from the team's URL, like payments-admins`, s.Team))
		}
		if s.Permission != "" {
			errs = append(errs, errors.New(`github: "permission" applies only with "repo"; a team grant is membership with role member`))
		}
	default: // Repo
		if !validName(s.Repo) {
			errs = append(errs, fmt.Errorf(`github: "repo" %q is not a valid repository name (give the name without the owner)`, s.Repo))
		}
		if s.Permission == "" {
			errs = append(errs, fmt.Errorf(`github: "permission" is required with "repo": one of %s`, strings.Join(permissions, ", ")))
		} else if !isPermission(s.Permission) {
			errs = append(errs, fmt.Errorf(`github: "permission" %q is not one of %s`, s.Permission, strings.Join(permissions, ", ")))
		}
	}
	return errors.Join(errs...)
}

// isPermission reports whether p is one of the Permission constants (exact
// spelling).
func isPermission(p string) bool {
	for _, q := range permissions {
		if p == q {
			return true
		}
	}
	return false
}

// String describes the access, for messages: "team acme/payments-admins" or
// "push on acme/payments".
func (s Settings) String() string {
	if s.Team != "" {
		return "team " + s.Org + "/" + s.Team
	}
	return s.Permission + " on " + s.Org + "/" + s.Repo
}

// ParseSettings decodes a resource's github block strictly (unknown fields
// are errors: a typo must not silently change what is granted) and
// validates it.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return s, errors.New(`github: settings missing: the resource needs a "github" block with "org" and "team" or "repo"`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("github: settings: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Settings{}, errors.New("github: settings: unexpected data after the settings object")
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}
