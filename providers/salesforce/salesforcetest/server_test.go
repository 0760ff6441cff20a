package salesforcetest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/providers/salesforce/salesforcetest"
)

// TestUnexpectedRequestsFailLoudly checks that requests the provider never
// makes are reported, and that API calls need a token.
func TestUnexpectedRequestsFailLoudly(t *testing.T) {
	var failures []string
	srv := salesforcetest.NewServer(func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) })
	defer srv.Close()
	srv.SetClientCredentials("id", "secret")

	resp, err := http.PostForm(srv.URL()+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"secret"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %v %v", resp, err)
	}
	resp.Body.Close()

	resp, _ = http.Get(srv.URL() + "/services/data/v60.0/query?q=SELECT+Id+FROM+User")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("query without a token = %d, want 401", resp.StatusCode)
	}
	resp.Body.Close()

	if len(failures) != 0 {
		t.Fatalf("failures before any unexpected request: %q", failures)
	}
	resp, _ = http.Get(srv.URL() + "/services/data/v60.0/sobjects/Account")
	resp.Body.Close()
	if len(failures) != 1 || !strings.Contains(failures[0], "unexpected request") {
		t.Errorf("failures = %q, want one unexpected request", failures)
	}
}

// TestPrivilegeQuery checks that the token's identity URL names the Run As
// user, that the privilege query answers its profile's permission set in
// Salesforce's nested format, and that a field the fake does not know is
// reported.
func TestPrivilegeQuery(t *testing.T) {
	var failures []string
	srv := salesforcetest.NewServer(func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) })
	defer srv.Close()
	srv.SetClientCredentials("id", "secret")
	userID := srv.AddUser("run-as@acme.example")
	srv.SetIntegrationUser("run-as@acme.example")
	srv.SetProfile("run-as@acme.example", "System Administrator")
	srv.AddProfilePermissions("System Administrator", "PermissionsModifyAllData")

	resp, err := http.PostForm(srv.URL()+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"secret"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %v %v", resp, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ID          string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(tok.ID, "/"+userID) {
		t.Fatalf("identity URL %q (%v), want it to end with the user's Id %s", tok.ID, err, userID)
	}

	get := func(fields string) (int, string) {
		q := "SELECT Assignee.Username, PermissionSet.Name, PermissionSet.Label, PermissionSet.IsOwnedByProfile, PermissionSet.Profile.Name, PermissionSetGroup.DeveloperName" +
			fields + " FROM PermissionSetAssignment WHERE AssigneeId = '" + userID + "'"
		req, _ := http.NewRequest("GET", srv.URL()+"/services/data/v60.0/query?"+url.Values{"q": {q}}.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get(", PermissionSet.PermissionsModifyAllData, PermissionSet.PermissionsAuthorApex")
	for _, want := range []string{`"PermissionsModifyAllData":true`, `"PermissionsAuthorApex":false`, `"IsOwnedByProfile":true`,
		`"Name":"System Administrator"`, `"PermissionSetGroup":null`, `"Username":"run-as@acme.example"`, `"type":"PermissionSetAssignment"`} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("answer %d %s, want it to hold %s", status, body, want)
		}
	}
	if len(failures) != 0 {
		t.Fatalf("failures: %q", failures)
	}
	if status, _ := get(", PermissionSet.PermissionsEverything"); status != http.StatusBadRequest || len(failures) != 1 {
		t.Errorf("unknown field: status %d, failures %q; want 400 and one failure", status, failures)
	}
}
