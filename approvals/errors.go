package approvals

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Adapters turn them into user-facing text; the cause of an
// EINTERNAL error is logged and never shown to users.
const (
	EINVALID   = "invalid"   // bad input: the message says what to fix
	ENOTFOUND  = "not_found" // no such request or resource
	ECONFLICT  = "conflict"  // the state does not allow it (already decided, duplicate…)
	EFORBIDDEN = "forbidden" // the actor may not do this
	EINTERNAL  = "internal"  // our fault; details are in the log
)

// Error is the one error type of the domain. Message is safe to show to the
// user who caused it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic text so that no cause (a path, a DSN, a token) reaches a user.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the operators have the details in the log"
}

// TransientError marks a provider failure worth retrying: a 5xx, a timeout,
// a rate limit, an exec plugin exiting 75. Anything else is permanent.
type TransientError struct {
	Err error
	// RetryAfter, when set, is the earliest sensible retry (a rate limit reset).
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps err as retryable. It returns nil for nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// Retryable reports whether err (or anything it wraps) is a TransientError.
func Retryable(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}
