package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAPIURL is PagerDuty's REST API (US service region; the EU one is
// https://api.eu.pagerduty.com).
const DefaultAPIURL = "https://api.pagerduty.com"

// DefaultTimeout bounds one HTTP attempt when Config.HTTPClient is nil.
const DefaultTimeout = 10 * time.Second

// userCacheTTL is how long an email's PagerDuty user ID is remembered.
const userCacheTTL = 10 * time.Minute

// pageSize is the limit asked of list endpoints (PagerDuty's maximum).
const pageSize = 100

// Environment variables, for configuration errors and the package doc.
const (
	envToken  = "ACCESSBOT_PAGERDUTY_TOKEN"
	envAPIURL = "ACCESSBOT_PAGERDUTY_API_URL"
)

// Config says how to reach PagerDuty.
type Config struct {
	// Token is a REST API key (ACCESSBOT_PAGERDUTY_TOKEN, or the file named
	// by ACCESSBOT_PAGERDUTY_TOKEN_FILE): a read-only key is enough.
	Token string
	// APIURL is the REST API base URL (ACCESSBOT_PAGERDUTY_API_URL); empty
	// means DefaultAPIURL.
	APIURL string
	// HTTPClient supplies the transport and per-attempt timeout; default
	// http.DefaultTransport with DefaultTimeout.
	HTTPClient *http.Client
	// Now is the clock of the user cache; time.Now if nil.
	Now func() time.Time
}

// Client asks PagerDuty who is on call. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	token  string
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	users map[string]cachedUser // lower-case email -> user
}

type cachedUser struct {
	id      string
	expires time.Time
}

// ErrUserNotFound is returned (wrapped) when no PagerDuty user has the
// email.
var ErrUserNotFound = errors.New("no PagerDuty user with this email")

// APIError is a failed call: the HTTP status and PagerDuty's error object
// ({"error": {"message": …, "code": …}}). It never holds the token.
type APIError struct {
	Method, Path string
	Status       int
	Code         int
	Message      string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("pagerduty: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " — check " + envToken
	case http.StatusForbidden:
		msg += " — the API key may not read users, schedules or on-calls"
	}
	return msg
}

// Temporary reports whether retrying later may help (5xx, 429).
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("pagerduty: %s is not set", envToken)
	}
	raw := cfg.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("pagerduty: %s must be an absolute https URL like %s", envAPIURL, DefaultAPIURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	// Never follow a redirect: the token must go to the configured host only.
	client := &http.Client{Transport: hc.Transport, Timeout: hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Client{base: u, token: cfg.Token, client: client, now: now, users: map[string]cachedUser{}}, nil
}

// OnCall reports whether the PagerDuty user with this email is on call at
// the instant at in one of the schedules, and in which (the first of
// scheduleIDs, in their order, that has them on call). Any error means "do
// not know": the caller falls back to normal approval. An email no
// PagerDuty user has is ErrUserNotFound (wrapped).
//
// API docs: https://developer.pagerduty.com/api-reference/3a6b910f11050-list-all-of-the-on-calls
func (c *Client) OnCall(ctx context.Context, email string, scheduleIDs []string, at time.Time) (scheduleID string, onCall bool, err error) {
	if len(scheduleIDs) == 0 {
		return "", false, nil
	}
	userID, err := c.userID(ctx, email)
	if err != nil {
		return "", false, err
	}
	q := url.Values{}
	q.Set("user_ids[]", userID)
	for _, id := range scheduleIDs {
		q.Add("schedule_ids[]", id)
	}
	// Every on-call period overlapping [at, at+1s] is returned; the exact
	// instant is checked below.
	q.Set("since", at.UTC().Format(time.RFC3339))
	q.Set("until", at.Add(time.Second).UTC().Format(time.RFC3339))
	found := map[string]bool{}
	for offset := 0; ; offset += pageSize {
		q.Set("limit", strconv.Itoa(pageSize))
		q.Set("offset", strconv.Itoa(offset))
		var page struct {
			OnCalls []struct {
				User     *reference `json:"user"`
				Schedule *reference `json:"schedule"`
				Start    *time.Time `json:"start"`
				End      *time.Time `json:"end"`
			} `json:"oncalls"`
			More bool `json:"more"`
		}
		if err := c.get(ctx, "/oncalls", q, &page); err != nil {
			return "", false, err
		}
		for _, oc := range page.OnCalls {
			// start and end are null for permanent on-call; a period
			// that ends at `at` is over.
			if oc.User == nil || oc.User.ID != userID || oc.Schedule == nil ||
				(oc.Start != nil && oc.Start.After(at)) || (oc.End != nil && !oc.End.After(at)) {
				continue
			}
			found[oc.Schedule.ID] = true
		}
		if !page.More || len(page.OnCalls) == 0 {
			break
		}
	}
	for _, id := range scheduleIDs {
		if found[id] {
			return id, true, nil
		}
	}
	return "", false, nil
}

type reference struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
}

// userID finds the PagerDuty user whose email is email (case-insensitive,
// exactly: the query also matches names and parts of emails), and caches
// it.
//
// API docs: https://developer.pagerduty.com/api-reference/c96e889522dd6-list-users
func (c *Client) userID(ctx context.Context, email string) (string, error) {
	key := strings.ToLower(strings.TrimSpace(email))
	if key == "" || !strings.Contains(key, "@") {
		return "", fmt.Errorf("pagerduty: %q is not an email address", email)
	}
	now := c.now()
	c.mu.Lock()
	if u, ok := c.users[key]; ok && now.Before(u.expires) {
		c.mu.Unlock()
		return u.id, nil
	}
	c.mu.Unlock()
	q := url.Values{"query": {key}}
	for offset := 0; ; offset += pageSize {
		q.Set("limit", strconv.Itoa(pageSize))
		q.Set("offset", strconv.Itoa(offset))
		var page struct {
			Users []struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"users"`
			More bool `json:"more"`
		}
		if err := c.get(ctx, "/users", q, &page); err != nil {
			return "", err
		}
		for _, u := range page.Users {
			if strings.EqualFold(u.Email, key) && u.ID != "" {
				c.mu.Lock()
				c.users[key] = cachedUser{id: u.ID, expires: now.Add(userCacheTTL)}
				c.mu.Unlock()
				return u.ID, nil
			}
		}
		if !page.More || len(page.Users) == 0 {
			return "", fmt.Errorf("pagerduty: %s: %w", email, ErrUserNotFound)
		}
	}
}

// get makes one GET call and decodes the answer into out.
func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("pagerduty: GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Token token="+c.token)
	req.Header.Set("Accept", "application/vnd.pagerduty+json;version=2")
	resp, err := c.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the email; the error needs only the cause
		}
		return fmt.Errorf("pagerduty: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("pagerduty: GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Method: "GET", Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &eb) == nil {
			e.Message, e.Code = eb.Error.Message, eb.Error.Code
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("pagerduty: GET %s: cannot decode the answer: %v", path, err)
	}
	return nil
}
