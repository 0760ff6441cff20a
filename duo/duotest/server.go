// Package duotest is a fake Duo Auth API v2 for tests and demos: POST
// /auth/v2/auth (factor=push, async or not) and GET /auth/v2/auth_status,
// with Duo's JSON envelope ({"stat": "OK", "response": …} or {"stat":
// "FAIL", "code": …, "message": …}). Every request's signature is checked
// as Duo checks it: the canonical request (Date header, method, host,
// path, sorted parameters) under the secret key, HMAC-SHA512 or
// HMAC-SHA1, in HTTP Basic credentials with the integration key; a bad one
// is refused with 401 and code 40103.
//
// Tests script each user's answer (Script) and read what was pushed
// (Pushes). It does not import "testing", so a demo may ship it: requests
// it does not understand are reported through the function given to
// NewServer (typically t.Errorf).
//
// A Server is safe for concurrent use.
package duotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/duo"
)

// Result is how a scripted user answers a push.
type Result int

const (
	// Allow: the user approves.
	Allow Result = iota
	// Deny: the user denies.
	Deny
	// Fraud: the user denies and reports fraud.
	Fraud
	// Timeout: the user does not answer and Duo gives up (result deny,
	// status timeout).
	Timeout
	// Never: the push stays pending for as long as the client asks.
	Never
)

// Answer scripts a user: Result after Waits "waiting" answers of
// auth_status.
type Answer struct {
	Result Result
	Waits  int
}

// Push is one push the fake received.
type Push struct {
	Username string
	// Type and PushInfo are the "type" and decoded "pushinfo" parameters.
	Type     string
	PushInfo url.Values
	Async    bool
}

type tx struct {
	answer Answer
	polls  int
}

// Server is a fake Duo.
type Server struct {
	srv   *httptest.Server
	failf func(format string, args ...any)

	mu      sync.Mutex
	ikey    string
	skey    string
	answers map[string]Answer
	txs     map[string]*tx
	pushes  []Push
	seq     int
	// maxSkew is how far the Date header may be from the server's clock.
	maxSkew time.Duration
}

// NewServer starts a fake Duo accepting requests signed with ikey and
// skey. failf reports unexpected requests; nil panics instead.
func NewServer(ikey, skey string, failf func(format string, args ...any)) *Server {
	if failf == nil {
		failf = func(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
	}
	s := &Server{ikey: ikey, skey: skey, failf: failf, answers: map[string]Answer{}, txs: map[string]*tx{}, maxSkew: 5 * time.Minute}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server's base URL (duo.Config.BaseURL).
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Script sets how username answers pushes; users never scripted are
// unknown to Duo (400, code 40002).
func (s *Server) Script(username string, a Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[username] = a
}

// Pushes returns the pushes received so far.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status, code int, message, detail string) {
	body := map[string]any{"stat": "FAIL", "code": code, "message": message}
	if detail != "" {
		body["message_detail"] = detail
	}
	writeJSON(w, status, body)
}

func ok(w http.ResponseWriter, response any) {
	writeJSON(w, http.StatusOK, map[string]any{"stat": "OK", "response": response})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	route := r.Method + " " + r.URL.Path
	if route != "POST /auth/v2/auth" && route != "GET /auth/v2/auth_status" {
		s.failf("duotest: unexpected request %s", route)
		fail(w, http.StatusNotFound, 40401, "Resource not found", "")
		return
	}
	var params url.Values
	if r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			s.failf("duotest: POST without a form body")
		}
		if err := r.ParseForm(); err != nil {
			fail(w, http.StatusBadRequest, 40002, "Invalid request parameters", "")
			return
		}
		params = r.PostForm
	} else {
		params = r.URL.Query()
	}
	if code, msg := s.verify(r, params); code != 0 {
		fail(w, http.StatusUnauthorized, code, msg, "")
		return
	}
	if r.Method == http.MethodPost {
		s.auth(w, params)
	} else {
		s.status(w, params.Get("txid"))
	}
}

// verify checks the request's credentials as Duo does, and returns Duo's
// error code and message, or 0.
func (s *Server) verify(r *http.Request, params url.Values) (int, string) {
	date := r.Header.Get("Date")
	user, sig, okAuth := r.BasicAuth()
	if !okAuth || date == "" {
		return 40101, "Missing request credentials"
	}
	if user != s.ikey {
		return 40102, "Invalid integration key in request credentials"
	}
	t, err := time.Parse(time.RFC1123Z, date)
	if err != nil {
		return 40103, "Invalid signature in request credentials"
	}
	if d := time.Since(t); d > s.maxSkew || d < -s.maxSkew {
		return 40105, "Request has expired"
	}
	canon := duo.Canonical(date, r.Method, r.Host, r.URL.Path, params)
	for _, h := range []func() hash.Hash{sha512.New, sha1.New} {
		mac := hmac.New(h, []byte(s.skey))
		mac.Write([]byte(canon))
		if hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(strings.ToLower(sig))) {
			return 0, ""
		}
	}
	return 40103, "Invalid signature in request credentials"
}

func (s *Server) auth(w http.ResponseWriter, p url.Values) {
	for k := range p {
		switch k {
		case "username", "factor", "device", "async", "type", "pushinfo", "display_username", "ipaddr":
		default:
			s.failf("duotest: unexpected /auth parameter %q", k)
		}
	}
	if p.Get("factor") != "push" || p.Get("device") == "" {
		s.failf("duotest: /auth with factor %q device %q, want push", p.Get("factor"), p.Get("device"))
		fail(w, http.StatusBadRequest, 40002, "Invalid request parameters", "factor")
		return
	}
	username := p.Get("username")
	a, known := s.answers[username]
	if !known {
		fail(w, http.StatusBadRequest, 40002, "Invalid request parameters", "username")
		return
	}
	info, _ := url.ParseQuery(p.Get("pushinfo"))
	async := p.Get("async") == "1"
	s.pushes = append(s.pushes, Push{Username: username, Type: p.Get("type"), PushInfo: info, Async: async})
	if !async {
		if a.Result == Never {
			a.Result = Timeout // a synchronous call ends when Duo gives up
		}
		ok(w, final(a.Result))
		return
	}
	s.seq++
	id := fmt.Sprintf("%08d-f45f-4862-8545-e0f58e78075a", s.seq)
	s.txs[id] = &tx{answer: a}
	ok(w, map[string]string{"txid": id})
}

func (s *Server) status(w http.ResponseWriter, txid string) {
	t := s.txs[txid]
	if t == nil {
		fail(w, http.StatusBadRequest, 40002, "Invalid request parameters", "txid")
		return
	}
	if t.answer.Result == Never || t.polls < t.answer.Waits {
		t.polls++
		ok(w, map[string]string{"result": "waiting", "status": "pushed", "status_msg": "Pushed a login request to your device..."})
		return
	}
	ok(w, final(t.answer.Result))
}

// final is Duo's response for a finished authentication.
func final(r Result) map[string]string {
	switch r {
	case Allow:
		return map[string]string{"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}
	case Fraud:
		return map[string]string{"result": "deny", "status": "fraud", "status_msg": "Login request reported as fraudulent."}
	case Timeout:
		return map[string]string{"result": "deny", "status": "timeout", "status_msg": "Login timed out."}
	}
	return map[string]string{"result": "deny", "status": "deny", "status_msg": "Login request denied."}
}
