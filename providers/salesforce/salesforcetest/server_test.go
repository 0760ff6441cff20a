package salesforcetest_test

import (
	"fmt"
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
