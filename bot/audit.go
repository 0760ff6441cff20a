package bot

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Block IDs of audit channel posts.
const (
	blockAudit       = "audit"
	blockAuditState  = "audit_state"
	blockAuditThread = "audit_thread"
)

// auditParentText is the parent of a request's audit thread (DESIGN.md
// A10): the latest action, the request ID, the resource and the requester,
// then where the request stands now.
func auditParentText(r *approvals.Request, ev approvals.Event) string {
	return cut(auditHead(ev)+" · "+auditAsked(r)+breakGlassNote(r)+"\n*Now:* "+auditState(r), maxSectionText)
}

// auditParentBlocks renders the parent: the event and the request, the
// current state, and a pointer to the thread.
func auditParentBlocks(r *approvals.Request, ev approvals.Event) []slack.Block {
	return []slack.Block{
		section(blockAudit, auditHead(ev)+" · "+auditAsked(r)+breakGlassNote(r)),
		section(blockAuditState, "*Now:* "+auditState(r)),
		contextBlock(blockAuditThread, fmt.Sprintf("Request `%s` · filed %s · every event of this request is in the thread",
			escape(r.ID), when(r.CreatedAt))),
	}
}

// auditHead is the start of every audit post: the action in bold, the
// request ID and the resource.
func auditHead(ev approvals.Event) string {
	head := fmt.Sprintf("*%s*", strings.ReplaceAll(ev.Action, "_", " "))
	if ev.RequestID != "" {
		head += fmt.Sprintf(" · `%s`", escape(ev.RequestID))
	}
	if ev.Resource != "" {
		head += fmt.Sprintf(" · *%s*", escape(ev.Resource))
	}
	return head
}

// auditAsked says who asked for what, for how long and why.
func auditAsked(r *approvals.Request) string {
	return fmt.Sprintf("%s asked for %s as `%s`. Reason: %s", mention(r.Requester),
		approvals.FormatDuration(r.Duration), userText(r.Identity, 200), reasonText(r.Reason, maxReason))
}

// auditState is where r stands, in the words of the audit channel:
// pending, approved by X, active until T, expired, revoked by Y, failed.
func auditState(r *approvals.Request) string {
	by := ""
	if len(r.Approvals) > 0 {
		by = ", approved by " + mentionList(r.Approvers())
	}
	switch r.Status {
	case approvals.StatusPending:
		if len(r.Approvals) == 0 {
			return fmt.Sprintf(":hourglass: pending (0 of %s)", approvals.Count(requiredOf(r), "approval"))
		}
		return fmt.Sprintf(":hourglass: pending (%d of %s: %s)", len(r.Approvals), approvals.Count(requiredOf(r), "approval"), mentionList(r.Approvers()))
	case approvals.StatusApproved, approvals.StatusGranting:
		return fmt.Sprintf(":white_check_mark: approved by %s; granting", mentionList(r.Approvers()))
	case approvals.StatusActive:
		s := fmt.Sprintf(":key: active until %s%s", when(r.ExpiresAt), by)
		if r.GrantUncertain {
			s = ":x: grant failed; the provider may have granted part of it, and removing it is due"
		}
		if r.RevokeRequestedBy != "" {
			s += fmt.Sprintf("; revocation requested by %s", mention(r.RevokeRequestedBy))
		}
		if r.RevokeFailures > 0 {
			s += "; revoke failed " + approvals.Count(r.RevokeFailures, "time")
			if !r.RevokeRetryAt.IsZero() {
				s += ", next try " + when(r.RevokeRetryAt)
			}
		}
		return s
	case approvals.StatusExpired:
		return fmt.Sprintf(":lock: expired at %s%s", when(r.EndedAt), by)
	case approvals.StatusRevoked:
		if r.GrantUncertain {
			return fmt.Sprintf(":x: grant failed; what it may have left was removed at %s", when(r.EndedAt))
		}
		return fmt.Sprintf(":lock: revoked by %s at %s%s", mention(r.EndedBy), when(r.EndedAt), by)
	case approvals.StatusDenied:
		return fmt.Sprintf(":no_entry: denied by %s", mention(r.DecidedBy))
	case approvals.StatusCancelled:
		return fmt.Sprintf(":leftwards_arrow_with_hook: cancelled by %s", mention(r.EndedBy))
	case approvals.StatusTimedOut:
		return fmt.Sprintf(":alarm_clock: timed out at %s: no decision in time", when(r.EndedAt))
	case approvals.StatusAlreadyHeld:
		return ":information_source: closed: already held outside accessbot; nothing granted"
	case approvals.StatusFailed:
		return fmt.Sprintf(":x: grant failed: %s%s", userText(r.LastError, maxDetail), by)
	}
	return escape(string(r.Status))
}
