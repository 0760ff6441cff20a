package duo_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/duo"
	"github.com/accessbot/accessbot/duo/duotest"
)

const (
	testIKey = "DIWJ8X6AEYOR5OMC6TQ1"
	testSKey = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
)

// TestSignKnownAnswer checks the signature against the example in Duo's
// Auth API documentation, as Duo's Go client tests it.
func TestSignKnownAnswer(t *testing.T) {
	params := url.Values{"realname": {"First Last"}, "username": {"root"}}
	canon := duo.Canonical("Tue, 21 Aug 2012 17:29:18 -0000", "POST", "api-XXXXXXXX.duosecurity.com", "/accounts/v1/account/list", params)
	got := "Basic " + b64(testIKey+":"+duo.Signature(testSKey, canon))
	want := "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6MWJmZmI4OTI0MzQ4ZjdkYjdkYTllN2Q3ZDc0OWRlZDkzYWFmZDAyZDhlOTA0OTYwZGE3Yjk2YzU3NTEwMjIwMTg1YTY0YTI4MjdlZThmMjRhYzVkMzA4MDJhOWVlOTdlNTlkZTQ0YjMwNGIxODI0MmYwZDU5NmQxNWE4MTIyYWY="
	if got != want {
		t.Errorf("Authorization = %s\nwant %s", got, want)
	}
}

// TestCanonical checks the canonical form: method upper, host lower,
// parameters sorted (values too) and escaped with %20.
func TestCanonical(t *testing.T) {
	params := url.Values{"username": {"H ell?o"}, "password": {"H-._~i", "A(!'*)"}}
	got := duo.Canonical("5", "post", "API-XXX.duosecurity.COM", "/auth/v2/ping", params)
	want := "5\nPOST\napi-xxx.duosecurity.com\n/auth/v2/ping\npassword=A%28%21%27%2A%29&password=H-._~i&username=H%20ell%3Fo"
	if got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
	punct := duo.Canonical("5", "POST", "h", "/p", url.Values{"punctuation": {"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}, "whitespace": {"\t\n\x0b\x0c\r "}})
	wantParams := "punctuation=%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~&whitespace=%09%0A%0B%0C%0D%20"
	if !strings.HasSuffix(punct, "\n"+wantParams) {
		t.Errorf("Canonical of punctuation = %q, want params %q", punct, wantParams)
	}
}

func b64(s string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	user, pass, _ := strings.Cut(s, ":")
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func setup(t *testing.T, skey string, timeout time.Duration) (*duotest.Server, *duo.Client) {
	t.Helper()
	srv := duotest.NewServer(testIKey, testSKey, t.Errorf)
	t.Cleanup(srv.Close)
	c, err := duo.New(duo.Config{IKey: testIKey, SKey: skey, BaseURL: srv.URL(), Timeout: timeout, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestPushAllow(t *testing.T) {
	srv, c := setup(t, testSKey, 5*time.Second)
	srv.Script("alice", duotest.Answer{Result: duotest.Allow, Waits: 2})
	allowed, err := c.Push(context.Background(), "alice", "prod-db-read: INC-4211 hotfix")
	if err != nil || !allowed {
		t.Fatalf("Push = %v, %v; want allowed", allowed, err)
	}
	pushes := srv.Pushes()
	if len(pushes) != 1 || !pushes[0].Async || pushes[0].PushInfo.Get("reason") != "prod-db-read: INC-4211 hotfix" {
		t.Errorf("pushes = %+v, want one async push carrying the reason", pushes)
	}
}

func TestPushNotApproved(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer duotest.Answer
		status string
	}{
		{"Deny", duotest.Answer{Result: duotest.Deny, Waits: 1}, "deny"},
		{"Fraud", duotest.Answer{Result: duotest.Fraud}, "fraud"},
		{"DuoTimeout", duotest.Answer{Result: duotest.Timeout, Waits: 3}, "timeout"},
		{"OurTimeout", duotest.Answer{Result: duotest.Never}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := setup(t, testSKey, 200*time.Millisecond)
			srv.Script("alice", tc.answer)
			allowed, err := c.Push(context.Background(), "alice", "reason")
			var de *duo.DeniedError
			if allowed || !errors.As(err, &de) || !errors.Is(err, duo.ErrNotApproved) {
				t.Fatalf("Push = %v, %v; want not approved", allowed, err)
			}
			if de.Status != tc.status {
				t.Errorf("status = %q, want %q", de.Status, tc.status)
			}
		})
	}
}

func TestPushCancelled(t *testing.T) {
	srv, c := setup(t, testSKey, 5*time.Second)
	srv.Script("alice", duotest.Answer{Result: duotest.Never})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	allowed, err := c.Push(ctx, "alice", "reason")
	if allowed || err == nil || errors.Is(err, duo.ErrNotApproved) {
		t.Fatalf("Push with the caller's context ending = %v, %v; want an error that is not a denial", allowed, err)
	}
}

// TestBadSignature checks that the fake refuses a client with the wrong
// secret key exactly as Duo does, and that the client reports it.
func TestBadSignature(t *testing.T) {
	srv, c := setup(t, "wrong-"+testSKey, 5*time.Second)
	srv.Script("alice", duotest.Answer{Result: duotest.Allow})
	allowed, err := c.Push(context.Background(), "alice", "reason")
	var ae *duo.APIError
	if allowed || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != 40103 ||
		ae.Message != "Invalid signature in request credentials" {
		t.Fatalf("Push with a wrong skey = %v, %v; want 401 40103", allowed, err)
	}
	if strings.Contains(err.Error(), testSKey) {
		t.Errorf("error %q contains the secret key", err)
	}
	if len(srv.Pushes()) != 0 {
		t.Error("a badly signed request was pushed")
	}
}

func TestUnknownUser(t *testing.T) {
	_, c := setup(t, testSKey, 5*time.Second)
	allowed, err := c.Push(context.Background(), "mallory", "reason")
	var ae *duo.APIError
	if allowed || !errors.As(err, &ae) || ae.Code != 40002 {
		t.Fatalf("Push for an unknown user = %v, %v; want 40002", allowed, err)
	}
}

func TestNewConfigErrors(t *testing.T) {
	_, err := duo.New(duo.Config{})
	for _, v := range []string{"ACCESSBOT_DUO_HOST", "ACCESSBOT_DUO_IKEY", "ACCESSBOT_DUO_SKEY_FILE"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("New(empty) = %v, want it to name %s", err, v)
		}
	}
	if _, err := duo.New(duo.Config{Host: "api-x.duosecurity.com/evil?", IKey: "i", SKey: "s"}); err == nil {
		t.Error("New accepted a host with a path")
	}
}
