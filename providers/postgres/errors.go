package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accessbot/accessbot/approvals"
)

// SQLSTATEs the provider looks at.
const (
	codeUndefinedObject       = "42704"
	codeInsufficientPrivilege = "42501"
)

// dbError is a classified failure: msg is written for operators and holds
// no secret; cause is kept for errors.As (*pgconn.PgError).
type dbError struct {
	msg   string
	cause error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.cause }

// fail turns an error of operation op into a permanent error or an
// *approvals.TransientError (CONVENTIONS item 5), with every secret of the
// DSN taken out of its message.
func (p *Provider) fail(op string, err error) error {
	detail, transient := classify(err)
	// pgx puts one line per address tried: keep the message on one line.
	detail = strings.NewReplacer(":\n\t", ": ", "\n\t", "; ", "\n", " ").Replace(detail)
	for _, s := range p.secrets {
		detail = strings.ReplaceAll(detail, s, "[redacted]")
	}
	e := &dbError{msg: "postgres: " + op + ": " + detail, cause: err}
	if transient {
		return approvals.Transient(e)
	}
	return e
}

// classify explains err and says whether it is worth retrying.
func classify(err error) (msg string, transient bool) {
	var (
		pge *pgconn.PgError
		ce  *pgconn.ConnectError
		ne  net.Error
	)
	switch {
	case errors.As(err, &pge):
		msg = pge.Message + " (SQLSTATE " + pge.Code + ")"
		if pge.Code == codeInsufficientPrivilege {
			msg += ": the provider's login role needs ADMIN OPTION on the role (see setup.sql)"
		}
		return msg, transientCode(pge.Code)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		// The attempt did not finish: its outcome is unknown, and GRANT
		// and REVOKE are safe to repeat.
		return "attempt did not finish: " + err.Error(), true
	case errors.As(err, &ce):
		return "cannot connect (check " + envDSN + " and the server): " + err.Error(), true
	case pgconn.SafeToRetry(err), errors.Is(err, pgconn.ErrConnClosed),
		errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection failed: " + err.Error(), true
	}
	return err.Error(), false
}

// transientCode reports whether a SQLSTATE is worth retrying: connection
// exceptions (08), insufficient resources (53), serialization failure and
// deadlock (40001, 40P01), lock not available (55P03), a cancelled or timed
// out statement (57014) and server shutdown or restart (57P0x).
func transientCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P0"):
		return true
	}
	switch code {
	case "40001", "40P01", "55P03", "57014":
		return true
	}
	return false
}

// sqlState returns the SQLSTATE of the server error in err's chain, or "".
func sqlState(err error) string {
	var pge *pgconn.PgError
	if errors.As(err, &pge) {
		return pge.Code
	}
	return ""
}
