package duo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Defaults.
const (
	// DefaultTimeout is how long Push waits for the user's answer; Duo
	// itself gives up on a push after about a minute.
	DefaultTimeout = 60 * time.Second
	// DefaultPollInterval is the pause between two auth_status calls.
	DefaultPollInterval = 2 * time.Second
	// requestTimeout bounds one HTTP attempt when Config.HTTPClient is nil.
	requestTimeout = 15 * time.Second
)

// Environment variables, for configuration errors and the package doc.
const (
	envHost     = "ACCESSBOT_DUO_HOST"
	envIKey     = "ACCESSBOT_DUO_IKEY"
	envSKeyFile = "ACCESSBOT_DUO_SKEY_FILE"
)

// Config says how to reach Duo's Auth API.
type Config struct {
	// Host is the API hostname of the Auth API application
	// (ACCESSBOT_DUO_HOST), like api-XXXXXXXX.duosecurity.com.
	Host string
	// IKey is the integration key (ACCESSBOT_DUO_IKEY) and SKey the secret
	// key, read by the server from ACCESSBOT_DUO_SKEY_FILE.
	IKey, SKey string
	// BaseURL overrides https://Host, for tests; the host of the URL is
	// the one signed.
	BaseURL string
	// Timeout is how long Push waits for the user's answer; DefaultTimeout
	// if zero.
	Timeout time.Duration
	// PollInterval is the pause between two status checks;
	// DefaultPollInterval if zero.
	PollInterval time.Duration
	// HTTPClient supplies the transport and the per-attempt timeout.
	HTTPClient *http.Client
	// Now is the clock of the Date header; time.Now if nil.
	Now func() time.Time
}

// Client sends Duo Push step-up requests. It is safe for concurrent use.
type Client struct {
	base         *url.URL
	ikey, skey   string
	timeout      time.Duration
	pollInterval time.Duration
	client       *http.Client
	now          func() time.Time
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	var missing []string
	if cfg.Host == "" && cfg.BaseURL == "" {
		missing = append(missing, envHost)
	}
	if cfg.IKey == "" {
		missing = append(missing, envIKey)
	}
	if cfg.SKey == "" {
		missing = append(missing, envSKeyFile)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("duo: set %s", strings.Join(missing, ", "))
	}
	raw := cfg.BaseURL
	if raw == "" {
		if !hostPattern.MatchString(cfg.Host) {
			return nil, fmt.Errorf("duo: %s %q is not a host name like api-XXXXXXXX.duosecurity.com", envHost, cfg.Host)
		}
		raw = "https://" + cfg.Host
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, errors.New("duo: the API URL must be an absolute https URL")
	}
	u.Path, u.RawPath, u.RawQuery, u.Fragment = "", "", "", ""
	c := &Client{base: u, ikey: cfg.IKey, skey: cfg.SKey, timeout: cfg.Timeout, pollInterval: cfg.PollInterval, now: cfg.Now}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.pollInterval <= 0 {
		c.pollInterval = DefaultPollInterval
	}
	if c.now == nil {
		c.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	// The credentials are per request and per host: never follow a redirect.
	c.client = &http.Client{Transport: hc.Transport, Timeout: hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// ErrNotApproved matches (errors.Is) every *DeniedError.
var ErrNotApproved = errors.New("duo: push not approved")

// DeniedError says why a push did not allow the request: the user denied
// it or reported it as fraud, it timed out (at Duo or waiting here), the
// user has no device that takes pushes, or is locked out.
type DeniedError struct {
	// Status is Duo's status ("deny", "fraud", "timeout", "locked_out",
	// "push_failed" …), or "timeout" when Config.Timeout passed first.
	Status string
	// Message is Duo's status_msg, fit to show to the user.
	Message string
}

func (e *DeniedError) Error() string {
	if e.Message == "" {
		return "duo: push not approved: " + e.Status
	}
	return "duo: push not approved: " + e.Status + ": " + e.Message
}

// Is makes errors.Is(err, ErrNotApproved) true.
func (e *DeniedError) Is(target error) bool { return target == ErrNotApproved }

// APIError is a call Duo refused: {"stat": "FAIL", "code": …, "message": …}.
type APIError struct {
	Method, Path string
	Status       int
	Code         int
	Message      string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("duo: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != 0 {
		msg += fmt.Sprintf(": %d", e.Code)
	}
	if e.Message != "" {
		msg += " " + e.Message
	}
	if e.Code == 40101 || e.Code == 40102 || e.Code == 40103 || e.Code == 40104 {
		msg += fmt.Sprintf(" — check %s, %s and %s, and the clock", envHost, envIKey, envSKeyFile)
	}
	return msg
}

// Temporary reports whether retrying later may help (5xx, 429).
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// authResult is the response of /auth and /auth_status.
type authResult struct {
	TxID      string `json:"txid"`
	Result    string `json:"result"`
	Status    string `json:"status"`
	StatusMsg string `json:"status_msg"`
}

// Push asks username to approve with Duo Push on their first capable device
// (device=auto), showing reason in the push. It starts the authentication
// asynchronously (POST /auth/v2/auth with async=1) and polls
// /auth/v2/auth_status until Duo has a result, Config.Timeout passes or
// ctx ends.
//
// It returns true only when Duo's result is "allow". A denial, a fraud
// report, a timeout or a user who cannot be pushed to is false with a
// *DeniedError (errors.Is(err, ErrNotApproved)); anything else (Duo
// unreachable, credentials refused: *APIError) is false with another
// error. Either way the caller does not proceed.
//
// API docs: https://duo.com/docs/authapi#/auth
//
// API docs: https://duo.com/docs/authapi#/auth_status
func (c *Client) Push(ctx context.Context, username, reason string) (allowed bool, err error) {
	if username == "" {
		return false, errors.New("duo: no username")
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errWaitOver)
	defer cancel()
	params := url.Values{
		"username": {username},
		"factor":   {"push"},
		"device":   {"auto"},
		"async":    {"1"},
		"type":     {"Access request"},
	}
	if reason != "" {
		params.Set("pushinfo", url.Values{"reason": {truncate(reason, 200)}}.Encode())
	}
	var res authResult
	if err := c.call(ctx, http.MethodPost, "/auth/v2/auth", params, &res); err != nil {
		return false, c.timedOut(ctx, err)
	}
	if res.TxID == "" {
		// Duo answered synchronously: a result without a transaction.
		return decide(res)
	}
	for {
		var st authResult
		if err := c.call(ctx, http.MethodGet, "/auth/v2/auth_status", url.Values{"txid": {res.TxID}}, &st); err != nil {
			return false, c.timedOut(ctx, err)
		}
		if st.Result != "waiting" {
			return decide(st)
		}
		t := time.NewTimer(c.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, c.timedOut(ctx, ctx.Err())
		case <-t.C:
		}
	}
}

// errWaitOver is the cause of the end of Push's own wait.
var errWaitOver = errors.New("push wait over")

// timedOut turns the end of Push's own wait into a DeniedError; the end of
// the caller's context stays an error of its own.
func (c *Client) timedOut(ctx context.Context, err error) error {
	// Whatever the call was doing when the wait ended (dialling, reading
	// an answer cut short), the push was not allowed in time.
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errWaitOver) {
		return &DeniedError{Status: "timeout", Message: fmt.Sprintf("no answer within %s", c.timeout)}
	}
	return err
}

// decide maps Duo's final result.
func decide(r authResult) (bool, error) {
	if r.Result == "allow" {
		return true, nil
	}
	status := r.Status
	if status == "" {
		status = r.Result
	}
	return false, &DeniedError{Status: status, Message: r.StatusMsg}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// call makes one signed request: parameters in the query for GET, in a
// form-encoded body for POST, both signed as Duo canonicalizes them.
func (c *Client) call(ctx context.Context, method, path string, params url.Values, out *authResult) error {
	date := c.now().UTC().Format(time.RFC1123Z)
	u := *c.base
	u.Path = path
	var body io.Reader
	if method == http.MethodGet {
		u.RawQuery = params.Encode()
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("duo: %s %s: %w", method, path, err)
	}
	req.Header.Set("Date", date)
	req.Header.Set("Authorization", authorization(c.ikey, c.skey, Canonical(date, method, u.Host, path, params)))
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the transaction, not worth a log line
		}
		return fmt.Errorf("duo: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("duo: %s %s: %w", method, path, err)
	}
	var env struct {
		Stat     string          `json:"stat"`
		Code     int             `json:"code"`
		Message  string          `json:"message"`
		Response json.RawMessage `json:"response"`
	}
	jerr := json.Unmarshal(data, &env)
	if resp.StatusCode != http.StatusOK || jerr != nil || env.Stat != "OK" {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Code: env.Code, Message: env.Message}
	}
	if err := json.Unmarshal(env.Response, out); err != nil {
		return fmt.Errorf("duo: %s %s: cannot decode the answer: %v", method, path, err)
	}
	return nil
}
