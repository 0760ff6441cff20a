package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/accessbot/accessbot/approvals"
)

var _ approvals.PrivilegeChecker = (*Provider)(nil)

// fieldAssignPermissionSets is the system permission granting and
// revoking need (with API Enabled, which every API call needs already).
const fieldAssignPermissionSets = "PermissionsAssignPermissionSets"

// broadPermissions are the system permissions that reach far beyond
// assigning permission sets: each is reported where the integration user
// holds it. what completes "whoever holds the bot's credentials can …".
var broadPermissions = []struct {
	field, label, what string
}{
	{"PermissionsModifyAllData", "Modify All Data", "read, change and delete every record in the org, whatever its sharing"},
	{"PermissionsViewAllData", "View All Data", "read every record in the org, whatever its sharing"},
	{"PermissionsManageUsers", "Manage Users", "create users, reset passwords, and give any user, itself included, any profile or permission set"},
	{"PermissionsManageInternalUsers", "Manage Internal Users", "create and edit internal users, reset their passwords and change their profiles"},
	{"PermissionsManageProfilesPermissionsets", "Manage Profiles and Permission Sets", "change what any profile or permission set allows, its own included"},
	{"PermissionsCustomizeApplication", "Customize Application", "change the org's setup: objects, fields, layouts, flows and validation rules"},
	{"PermissionsAuthorApex", "Author Apex", "write and run Apex, which runs in system mode and can read and change any record"},
	{"PermissionsModifyMetadata", "Modify Metadata Through Metadata API Functions", "deploy changes to the org's metadata and setup"},
}

// needs says what granting and revoking need instead, at the end of each
// sentence.
const needs = "granting needs only API Enabled and Assign Permission Sets"

// assignmentPrivileges is a record of privilegesQuery.
type assignmentPrivileges struct {
	Assignee *struct {
		Username string `json:"Username"`
	} `json:"Assignee"`
	PermissionSet json.RawMessage `json:"PermissionSet"`
	Group         *struct {
		DeveloperName string `json:"DeveloperName"`
	} `json:"PermissionSetGroup"`
}

// permissionSetPrivileges is the PermissionSet of an assignmentPrivileges,
// without its permission fields.
type permissionSetPrivileges struct {
	Name             string `json:"Name"`
	Label            string `json:"Label"`
	IsOwnedByProfile bool   `json:"IsOwnedByProfile"`
	Profile          *struct {
		Name string `json:"Name"`
	} `json:"Profile"`
}

// ExcessPrivileges reports the system permissions of the integration user
// (the user the access token acts as, named by the token's identity URL)
// that reach far beyond assigning permission sets: Modify All Data, View
// All Data, Manage Users, Manage Internal Users, Manage Profiles and
// Permission Sets, Customize Application, Author Apex and Modify Metadata.
// It reads them from the user's PermissionSetAssignment records, which
// include the profile's own permission set and the aggregate permission
// set of each group, and says for each permission where it comes from.
//
// A user without Assign Permission Sets has no excess for it, but every
// grant and revoke will fail. That is reported as one more line (when a
// resource names a permission set), first, rather than as an error: an
// error reads as "could not check" and would hide the other lines, while
// a line is shown, and stops a strict start, all the same. A token whose
// identity URL is malformed is an error: the integration user is unknown.
//
// API docs: https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_permissionset.htm
func (p *Provider) ExcessPrivileges(ctx context.Context, settings []json.RawMessage) ([]string, error) {
	for _, raw := range settings {
		if _, err := ParseSettings(raw); err != nil {
			return nil, err
		}
	}
	tok, err := p.auth.get(ctx)
	if err != nil {
		return nil, p.fail(err)
	}
	userID, err := tok.userID()
	if err != nil {
		return nil, p.fail(err)
	}
	fields := []string{fieldAssignPermissionSets}
	for _, bp := range broadPermissions {
		fields = append(fields, bp.field)
	}
	recs, err := p.query(ctx, privilegesQuery(userID, fields))
	if err != nil {
		return nil, p.fail(err)
	}

	who := "the integration user " + userID
	if p.auth.username != "" {
		who = "the integration user " + p.auth.username
	}
	// Where each assignment's permissions come from, the profile first.
	type holding struct {
		source  string
		profile bool
		held    func(field string) bool
	}
	var holdings []holding
	for _, r := range recs {
		var a assignmentPrivileges
		var ps permissionSetPrivileges
		var perms map[string]json.RawMessage
		if json.Unmarshal(r, &a) != nil || json.Unmarshal(a.PermissionSet, &ps) != nil || json.Unmarshal(a.PermissionSet, &perms) != nil {
			return nil, p.fail(&apiError{msg: "GET /query: cannot decode a permission set assignment in the answer"})
		}
		if a.Assignee != nil && a.Assignee.Username != "" {
			who = "the integration user " + a.Assignee.Username
		}
		holdings = append(holdings, holding{sourceOf(a, ps), ps.IsOwnedByProfile,
			func(field string) bool { return string(perms[field]) == "true" }})
	}
	slices.SortStableFunc(holdings, func(a, b holding) int {
		if a.profile != b.profile {
			if a.profile {
				return -1
			}
			return 1
		}
		return strings.Compare(a.source, b.source)
	})

	var out []string
	if len(settings) > 0 && !slices.ContainsFunc(holdings, func(h holding) bool { return h.held(fieldAssignPermissionSets) }) {
		out = append(out, fmt.Sprintf("%s does not have Assign Permission Sets (from its profile or any permission set), so every grant and revoke will fail: give it a permission set with Assign Permission Sets and API Enabled", who))
	}
	for _, bp := range broadPermissions {
		var sources []string
		for _, h := range holdings {
			if h.held(bp.field) && !slices.Contains(sources, h.source) {
				sources = append(sources, h.source)
			}
		}
		if len(sources) > 0 {
			out = append(out, fmt.Sprintf("%s has %s through %s: whoever holds the bot's credentials can %s; %s",
				who, bp.label, joinAnd(sources), bp.what, needs))
		}
	}
	return out, nil
}

// sourceOf says where an assignment's permissions come from: "its profile
// System Administrator", "the permission set group Support_Agents" or
// "the permission set Payments Admin (Payments_Admin)".
func sourceOf(a assignmentPrivileges, ps permissionSetPrivileges) string {
	switch {
	case ps.IsOwnedByProfile && ps.Profile != nil && ps.Profile.Name != "":
		return "its profile " + ps.Profile.Name
	case ps.IsOwnedByProfile:
		return "its profile"
	case a.Group != nil && a.Group.DeveloperName != "":
		return "the permission set group " + a.Group.DeveloperName
	case ps.Label != "" && ps.Label != ps.Name:
		return fmt.Sprintf("the permission set %s (%s)", ps.Label, ps.Name)
	}
	return "the permission set " + ps.Name
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(list []string) string {
	if len(list) <= 1 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}
