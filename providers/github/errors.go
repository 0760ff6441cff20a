package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v60/github"

	"github.com/accessbot/accessbot/approvals"
)

// What a call touches, to choose the hint of a permanent error.
const (
	kindTeam = "team"
	kindRepo = "repo"
)

// call describes one API request for error messages: "PUT /orgs/acme/…".
type call struct {
	method, path, kind string
}

// secondaryRetryAfter is the wait GitHub asks for after a secondary rate
// limit that names none ("wait at least one minute").
const secondaryRetryAfter = time.Minute

// apiError is a classified failure: msg is written for operators (what
// failed, and what to check) and holds no credential; cause is kept for
// errors.As (*github.ErrorResponse and the like).
type apiError struct {
	msg   string
	cause error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.cause }

// fail turns an error of call c into a permanent error or an
// *approvals.TransientError (CONVENTIONS item 5).
func (p *Provider) fail(c call, err error) error {
	msg, transient, retryAfter := classify(c, err)
	msg = "github: " + c.method + " " + c.path + ": " + msg
	if p.secret != "" {
		msg = strings.ReplaceAll(msg, p.secret, "[redacted]")
	}
	e := &apiError{msg: msg, cause: err}
	if transient {
		return &approvals.TransientError{Err: e, RetryAfter: retryAfter}
	}
	return e
}

// classify explains err and says whether it is worth retrying, and when.
func classify(c call, err error) (msg string, transient bool, retryAfter time.Duration) {
	var (
		rle *gh.RateLimitError
		are *gh.AbuseRateLimitError
		hte *ghinstallation.HTTPError
		ere *gh.ErrorResponse
		ace *gh.AcceptedError
		ure *url.Error
		nte net.Error
	)
	switch {
	case errors.As(err, &rle):
		reset := rle.Rate.Reset.Time
		return fmt.Sprintf("rate limit exceeded (%d requests/hour); it resets at %s", rle.Rate.Limit, reset.UTC().Format(time.RFC3339)),
			true, atLeastSecond(time.Until(reset))
	case errors.As(err, &are):
		d := secondaryRetryAfter
		if are.RetryAfter != nil && *are.RetryAfter > 0 {
			d = *are.RetryAfter
		}
		return fmt.Sprintf("secondary rate limit exceeded; retry after %s", d.Round(time.Second)), true, d
	case errors.As(err, &hte) && hte.Response != nil:
		// Minting the installation token failed with an HTTP answer.
		status := hte.Response.StatusCode
		msg := fmt.Sprintf("could not get a GitHub App installation token: %s", statusText(status))
		if isTransientStatus(status, hte.Response.Header) {
			return msg, true, retryAfterHeader(hte.Response.Header)
		}
		return msg + fmt.Sprintf(" — check %s, %s and the private key in %s", envAppID, envInstallationID, envPrivateKeyFile), false, 0
	case errors.As(err, &ere) && ere.Response != nil:
		status := ere.Response.StatusCode
		msg := statusText(status)
		if detail := errorDetail(ere); detail != "" {
			msg += ": " + detail
		}
		if isTransientStatus(status, ere.Response.Header) || strings.Contains(strings.ToLower(ere.Message), "secondary rate limit") {
			d := retryAfterHeader(ere.Response.Header)
			if d == 0 && (status == http.StatusForbidden || status == http.StatusTooManyRequests) {
				d = secondaryRetryAfter
			}
			return msg, true, d
		}
		return msg + " — " + hint(c.kind, status), false, 0
	case errors.As(err, &ace):
		return "GitHub accepted the request but has not finished it (202)", true, 0
	case errors.Is(err, errRedirect):
		return err.Error() + " — check " + envAPIURL, false, 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The attempt did not finish: its outcome is unknown, and every
		// call is safe to repeat.
		return "attempt did not finish: " + err.Error(), true, 0
	case errors.As(err, &nte), errors.As(err, &ure), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "network error: " + err.Error(), true, 0
	default:
		return err.Error(), false, 0
	}
}

// isTransientStatus reports whether an HTTP answer is worth retrying: 5xx,
// 429, and a 403 that is a rate limit in disguise.
func isTransientStatus(status int, h http.Header) bool {
	switch {
	case status >= 500, status == http.StatusTooManyRequests:
		return true
	case status == http.StatusForbidden:
		return h.Get("Retry-After") != "" || h.Get("X-RateLimit-Remaining") == "0"
	}
	return false
}

// retryAfterHeader reads Retry-After (seconds) or X-RateLimit-Reset (unix
// seconds); 0 when neither says anything.
func retryAfterHeader(h http.Header) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return atLeastSecond(time.Duration(s) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return atLeastSecond(time.Until(t))
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return atLeastSecond(time.Until(time.Unix(s, 0)))
		}
	}
	return 0
}

func atLeastSecond(d time.Duration) time.Duration {
	return max(d, time.Second)
}

func statusText(status int) string {
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// errorDetail returns GitHub's message when it adds something to the
// status line, with the field errors of a 422.
func errorDetail(e *gh.ErrorResponse) string {
	var parts []string
	if e.Message != "" && !strings.EqualFold(e.Message, http.StatusText(e.Response.StatusCode)) {
		parts = append(parts, e.Message)
	}
	for _, fe := range e.Errors {
		switch {
		case fe.Message != "":
			parts = append(parts, fe.Message)
		case fe.Code != "":
			parts = append(parts, strings.TrimSpace(fe.Field+" "+fe.Code))
		}
	}
	return strings.Join(parts, "; ")
}

// hint says what to check after a permanent failure.
func hint(kind string, status int) string {
	switch status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("GitHub refused the credentials: check %s or the GitHub App settings", envToken)
	case http.StatusForbidden:
		if kind == kindTeam {
			return "the token may not manage the team: it needs the admin:org scope (classic token) or Members read and write (fine-grained token, GitHub App)"
		}
		return "the token may not administer the repository: it needs the repo scope and admin rights (classic token) or Administration read and write (fine-grained token, GitHub App)"
	case http.StatusNotFound:
		if kind == kindTeam {
			return "check org/team names (the team's slug) and that the token can manage the team"
		}
		return "check org/repo names, the login, and that the token can administer the repository"
	case http.StatusUnprocessableEntity:
		return "GitHub refused the change; check the login and the permission"
	}
	return "GitHub refused the request"
}

// isNotFound reports whether err is a 404 answer.
func isNotFound(err error) bool {
	var ere *gh.ErrorResponse
	return errors.As(err, &ere) && ere.Response != nil && ere.Response.StatusCode == http.StatusNotFound
}
