package github_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// bodyCounter is a transport that counts the response bodies it hands
// out and those closed.
type bodyCounter struct {
	next           http.RoundTripper
	opened, closed atomic.Int64
}

func (b *bodyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		b.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, closed: &b.closed}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	closed *atomic.Int64
	done   bool
}

func (c *countedBody) Close() error {
	if !c.done {
		c.done = true
		c.closed.Add(1)
	}
	return c.ReadCloser.Close()
}

// Error answers, of the API and of the installation token endpoint, give
// their connection back at once: every response body is closed, and the
// goroutines do not pile up (one per failed call used to wait for the
// client's 30-second timeout).
func TestErrorAnswersReleaseTheirConnections(t *testing.T) {
	srv := githubtest.NewServer(t)
	srv.AddTeam("acme", "ops")
	s := teamSettings("acme", "ops")
	const n = 40

	t.Run("installation token refused", func(t *testing.T) {
		keyFile, _ := writeAppKey(t)
		_, otherKey := writeAppKey(t)
		srv.SetAppKey(4242, otherKey) // every token request gets 401
		counter := &bodyCounter{next: http.DefaultTransport.(*http.Transport).Clone()}
		p, err := github.New(github.Config{AppID: 4242, InstallationID: 77, PrivateKeyFile: keyFile, APIURL: srv.URL(),
			HTTPClient: &http.Client{Transport: counter, Timeout: github.DefaultTimeout}})
		if err != nil {
			t.Fatal(err)
		}
		checkReleased(t, counter, func() {
			if _, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: s}); err == nil {
				t.Fatal("grant with a refused installation token succeeded")
			}
		}, n)
	})

	t.Run("API errors", func(t *testing.T) {
		counter := &bodyCounter{next: http.DefaultTransport.(*http.Transport).Clone()}
		p, err := github.New(github.Config{Token: "ghp-test", APIURL: srv.URL(),
			HTTPClient: &http.Client{Transport: counter, Timeout: github.DefaultTimeout}})
		if err != nil {
			t.Fatal(err)
		}
		srv.FailNext("PUT", "/orgs/acme/teams/ops/memberships/alice", http.StatusForbidden, n)
		checkReleased(t, counter, func() {
			if _, err := p.Grant(context.Background(), approvals.GrantRequest{Identity: "alice", Settings: s}); err == nil {
				t.Fatal("grant answered 403 succeeded")
			}
		}, n)
	})
}

// checkReleased runs call n times and checks that every body was closed
// and that no goroutine per call is left.
func checkReleased(t *testing.T, counter *bodyCounter, call func(), n int) {
	t.Helper()
	before := runtime.NumGoroutine()
	for range n {
		call()
	}
	if o, c := counter.opened.Load(), counter.closed.Load(); o == 0 || o != c {
		t.Errorf("%d response bodies, %d closed; want every one closed", o, c)
	}
	// Idle connections keep two goroutines each; the transport keeps a
	// few. A leak would keep some for every call.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before+10 {
		t.Errorf("%d goroutines after %d failed calls, %d before", g, n, before)
	}
}
