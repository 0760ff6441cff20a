package salesforce

import "strings"

// The SOQL queries the provider makes, and only these (salesforcetest
// answers exactly these shapes). Every value enters a query through quote.

// userQuery finds the active user with a username.
func userQuery(username string) string {
	return "SELECT Id FROM User WHERE Username = " + quote(username) + " AND IsActive = true"
}

// targetQuery finds the permission set, or group, by API name. Permission
// sets owned by a profile are not assignable and are left out.
func targetQuery(s Settings) string {
	if s.PermissionSetGroup != "" {
		return "SELECT Id FROM PermissionSetGroup WHERE DeveloperName = " + quote(s.PermissionSetGroup)
	}
	return "SELECT Id FROM PermissionSet WHERE Name = " + quote(s.PermissionSet) + " AND IsOwnedByProfile = false"
}

// targetField is the relationship path of the assigned thing's API name.
func targetField(s Settings) (field, value string) {
	if s.PermissionSetGroup != "" {
		return "PermissionSetGroup.DeveloperName", s.PermissionSetGroup
	}
	return "PermissionSet.Name", s.PermissionSet
}

// assignmentQuery finds the assignments of the permission set (or group)
// to a user, active or not.
func assignmentQuery(s Settings, username string) string {
	field, value := targetField(s)
	return "SELECT Id FROM PermissionSetAssignment WHERE Assignee.Username = " + quote(username) + " AND " + field + " = " + quote(value)
}

// holdersQuery lists the assignees of the permission set (or group).
func holdersQuery(s Settings) string {
	field, value := targetField(s)
	return "SELECT Assignee.Username FROM PermissionSetAssignment WHERE " + field + " = " + quote(value) + " ORDER BY Assignee.Username"
}

// privilegesQuery lists a user's permission set assignments, the profile's
// own permission set among them, with the names that say where each comes
// from and the system permissions fields (PermissionsModifyAllData…).
func privilegesQuery(userID string, fields []string) string {
	var b strings.Builder
	b.WriteString("SELECT Assignee.Username, PermissionSet.Name, PermissionSet.Label, PermissionSet.IsOwnedByProfile, PermissionSet.Profile.Name, PermissionSetGroup.DeveloperName")
	for _, f := range fields {
		b.WriteString(", PermissionSet.")
		b.WriteString(f)
	}
	b.WriteString(" FROM PermissionSetAssignment WHERE AssigneeId = ")
	b.WriteString(quote(userID))
	return b.String()
}

// soqlEscaper escapes what SOQL string literals must escape: the quote and
// the backslash, and the control characters SOQL spells with a backslash.
var soqlEscaper = strings.NewReplacer(
	`\`, `\\`,
	`'`, `\'`,
	`"`, `\"`,
	"\n", `\n`,
	"\r", `\r`,
	"\t", `\t`,
	"\b", `\b`,
	"\f", `\f`,
)

// quote returns s as a SOQL string literal.
//
// Docs: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
func quote(s string) string {
	return "'" + soqlEscaper.Replace(s) + "'"
}
