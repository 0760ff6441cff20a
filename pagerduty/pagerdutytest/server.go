// Package pagerdutytest is a fake PagerDuty REST API v2 for tests and
// demos: GET /users (the query filter) and GET /oncalls (user_ids[],
// schedule_ids[], since, until, earliest, limit and offset) in
// PagerDuty's JSON shapes, with classic pagination ("limit", "offset",
// "more"). It checks the "Authorization: Token token=…" and Accept
// headers on every request and answers 401 with PagerDuty's error object
// when the token is wrong.
//
// It does not import "testing", so a demo may ship it: requests it does
// not understand are reported through the function given to NewServer
// (typically t.Errorf) and answered 404.
//
//	srv := pagerdutytest.NewServer("token", t.Errorf)
//	defer srv.Close()
//	srv.AddUser("PALICE1", "Alice", "alice@acme.example")
//	srv.AddOnCall(pagerdutytest.OnCall{UserID: "PALICE1", ScheduleID: "PSCHED1", Start: t0, End: t1})
//	c, _ := pagerduty.New(pagerduty.Config{Token: "token", APIURL: srv.URL()})
//
// A Server is safe for concurrent use.
package pagerdutytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OnCall is one on-call period of a user in a schedule. A zero Start or
// End is open (PagerDuty's null, permanent on-call).
type OnCall struct {
	UserID, ScheduleID string
	Start, End         time.Time
	// EscalationLevel is reported as escalation_level; 1 if zero.
	EscalationLevel int
}

type user struct{ id, name, email string }

// Server is a fake PagerDuty.
type Server struct {
	srv   *httptest.Server
	failf func(format string, args ...any)

	mu       sync.Mutex
	token    string
	users    []user
	oncalls  []OnCall
	failNext []int
	requests int
}

// NewServer starts a fake PagerDuty accepting token. failf reports
// unexpected requests; nil panics instead.
func NewServer(token string, failf func(format string, args ...any)) *Server {
	if failf == nil {
		failf = func(format string, args ...any) { panic("pagerdutytest: unexpected request") }
	}
	s := &Server{token: token, failf: failf}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the API base URL (a valid ACCESSBOT_PAGERDUTY_API_URL).
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// AddUser adds a user.
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, user{id, name, email})
}

// AddOnCall adds an on-call period.
func (s *Server) AddOnCall(oc OnCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oncalls = append(s.oncalls, oc)
}

// FailNext answers the next len(statuses) requests with these statuses
// and PagerDuty's error object.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// Requests counts the requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers PagerDuty's error object.
func writeError(w http.ResponseWriter, status, code int, message string, errs ...string) {
	e := map[string]any{"message": message, "code": code}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.Method != http.MethodGet || (r.URL.Path != "/users" && r.URL.Path != "/oncalls") {
		s.failf("pagerdutytest: unexpected request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	if r.Header.Get("Authorization") != "Token token="+s.token {
		writeError(w, http.StatusUnauthorized, 2006, "Unauthorized")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		s.failf("pagerdutytest: Accept header %q, want application/vnd.pagerduty+json;version=2", r.Header.Get("Accept"))
	}
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		writeError(w, status, 2001, http.StatusText(status))
		return
	}
	q := r.URL.Query()
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	if limit <= 0 || limit > 100 || offset < 0 {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Limit must be between 1 and 100")
		return
	}
	var items []any
	key := "users"
	if r.URL.Path == "/users" {
		query := strings.ToLower(q.Get("query"))
		for _, u := range s.users {
			if strings.Contains(strings.ToLower(u.name), query) || strings.Contains(strings.ToLower(u.email), query) {
				items = append(items, map[string]any{
					"id": u.id, "type": "user", "name": u.name, "summary": u.name, "email": u.email,
					"self": s.srv.URL + "/users/" + u.id, "html_url": "https://acme.pagerduty.com/users/" + u.id,
				})
			}
		}
	} else {
		key = "oncalls"
		var ok bool
		if items, ok = s.oncallItems(w, r); !ok {
			return
		}
	}
	page := []any{}
	if offset < len(items) {
		page = items[offset:min(offset+limit, len(items))]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		key: page, "limit": limit, "offset": offset, "more": offset+limit < len(items), "total": nil,
	})
}

// oncallItems filters the on-calls as GET /oncalls does.
func (s *Server) oncallItems(w http.ResponseWriter, r *http.Request) ([]any, bool) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "user_ids[]", "schedule_ids[]", "since", "until", "earliest", "limit", "offset", "time_zone":
		default:
			s.failf("pagerdutytest: unexpected /oncalls parameter %q", k)
		}
	}
	now := time.Now().UTC()
	since, until := now, now
	var err error
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Since is not a valid date")
			return nil, false
		}
	}
	if v := q.Get("until"); v != "" {
		if until, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Until is not a valid date")
			return nil, false
		}
	}
	if until.Before(since) {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Until must be after since")
		return nil, false
	}
	users, schedules := q["user_ids[]"], q["schedule_ids[]"]
	var items []any
	for _, oc := range s.oncalls {
		if (len(users) > 0 && !slices.Contains(users, oc.UserID)) || (len(schedules) > 0 && !slices.Contains(schedules, oc.ScheduleID)) {
			continue
		}
		if (!oc.End.IsZero() && !oc.End.After(since)) || (!oc.Start.IsZero() && oc.Start.After(until)) {
			continue
		}
		name := oc.UserID
		for _, u := range s.users {
			if u.id == oc.UserID {
				name = u.name
			}
		}
		level := max(oc.EscalationLevel, 1)
		item := map[string]any{
			"escalation_policy": map[string]any{"id": "PEP" + oc.ScheduleID, "type": "escalation_policy_reference", "summary": "Escalation policy"},
			"escalation_level":  level,
			"schedule":          map[string]any{"id": oc.ScheduleID, "type": "schedule_reference", "summary": "Schedule " + oc.ScheduleID},
			"user":              map[string]any{"id": oc.UserID, "type": "user_reference", "summary": name},
			"start":             nil,
			"end":               nil,
		}
		if !oc.Start.IsZero() {
			item["start"] = oc.Start.UTC().Format(time.RFC3339)
		}
		if !oc.End.IsZero() {
			item["end"] = oc.End.UTC().Format(time.RFC3339)
		}
		items = append(items, item)
	}
	return items, true
}
