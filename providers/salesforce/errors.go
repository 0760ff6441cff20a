package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/accessbot/accessbot/approvals"
)

// maxBody bounds what is read of one answer.
const maxBody = 8 << 20

// Salesforce error codes the provider acts on.
const (
	codeDuplicateValue  = "DUPLICATE_VALUE"
	codeRequestLimit    = "REQUEST_LIMIT_EXCEEDED"
	codeInvalidSession  = "INVALID_SESSION_ID"
	codeEntityIsDeleted = "ENTITY_IS_DELETED"
	codeNotFound        = "NOT_FOUND"
	codeUnableToLock    = "UNABLE_TO_LOCK_ROW"
	codeServerUnavail   = "SERVER_UNAVAILABLE"
)

// APIError is a failed REST call: the HTTP status and the first entry of
// Salesforce's error array ([{"message": …, "errorCode": …}]). Its message
// never holds a credential.
type APIError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.Path, statusText(e.Status))
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// errorBody decodes Salesforce's error array; an answer of another shape
// (a proxy's HTML page) leaves code and message empty.
func errorBody(body []byte) (code, message string) {
	var list []struct {
		Message   string `json:"message"`
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		return list[0].ErrorCode, list[0].Message
	}
	return "", ""
}

// apiError is a failure of the provider's own making (a token refused, a
// missing user) with a message written for operators.
type apiError struct {
	msg    string
	status int
	cause  error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.cause }

// transient marks err as worth retrying.
func transient(err error) error { return approvals.Transient(err) }

// classifyAPI decides whether a failed REST call is worth retrying: 5xx,
// 429, the API request limit (403 REQUEST_LIMIT_EXCEEDED), row locks and a
// 401 that a fresh token did not cure (the next attempt gets yet another
// token) are transient; other 4xx answers are permanent.
func classifyAPI(e *APIError) error {
	switch {
	case e.Status >= 500, e.Status == http.StatusTooManyRequests, e.Status == http.StatusUnauthorized,
		e.Code == codeRequestLimit, e.Code == codeUnableToLock, e.Code == codeServerUnavail:
		return transient(e)
	}
	return e
}

// networkError classifies a failure to get an answer: the outcome of the
// call is unknown, and every call the provider makes is safe to repeat.
func networkError(what string, err error) error {
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return transient(&apiError{msg: what + ": attempt did not finish: " + cause(err), cause: err})
	case errors.As(err, &ne), errors.As(err, &ue), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return transient(&apiError{msg: what + ": network error: " + cause(err), cause: err})
	}
	return &apiError{msg: what + ": " + cause(err), cause: err}
}

// cause describes err without the URL a *url.Error carries: the query
// string of a SOQL call holds usernames, and nothing in a URL is worth
// repeating in a log line.
func cause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func statusText(status int) string {
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// hint says what to check after a permanent failure of a REST call.
func hint(e *APIError) string {
	switch {
	case e.Status == http.StatusForbidden || e.Code == "INSUFFICIENT_ACCESS_OR_READONLY" || e.Code == "INSUFFICIENT_ACCESS":
		return "the integration user may not assign this permission set: see the salesforce section of the README"
	case e.Code == "INVALID_CROSS_REFERENCE_KEY":
		return "Salesforce does not know the user or the permission set"
	case e.Code == "INVALID_TYPE" || e.Code == "INVALID_FIELD" || e.Status == http.StatusNotFound:
		return "check " + envAPIVersion + " (API version 45.0 or later is needed for permission set groups)"
	}
	return "Salesforce refused the request"
}

// withHint appends the hint to a permanent API error.
func withHint(err error) error {
	var e *APIError
	if errors.As(err, &e) && !approvals.Retryable(err) {
		return &apiError{msg: err.Error() + " — " + hint(e), status: e.Status, cause: e}
	}
	return err
}

// isCode reports whether err is an API error with one of the codes.
func isCode(err error, codes ...string) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if strings.EqualFold(e.Code, c) {
			return true
		}
	}
	return false
}
