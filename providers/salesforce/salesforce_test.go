package salesforce_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/salesforce"
	"github.com/accessbot/accessbot/providers/salesforce/salesforcetest"
)

// testSecret is the consumer secret; it must never show up in an error.
const (
	testClientID = "3MVG9fakeconsumerkey"
	testSecret   = "SFSECRET0123456789abcdefABCDEF"
)

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// setup starts a fake org with three users, a permission set and a group,
// and a provider authenticating with the client credentials flow or the
// JWT bearer flow.
func setup(t *testing.T, jwt bool) (*salesforcetest.Server, *salesforce.Provider) {
	t.Helper()
	srv := salesforcetest.NewServer(t.Errorf)
	t.Cleanup(srv.Close)
	for _, u := range []string{"alice@acme.example", "carol@acme.example", "standing@acme.example", "integration@acme.example"} {
		srv.AddUser(u)
	}
	srv.AddPermissionSet("Payments_Admin")
	srv.AddPermissionSetGroup("Support_Agents")
	cfg := salesforce.Config{LoginURL: srv.URL(), ClientID: testClientID, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	if jwt {
		srv.SetJWTKey(testClientID, &testKey.PublicKey)
		cfg.Username = "integration@acme.example"
		cfg.PrivateKeyFile = writeKey(t)
	} else {
		srv.SetClientCredentials(testClientID, testSecret)
		srv.SetIntegrationUser("integration@acme.example") // the connected app's Run As user
		cfg.ClientSecret = testSecret
	}
	p, err := salesforce.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, p
}

func writeKey(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func permSet(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"permission_set":%q}`, name))
}

func group(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"permission_set_group":%q}`, name))
}

func grantErr(p *salesforce.Provider, settings json.RawMessage, user string) error {
	_, err := p.Grant(context.Background(), approvals.GrantRequest{RequestID: "r1", Resource: "res", Identity: user, Settings: settings})
	return err
}

func revokeErr(p *salesforce.Provider, settings json.RawMessage, user string) error {
	return p.Revoke(context.Background(), approvals.RevokeRequest{RequestID: "r1", Resource: "res", Identity: user, Settings: settings})
}

func holds(t *testing.T, p *salesforce.Provider, settings json.RawMessage, user string) bool {
	t.Helper()
	ok, err := p.Holds(context.Background(), approvals.HoldsRequest{Resource: "res", Identity: user, Settings: settings})
	if err != nil {
		t.Fatalf("Holds(%s): %v", user, err)
	}
	return ok
}

// TestLifecycle follows one grant through its life as approvals.Service
// drives it.
func TestLifecycle(t *testing.T) {
	srv, p := setup(t, false)
	s := permSet("Payments_Admin")
	const alice = "alice@acme.example"

	if holds(t, p, s, alice) {
		t.Fatal("alice holds the permission set before any grant")
	}
	if err := grantErr(p, s, alice); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if !holds(t, p, s, alice) {
		t.Fatal("alice does not hold the permission set after the grant")
	}
	// A retried grant meets DUPLICATE_VALUE and succeeds.
	if err := grantErr(p, s, alice); err != nil {
		t.Fatalf("second Grant: %v", err)
	}
	if n := srv.AssignmentCount(); n != 1 {
		t.Errorf("assignments after two grants = %d, want 1", n)
	}
	if err := revokeErr(p, s, alice); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if holds(t, p, s, alice) {
		t.Fatal("alice still holds the permission set after the revoke")
	}
	// Revoking what is gone succeeds without a DELETE.
	deletes := srv.Count("DELETE", "/sobjects/")
	if err := revokeErr(p, s, alice); err != nil {
		t.Fatalf("second Revoke: %v", err)
	}
	if got := srv.Count("DELETE", "/sobjects/"); got != deletes {
		t.Errorf("revoke of an absent assignment sent %d DELETEs", got-deletes)
	}
	// One token for the whole life.
	if n := srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 (the token is cached)", n)
	}
}

// TestAlreadyHeld checks that an assignment made by hand is reported as
// held, which is what makes accessbot refuse the request instead of
// granting (and later revoking) it.
func TestAlreadyHeld(t *testing.T) {
	srv, p := setup(t, false)
	srv.Assign("alice@acme.example", "Payments_Admin", false)
	if !holds(t, p, permSet("Payments_Admin"), "alice@acme.example") {
		t.Fatal("a hand-made assignment is not held")
	}
	// Holding the group is not holding the permission set, and vice versa.
	if holds(t, p, group("Support_Agents"), "alice@acme.example") {
		t.Fatal("the permission set assignment counts as the group")
	}
}

// TestGrantDuplicateAnswer checks that DUPLICATE_VALUE, as Salesforce
// answers a second insert, is success.
func TestGrantDuplicateAnswer(t *testing.T) {
	srv, p := setup(t, false)
	srv.Inject(salesforcetest.Fault{Method: "POST", Path: "/sobjects/PermissionSetAssignment", Status: 400, Code: "DUPLICATE_VALUE", Message: "Duplicate PermissionSetAssignment"})
	if err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example"); err != nil {
		t.Fatalf("Grant after DUPLICATE_VALUE: %v", err)
	}
}

// TestRevokeDeleteNotFound checks that an assignment deleted between the
// query and the DELETE counts as revoked.
func TestRevokeDeleteNotFound(t *testing.T) {
	srv, p := setup(t, false)
	s := permSet("Payments_Admin")
	if err := grantErr(p, s, "alice@acme.example"); err != nil {
		t.Fatal(err)
	}
	srv.Inject(salesforcetest.Fault{Method: "DELETE", Path: "/sobjects/PermissionSetAssignment/", Status: 404, Code: "ENTITY_IS_DELETED", Message: "entity is deleted"})
	if err := revokeErr(p, s, "alice@acme.example"); err != nil {
		t.Fatalf("Revoke after 404: %v", err)
	}
}

// TestRevokeOnlyTheNamedAccess checks that a revoke deletes the user's
// assignment of this permission set and nothing else: not another user's,
// not another permission set's, not the group's.
func TestRevokeOnlyTheNamedAccess(t *testing.T) {
	srv, p := setup(t, false)
	srv.Assign("alice@acme.example", "Support_Agents", true)
	srv.Assign("carol@acme.example", "Payments_Admin", false)
	if err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example"); err != nil {
		t.Fatal(err)
	}
	if err := revokeErr(p, permSet("Payments_Admin"), "alice@acme.example"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Assignees("Payments_Admin", false); !slices.Equal(got, []string{"carol@acme.example"}) {
		t.Errorf("permission set assignees = %q, want carol only", got)
	}
	if got := srv.Assignees("Support_Agents", true); !slices.Equal(got, []string{"alice@acme.example"}) {
		t.Errorf("group assignees = %q, want alice's to stay", got)
	}
}

// TestTransientFailures checks the classification of failures worth
// retrying.
func TestTransientFailures(t *testing.T) {
	cases := []salesforcetest.Fault{
		{Path: "/query", Status: 503, Code: "SERVER_UNAVAILABLE", Message: "down for maintenance"},
		{Path: "/query", Status: 500, Code: "UNKNOWN_EXCEPTION", Message: "An unexpected error occurred"},
		{Path: "/query", Status: 403, Code: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."},
		{Method: "POST", Path: "/sobjects/", Status: 400, Code: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"},
		{Path: "/services/oauth2/token", Status: 503, Code: "temporarily_unavailable", Message: "try later"},
	}
	for _, f := range cases {
		t.Run(f.Code, func(t *testing.T) {
			srv, p := setup(t, false)
			srv.Inject(f)
			err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example")
			if !approvals.Retryable(err) {
				t.Fatalf("Grant with %d %s = %v, want a transient error", f.Status, f.Code, err)
			}
			// The next attempt succeeds.
			if err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example"); err != nil {
				t.Fatalf("Grant after the fault: %v", err)
			}
		})
	}
}

// TestPermanentFailures checks that other 4xx answers and configuration
// mistakes are permanent, and say what to check.
func TestPermanentFailures(t *testing.T) {
	t.Run("InsufficientAccess", func(t *testing.T) {
		srv, p := setup(t, false)
		srv.Inject(salesforcetest.Fault{Method: "POST", Path: "/sobjects/", Status: 400, Code: "INSUFFICIENT_ACCESS_OR_READONLY", Message: "insufficient access rights on cross-reference id"})
		err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example")
		if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "may not assign") {
			t.Fatalf("Grant = %v, want a permanent error with a hint", err)
		}
	})
	t.Run("UnknownUser", func(t *testing.T) {
		_, p := setup(t, false)
		err := grantErr(p, permSet("Payments_Admin"), "nobody@acme.example")
		if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "no active user") {
			t.Fatalf("Grant = %v, want a permanent error naming the user", err)
		}
	})
	t.Run("InactiveUser", func(t *testing.T) {
		srv, p := setup(t, false)
		srv.SetActive("alice@acme.example", false)
		if err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example"); err == nil || approvals.Retryable(err) {
			t.Fatalf("Grant to an inactive user = %v, want a permanent error", err)
		}
	})
	t.Run("UnknownPermissionSet", func(t *testing.T) {
		_, p := setup(t, false)
		err := grantErr(p, permSet("Nope"), "alice@acme.example")
		if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "Nope") {
			t.Fatalf("Grant = %v, want a permanent error naming the permission set", err)
		}
	})
	t.Run("BadSecret", func(t *testing.T) {
		srv, _ := setup(t, false)
		p, err := salesforce.New(salesforce.Config{LoginURL: srv.URL(), ClientID: testClientID, ClientSecret: "wrong-" + testSecret})
		if err != nil {
			t.Fatal(err)
		}
		err = grantErr(p, permSet("Payments_Admin"), "alice@acme.example")
		if err == nil || approvals.Retryable(err) || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("Grant = %v, want a permanent invalid_client error", err)
		}
	})
}

// TestExpiredTokenIsRefreshed checks that a 401 drops the cached token and
// the call is made again with a new one.
func TestExpiredTokenIsRefreshed(t *testing.T) {
	for _, jwt := range []bool{false, true} {
		srv, p := setup(t, jwt)
		s := permSet("Payments_Admin")
		if err := grantErr(p, s, "alice@acme.example"); err != nil {
			t.Fatal(err)
		}
		srv.ExpireTokens()
		if !holds(t, p, s, "alice@acme.example") {
			t.Fatal("not held after the token expired")
		}
		if n := srv.TokensIssued(); n != 2 {
			t.Errorf("jwt=%v: tokens issued = %d, want 2", jwt, n)
		}
	}
}

// TestNoSecretInErrors forces failures that could echo the request and
// checks that no credential appears in the error.
func TestNoSecretInErrors(t *testing.T) {
	srv, p := setup(t, false)
	srv.Inject(salesforcetest.Fault{Path: "/services/oauth2/token", Status: 400, Code: "invalid_client", Message: "bad client_secret " + testSecret})
	err := grantErr(p, permSet("Payments_Admin"), "alice@acme.example")
	if err == nil {
		t.Fatal("Grant succeeded")
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the client secret", err)
	}
	srv.Inject(salesforcetest.Fault{Path: "/query", Status: 500, Code: "UNKNOWN_EXCEPTION", Message: "oops"})
	err = grantErr(p, permSet("Payments_Admin"), "alice@acme.example")
	for _, r := range srv.Requests() {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.Contains(err.Error(), tok) {
			t.Errorf("error %q contains the access token", err)
		}
	}
}

// TestQuoting checks that a username with SOQL's special characters stays
// one literal.
func TestQuoting(t *testing.T) {
	srv, p := setup(t, false)
	odd := `o'brien\x@acme.example`
	srv.AddUser(odd)
	if err := grantErr(p, permSet("Payments_Admin"), odd); err != nil {
		t.Fatalf("Grant(%q): %v", odd, err)
	}
	if !holds(t, p, permSet("Payments_Admin"), odd) {
		t.Fatal("not held")
	}
	// An injection attempt is a username that does not exist.
	evil := `x'OR(Username!='')OR'@acme.example`
	if err := grantErr(p, permSet("Payments_Admin"), evil); err == nil || !strings.Contains(err.Error(), "no active user") {
		t.Fatalf("Grant(%q) = %v, want no such user", evil, err)
	}
}

// TestHoldersPages checks that Holders follows nextRecordsUrl.
func TestHoldersPages(t *testing.T) {
	srv, p := setup(t, false)
	srv.SetPageSize(1)
	for _, u := range []string{"alice@acme.example", "carol@acme.example", "standing@acme.example"} {
		srv.Assign(u, "Payments_Admin", false)
	}
	got, err := p.Holders(context.Background(), approvals.HoldersRequest{Resource: "res", Settings: permSet("Payments_Admin")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alice@acme.example", "carol@acme.example", "standing@acme.example"}
	if !slices.Equal(got, want) {
		t.Errorf("Holders = %q, want %q", got, want)
	}
}

func TestNewConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  salesforce.Config
		want string
	}{
		{"Nothing", salesforce.Config{}, "ACCESSBOT_SALESFORCE_CLIENT_SECRET"},
		{"NoClientID", salesforce.Config{ClientSecret: "s"}, "ACCESSBOT_SALESFORCE_CLIENT_ID"},
		{"Both", salesforce.Config{ClientID: "c", ClientSecret: "s", Username: "u@x"}, "not both"},
		{"JWTNoKey", salesforce.Config{ClientID: "c", Username: "u@x"}, "ACCESSBOT_SALESFORCE_PRIVATE_KEY_FILE"},
		{"BadURL", salesforce.Config{ClientID: "c", ClientSecret: "s", LoginURL: "login.salesforce.com"}, "ACCESSBOT_SALESFORCE_LOGIN_URL"},
		{"BadVersion", salesforce.Config{ClientID: "c", ClientSecret: "s", APIVersion: "60"}, "ACCESSBOT_SALESFORCE_API_VERSION"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := salesforce.New(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error naming %s", err, c.want)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, raw := range []string{``, `{}`, `{"permission_set":"A","permission_set_group":"B"}`, `{"permission_set":"Payments Admin"}`, `{"permission_sets":"A"}`} {
		if _, err := salesforce.ParseSettings(json.RawMessage(raw)); err == nil {
			t.Errorf("ParseSettings(%s) succeeded", raw)
		}
	}
	if _, err := salesforce.ParseSettings(json.RawMessage(`{"permission_set":"ns__Payments_Admin"}`)); err != nil {
		t.Errorf("namespaced name: %v", err)
	}
}
