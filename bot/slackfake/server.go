package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Token is the bot token Client uses; the fake refuses calls without a token
// (not_authed) but accepts any value, as tests have no real one.
const Token = "xoxb-slackfake"

// Workspace values the fake reports and puts into the payloads it builds.
const (
	TeamID = "T0FAKE"
	AppID  = "A0FAKE"
	BotID  = "B0FAKE"
	// BotUserID is the bot's own user, as auth.test reports it.
	BotUserID = "U0ACCESSBOT"
)

// Call is one recorded Web API call (or response_url post).
type Call struct {
	// Method is the Web API method, for example "chat.postMessage", or
	// "response_url" for a post to a response_url the fake handed out.
	Method string
	// Channel is the channel of the call, or the user group of
	// usergroups.users.list.
	Channel string
	// User is chat.postEphemeral's user, conversations.open's users, or the
	// user a response_url belongs to.
	User string
	Text string
	// Blocks is the blocks JSON as sent; nil when the call carried none.
	Blocks json.RawMessage
	// TS is the ts the fake assigned (chat.postMessage, chat.postEphemeral)
	// or the ts of the message being updated (chat.update).
	TS       string
	ThreadTS string
	// TriggerID and View are views.open's arguments; View is also the
	// view of views.update (whose view_id is in TS) and views.publish.
	TriggerID string
	View      json.RawMessage
	// ResponseType and ReplaceOriginal are a response_url post's fields.
	ResponseType    string
	ReplaceOriginal bool
	// Error is the error the fake answered with; "" when the call succeeded.
	Error string
	// At is when the fake received the call (real time).
	At time.Time
}

// Failure is an answer the fake gives instead of doing the call.
type Failure struct {
	// Status is the HTTP status; 429 makes a rate limit with Retry-After.
	Status int
	// RetryAfter is the Retry-After value in seconds, for a 429.
	RetryAfter int
	// Error is the Slack error code of an {"ok":false} answer.
	Error string
}

// RateLimited returns a 429 failure asking to retry after seconds; a
// negative value leaves the Retry-After header out.
func RateLimited(seconds int) Failure {
	return Failure{Status: http.StatusTooManyRequests, RetryAfter: seconds, Error: "ratelimited"}
}

// Error returns an {"ok":false,"error":code} failure.
func Error(code string) Failure { return Failure{Status: http.StatusOK, Error: code} }

// Server is a fake Slack Web API.
type Server struct {
	srv *httptest.Server

	mu         sync.Mutex
	calls      []Call
	violations []string
	failures   map[string][]Failure
	messages   map[string]Call     // channel+"/"+ts -> current state
	groups     map[string][]string // user group ID -> member IDs
	seq        int64
	trouble    trouble

	socket socketState
}

// NewServer starts a fake Slack and closes it when the test ends.
func NewServer(t TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake Slack outside tests (accessbot demo). Close it when
// done.
func Start() *Server {
	s := &Server{failures: map[string][]Failure{}, messages: map[string]Call{}, groups: map[string][]string{}}
	s.socket.acks = map[string]chan json.RawMessage{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/response/{user}", s.serveResponseURL)
	mux.HandleFunc(socketPath, s.serveSocket)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.violation("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the server and its Socket Mode connection.
func (s *Server) Close() {
	s.closeSocket()
	s.srv.Close()
}

// URL returns the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// APIURL returns the Web API base URL, for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Client returns a slack.Client that talks to the fake.
func (s *Server) Client(opts ...slack.Option) *slack.Client {
	return slack.New(Token, append([]slack.Option{slack.OptionAPIURL(s.APIURL())}, opts...)...)
}

// ResponseURL returns a response_url for user; posts to it are recorded as
// "response_url" calls and count as ephemerals to user when their
// response_type is ephemeral.
func (s *Server) ResponseURL(user string) string {
	return s.srv.URL + "/response/" + url.PathEscape(user)
}

// DMChannel returns the DM channel conversations.open returns for user.
func DMChannel(user string) string { return "D" + user }

// FailNext makes the next n calls of method answer with f instead of
// doing anything.
func (s *Server) FailNext(method string, n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[method] = append(s.failures[method], f)
	}
}

// SetGroup makes user group group (an ID S…) have exactly members, as
// usergroups.users.list reports them; call it again to change them.
func (s *Server) SetGroup(group string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = append([]string{}, members...)
}

// Calls returns every recorded call, failed ones included, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsTo returns the recorded calls of method, failed ones included.
func (s *Server) CallsTo(method string) []Call {
	return s.filter(func(c Call) bool { return c.Method == method })
}

// Posts returns the successful chat.postMessage calls to channel, or to
// any channel when channel is "".
func (s *Server) Posts(channel string) []Call {
	return s.filter(func(c Call) bool {
		return c.Method == "chat.postMessage" && c.Error == "" && (channel == "" || c.Channel == channel)
	})
}

// TopLevel returns the successful chat.postMessage calls to channel that
// are not thread replies.
func (s *Server) TopLevel(channel string) []Call {
	return s.filter(func(c Call) bool {
		return c.Method == "chat.postMessage" && c.Error == "" && c.Channel == channel && c.ThreadTS == ""
	})
}

// Replies returns the successful chat.postMessage calls that reply in the
// thread of the message at channel and ts, in order.
func (s *Server) Replies(channel, ts string) []Call {
	return s.filter(func(c Call) bool {
		return c.Method == "chat.postMessage" && c.Error == "" && c.Channel == channel && c.ThreadTS == ts
	})
}

// DMs returns the successful chat.postMessage calls to user's DM channel.
func (s *Server) DMs(user string) []Call { return s.Posts(DMChannel(user)) }

// Updates returns the successful chat.update calls.
func (s *Server) Updates() []Call {
	return s.filter(func(c Call) bool { return c.Method == "chat.update" && c.Error == "" })
}

// Ephemerals returns what user was shown ephemerally: successful
// chat.postEphemeral calls to user and ephemeral response_url posts.
func (s *Server) Ephemerals(user string) []Call {
	return s.filter(func(c Call) bool {
		if c.Error != "" || c.User != user {
			return false
		}
		return c.Method == "chat.postEphemeral" || (c.Method == "response_url" && c.ResponseType == slack.ResponseTypeEphemeral)
	})
}

// Views returns the successful views.open calls.
func (s *Server) Views() []Call {
	return s.filter(func(c Call) bool { return c.Method == "views.open" && c.Error == "" })
}

// Homes returns the successful views.publish calls for user, in order;
// the last one is what their Home tab shows.
func (s *Server) Homes(user string) []Call {
	return s.filter(func(c Call) bool { return c.Method == "views.publish" && c.Error == "" && c.User == user })
}

// Message returns the current state of the message at channel and ts:
// the post, or the latest update of it.
func (s *Server) Message(channel, ts string) (Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.messages[channel+"/"+ts]
	return c, ok
}

// Violations returns every Block Kit limit or protocol rule the calls
// broke. Tests assert it is empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// WaitFor polls cond until it holds, failing the test after timeout. It is
// for the bot's asynchronous posts; keep timeouts short.
func (s *Server) WaitFor(t TB, cond func() bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("slackfake: condition not met within %s; calls so far:\n%s", timeout, s.Summary())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Summary describes every recorded call, one a line, for failure messages.
func (s *Server) Summary() string {
	var b strings.Builder
	for _, c := range s.Calls() {
		fmt.Fprintf(&b, "  %s channel=%s user=%s ts=%s error=%s text=%q\n", c.Method, c.Channel, c.User, c.TS, c.Error, c.Text)
	}
	return b.String()
}

func (s *Server) filter(keep func(Call) bool) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// nextTS returns a new, strictly increasing message ts. Callers hold mu.
func (s *Server) nextTS() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", 1700000000+s.seq, 100)
}

// params reads a Web API call's arguments from a form or a JSON body.
// Values that are JSON objects or arrays (blocks, view) are kept as JSON.
func params(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if len(body) == 0 {
			return out, nil // apps.connections.open sends no body
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("invalid json body: %w", err)
		}
		for k, v := range m {
			var str string
			if json.Unmarshal(v, &str) == nil {
				out[k] = str
				continue
			}
			out[k] = string(v)
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k, v := range r.Form {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if r.Method != http.MethodPost {
		s.violation("%s called with %s; the bot must POST", method, r.Method)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"ok": false, "error": "method_not_allowed"})
		return
	}
	p, err := params(r)
	if err != nil {
		s.violation("%s: unreadable body: %v", method, err)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	c := Call{
		Method:    method,
		Channel:   p["channel"],
		User:      p["user"],
		Text:      p["text"],
		TS:        p["ts"],
		ThreadTS:  p["thread_ts"],
		TriggerID: p["trigger_id"],
		At:        time.Now(),
	}
	if b, ok := p["blocks"]; ok && b != "" {
		c.Blocks = json.RawMessage(b)
	}
	if v, ok := p["view"]; ok && v != "" {
		c.View = json.RawMessage(v)
	}
	if method == "conversations.open" {
		c.User = p["users"]
	}

	token := p["token"]
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.misbehave(w, r, &c, method) {
		return
	}
	if q := s.failures[method]; len(q) > 0 {
		f := q[0]
		s.failures[method] = q[1:]
		c.Error = f.Error
		if c.Error == "" {
			c.Error = "http_" + strconv.Itoa(f.Status)
		}
		s.calls = append(s.calls, c)
		if f.Status == http.StatusTooManyRequests && f.RetryAfter >= 0 && !s.trouble.noRetryAfter {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		writeJSON(w, status, map[string]any{"ok": false, "error": c.Error})
		return
	}
	fail := func(code string) {
		c.Error = code
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
	}
	if token == "" {
		fail("not_authed")
		return
	}
	if c.Blocks != nil {
		if problems := checkBlocks(c.Blocks, maxMessageBlocks); len(problems) > 0 {
			for _, pr := range problems {
				s.violations = append(s.violations, method+": "+pr)
			}
			fail("invalid_blocks")
			return
		}
	}

	switch method {
	case "apps.connections.open":
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + socketPath})
	case "auth.test":
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, map[string]any{
			"ok": true, "url": "https://slackfake.example/", "team": "Slackfake", "user": "accessbot",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID,
		})
	case "chat.postMessage":
		if c.Channel == "" {
			fail("channel_not_found")
			return
		}
		if c.Text == "" && c.Blocks == nil && p["attachments"] == "" {
			fail("no_text")
			return
		}
		if n := utf16Len(c.Text); n > maxMessageText {
			s.violations = append(s.violations, fmt.Sprintf("%s: text is %d characters, max %d", method, n, maxMessageText))
			fail("msg_too_long")
			return
		}
		if c.ThreadTS != "" {
			// Slack threads are one level deep: a reply names a top-level
			// message of the same channel.
			if parent, ok := s.messages[c.Channel+"/"+c.ThreadTS]; !ok || parent.ThreadTS != "" {
				s.violations = append(s.violations, fmt.Sprintf("%s: thread_ts %s is not a top-level message of %s", method, c.ThreadTS, c.Channel))
			}
		}
		c.TS = s.nextTS()
		s.calls = append(s.calls, c)
		s.messages[c.Channel+"/"+c.TS] = c
		writeJSON(w, http.StatusOK, map[string]any{
			"ok": true, "channel": c.Channel, "ts": c.TS,
			"message": map[string]any{"type": "message", "text": c.Text, "ts": c.TS, "bot_id": BotID},
		})
	case "chat.update":
		if _, ok := s.messages[c.Channel+"/"+c.TS]; !ok {
			fail("message_not_found")
			return
		}
		if n := utf16Len(c.Text); n > maxMessageText {
			s.violations = append(s.violations, fmt.Sprintf("%s: text is %d characters, max %d", method, n, maxMessageText))
			fail("msg_too_long")
			return
		}
		s.calls = append(s.calls, c)
		s.messages[c.Channel+"/"+c.TS] = c
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS, "text": c.Text})
	case "chat.postEphemeral":
		if c.Channel == "" {
			fail("channel_not_found")
			return
		}
		if c.User == "" {
			fail("user_not_in_channel")
			return
		}
		if c.Text == "" && c.Blocks == nil {
			fail("no_text")
			return
		}
		c.TS = s.nextTS()
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message_ts": c.TS})
	case "conversations.open":
		users := strings.Split(p["users"], ",")
		if p["users"] == "" {
			fail("users_list_not_supplied")
			return
		}
		if len(users) > 1 {
			// A group DM; accessbot never opens one.
			s.violations = append(s.violations, "conversations.open with several users: "+p["users"])
		}
		c.Channel = DMChannel(users[0])
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusOK, map[string]any{
			"ok": true, "channel": map[string]any{"id": c.Channel, "is_im": true, "user": users[0]},
		})
	case "usergroups.users.list":
		// https://api.slack.com/methods/usergroups.users.list
		group := p["usergroup"]
		c.Channel = group
		if group == "" {
			fail("invalid_arguments")
			return
		}
		members, ok := s.groups[group]
		if !ok {
			fail("no_such_subteam")
			return
		}
		s.calls = append(s.calls, c)
		if members == nil {
			members = []string{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "users": members})
	case "views.publish":
		// https://api.slack.com/methods/views.publish: a Home tab for one
		// user, who must have opened it at least once (the fake does not
		// check that).
		c.User = p["user_id"]
		if c.User == "" {
			fail("invalid_arguments")
			return
		}
		if c.View == nil {
			fail("invalid_arguments")
			return
		}
		if problems := checkHomeView(c.View); len(problems) > 0 {
			for _, pr := range problems {
				s.violations = append(s.violations, method+": "+pr)
			}
			fail("invalid_arguments")
			return
		}
		s.seq++
		id := fmt.Sprintf("V%08d", s.seq)
		s.calls = append(s.calls, c)
		var view map[string]any
		_ = json.Unmarshal(c.View, &view)
		view["id"] = id
		view["team_id"] = TeamID
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "view": view})
	case "views.update":
		// https://api.slack.com/methods/views.update: the view is named by
		// view_id or external_id; a hash, when given, must be the view's
		// latest (the fake takes any).
		if p["view_id"] == "" && p["external_id"] == "" {
			fail("invalid_arguments")
			return
		}
		c.TS = p["view_id"]
		if c.View == nil {
			fail("invalid_arguments")
			return
		}
		if problems := checkView(c.View); len(problems) > 0 {
			for _, pr := range problems {
				s.violations = append(s.violations, method+": "+pr)
			}
			fail("invalid_arguments")
			return
		}
		s.calls = append(s.calls, c)
		var view map[string]any
		_ = json.Unmarshal(c.View, &view)
		view["id"] = p["view_id"]
		view["team_id"] = TeamID
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "view": view})
	case "views.open":
		if c.TriggerID == "" {
			fail("invalid_trigger_id")
			return
		}
		if c.View == nil {
			fail("invalid_arguments")
			return
		}
		if problems := checkView(c.View); len(problems) > 0 {
			for _, pr := range problems {
				s.violations = append(s.violations, method+": "+pr)
			}
			fail("invalid_arguments")
			return
		}
		s.seq++
		id := fmt.Sprintf("V%08d", s.seq)
		s.calls = append(s.calls, c)
		var view map[string]any
		_ = json.Unmarshal(c.View, &view)
		view["id"] = id
		view["team_id"] = TeamID
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "view": view})
	default:
		s.violations = append(s.violations, "unknown Web API method "+method)
		c.Error = "unknown_method"
		s.calls = append(s.calls, c)
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

// serveResponseURL records a post to a response_url, which Slack accepts as
// JSON: {"text":…, "blocks":…, "response_type":…, "replace_original":…}.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	var msg struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err := json.Unmarshal(body, &msg); err != nil {
		s.violation("response_url: body is not JSON: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	c := Call{
		Method: "response_url", User: user, Text: msg.Text, ResponseType: msg.ResponseType,
		ReplaceOriginal: msg.ReplaceOriginal, At: time.Now(),
	}
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
		c.Blocks = msg.Blocks
		if problems := checkBlocks(c.Blocks, maxMessageBlocks); len(problems) > 0 {
			s.mu.Lock()
			for _, pr := range problems {
				s.violations = append(s.violations, "response_url: "+pr)
			}
			c.Error = "invalid_blocks"
			s.calls = append(s.calls, c)
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks"})
			return
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
