package approvals

import "strings"

// ActionIndexRepaired records that the store found index entries that did
// not match its requests at start and rewrote them from the requests.
// Detail names each repair. It changes no request.
const ActionIndexRepaired = "index_repaired"

// StatusAfter returns the status of a request after event ev, one of its
// events, given its status before (empty before its first event). It is
// how the audit log alone tells what state each request is in, which the
// store checks its requests against.
//
// Most events carry the resulting status as their Outcome, but not all:
// the events of an extension carry the extension's state, a failed revoke
// says "failed" of an attempt while the grant stays active, and an
// undeliverable message says "failed" of the message. So the status is
// derived from the action, and Outcome is read only where one action has
// two results.
func StatusAfter(ev Event, before Status) Status {
	switch ev.Action {
	case ActionRequested:
		return StatusPending
	case ActionApproved, ActionBreakGlass, ActionAutoApproved:
		return StatusApproved
	case ActionDenied:
		return StatusDenied
	case ActionCancelled:
		return StatusCancelled
	case ActionTimedOut:
		return StatusTimedOut
	case ActionAlreadyHeld:
		return StatusAlreadyHeld
	case ActionGranting:
		return StatusGranting
	case ActionGranted:
		return StatusActive
	case ActionRevoked:
		return StatusRevoked
	case ActionExpired:
		return StatusExpired
	case ActionGrantFailed:
		// A grant that failed and whose undoing failed too stays an
		// active grant, revoked by the next sweep (keepRevokeDue).
		if ev.Outcome == "revoke_due" {
			return StatusActive
		}
		return StatusFailed
	case ActionUndeliverable:
		// Only an approval round nobody could be asked closes the request.
		if ev.Outcome == string(StatusFailed) && strings.HasPrefix(ev.Detail, undeliverableFailed) {
			return StatusFailed
		}
	}
	// approval, revoke_requested, revoke_failed, the extension events and
	// anything else leave the status as it was.
	return before
}

// undeliverableFailed starts the Detail of an undeliverable event that
// failed its request.
const undeliverableFailed = "approval failed: "
