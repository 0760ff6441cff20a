package salesforce_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/salesforce"
	"github.com/accessbot/accessbot/providers/salesforce/salesforcetest"
)

var _ approvals.PrivilegeChecker = (*salesforce.Provider)(nil)

const integration = "integration@acme.example"

// leastPrivilege gives the integration user what granting needs, through
// a permission set, as the README tells an administrator to.
func leastPrivilege(srv *salesforcetest.Server) {
	srv.AddPermissionSet("AccessBot_Integration")
	srv.AddPermissions("AccessBot_Integration", false,
		"PermissionsApiEnabled", "PermissionsAssignPermissionSets", "PermissionsViewSetup")
	srv.Assign(integration, "AccessBot_Integration", false)
}

func excess(t *testing.T, p *salesforce.Provider, settings ...json.RawMessage) []string {
	t.Helper()
	got, err := p.ExcessPrivileges(context.Background(), settings)
	if err != nil {
		t.Fatalf("ExcessPrivileges: %v", err)
	}
	return got
}

// TestExcessPrivilegesLeastPrivilege checks that a user with only API
// Enabled and Assign Permission Sets reports nothing, with either flow.
func TestExcessPrivilegesLeastPrivilege(t *testing.T) {
	for _, jwt := range []bool{false, true} {
		srv, p := setup(t, jwt)
		leastPrivilege(srv)
		if got := excess(t, p, permSet("Payments_Admin"), group("Support_Agents")); len(got) != 0 {
			t.Errorf("jwt=%v: excess = %q, want none", jwt, got)
		}
		if n := srv.Count("GET", "/query"); n != 1 {
			t.Errorf("jwt=%v: queries = %d, want 1", jwt, n)
		}
	}
}

// TestExcessPrivilegesBroad checks one line per broad permission, naming
// the integration user, where the permission comes from, what it allows
// and what granting needs instead.
func TestExcessPrivilegesBroad(t *testing.T) {
	srv, p := setup(t, false)
	srv.SetProfile(integration, "System Administrator")
	srv.AddProfilePermissions("System Administrator", "PermissionsApiEnabled", "PermissionsAssignPermissionSets", "PermissionsModifyAllData")
	srv.AddPermissionSet("Helpdesk_Users")
	srv.AddPermissions("Helpdesk_Users", false, "PermissionsManageUsers")
	srv.Assign(integration, "Helpdesk_Users", false)

	got := excess(t, p, permSet("Payments_Admin"))
	if len(got) != 2 {
		t.Fatalf("excess = %q, want two lines", got)
	}
	for i, want := range [][]string{
		{integration, "Modify All Data", "through its profile System Administrator", "every record", "Assign Permission Sets"},
		{integration, "Manage Users", "through the permission set Helpdesk Users (Helpdesk_Users)", "any profile or permission set", "Assign Permission Sets"},
	} {
		for _, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("line %d = %q, want it to say %q", i, got[i], w)
			}
		}
	}
}

// TestExcessPrivilegesSources checks that a permission held from several
// places is one line naming each, the profile first, and that a group is
// named by its API name.
func TestExcessPrivilegesSources(t *testing.T) {
	srv, p := setup(t, true)
	leastPrivilege(srv)
	srv.SetProfile(integration, "Integration Admin")
	srv.AddProfilePermissions("Integration Admin", "PermissionsViewAllData")
	srv.AddPermissionSet("Reporting")
	srv.AddPermissions("Reporting", false, "PermissionsViewAllData")
	srv.Assign(integration, "Reporting", false)
	srv.AddPermissions("Support_Agents", true, "PermissionsAuthorApex")
	srv.Assign(integration, "Support_Agents", true)

	got := excess(t, p, permSet("Payments_Admin"))
	want := []string{
		"the integration user integration@acme.example has View All Data through its profile Integration Admin and the permission set Reporting: whoever holds the bot's credentials can read every record in the org, whatever its sharing; granting needs only API Enabled and Assign Permission Sets",
		"the integration user integration@acme.example has Author Apex through the permission set group Support_Agents: whoever holds the bot's credentials can write and run Apex, which runs in system mode and can read and change any record; granting needs only API Enabled and Assign Permission Sets",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("excess =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExcessPrivilegesPages checks that the assignments are read past the
// first page of the answer.
func TestExcessPrivilegesPages(t *testing.T) {
	srv, p := setup(t, false)
	leastPrivilege(srv)
	for _, name := range []string{"Extra_A", "Extra_B", "Extra_C"} {
		srv.AddPermissionSet(name)
		srv.Assign(integration, name, false)
	}
	srv.AddPermissions("Extra_C", false, "PermissionsCustomizeApplication") // on the last page
	srv.SetPageSize(2)
	got := excess(t, p, permSet("Payments_Admin"))
	if len(got) != 1 || !strings.Contains(got[0], "Customize Application through the permission set Extra C (Extra_C)") {
		t.Errorf("excess = %q, want Customize Application from Extra_C", got)
	}
	if n := srv.Count("GET", "/query/"); n != 2 {
		t.Errorf("next pages fetched = %d, want 2", n)
	}
}

// TestExcessPrivilegesCannotAssign checks that a user who cannot assign
// permission sets is reported, since every grant would fail, unless no
// resource needs it.
func TestExcessPrivilegesCannotAssign(t *testing.T) {
	_, p := setup(t, false) // the default profile has API Enabled only
	got := excess(t, p, permSet("Payments_Admin"))
	if len(got) != 1 || !strings.Contains(got[0], "integration@acme.example does not have Assign Permission Sets") ||
		!strings.Contains(got[0], "every grant and revoke will fail") {
		t.Errorf("excess = %q, want one line saying grants will fail", got)
	}
	if got := excess(t, p); len(got) != 0 {
		t.Errorf("excess with no resources = %q, want none", got)
	}
}

// TestExcessPrivilegesMalformedIdentity checks that a token whose
// identity URL does not name a user is a clear, permanent error, and that
// no query is made for a guessed user.
func TestExcessPrivilegesMalformedIdentity(t *testing.T) {
	for _, id := range []string{
		"not a url at all",
		"https://login.salesforce.com/id/00D000000000001EAA",
		"https://login.salesforce.com/id/00D000000000001EAA/0PS000000000001AAA",
		"https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA/extra",
		"https://login.salesforce.com/id/00D000000000001EAA/005'OR''='",
		"/id/00D000000000001EAA/005000000000001AAA",
	} {
		srv, p := setup(t, false)
		srv.SetIdentityURL(id)
		_, err := p.ExcessPrivileges(context.Background(), []json.RawMessage{permSet("Payments_Admin")})
		if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "identity URL") || !strings.Contains(err.Error(), "integration user is unknown") {
			t.Errorf("identity %q: err = %v, want a permanent error about the identity URL", id, err)
		}
		if n := srv.Count("GET", "/query"); n != 0 {
			t.Errorf("identity %q: %d queries sent", id, n)
		}
	}
}

// TestExcessPrivilegesBadSettings checks that a policy mistake is reported
// before any call.
func TestExcessPrivilegesBadSettings(t *testing.T) {
	srv, p := setup(t, false)
	if _, err := p.ExcessPrivileges(context.Background(), []json.RawMessage{json.RawMessage(`{"permission_set":"Payments Admin"}`)}); err == nil {
		t.Fatal("ExcessPrivileges with a label for an API name succeeded")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
