package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Block IDs of audit channel posts.
const (
	blockAudit       = "audit"
	blockAuditState  = "audit_state"
	blockAuditThread = "audit_thread"
)

// auditThread is what the Notifier knows of one request's audit thread.
// Service announces from concurrent goroutines; mu is held while an event
// of the request is posted, so two events cannot both open a thread, and
// rank keeps an older snapshot from rewriting the parent backwards.
type auditThread struct {
	mu      sync.Mutex
	parent  approvals.MessageRef
	rank    int
	finalAt time.Time
}

// thread returns the audit thread state of request id. Entries of requests
// that reached a final state an hour ago are dropped when the map grows;
// by then the thread is recorded on the request, which a later event
// carries.
func (n *Notifier) thread(id string) *auditThread {
	n.mu.Lock()
	defer n.mu.Unlock()
	if th, ok := n.threads[id]; ok {
		return th
	}
	if len(n.threads) >= 1024 {
		for k, th := range n.threads {
			if th.mu.TryLock() {
				if !th.finalAt.IsZero() && time.Since(th.finalAt) > time.Hour {
					delete(n.threads, k)
				}
				th.mu.Unlock()
			}
		}
	}
	th := &auditThread{}
	n.threads[id] = th
	return th
}

// PostAudit posts ev to the audit channel, when one is configured. Events
// of a request form one thread: the first posts the parent message, later
// ones reply in its thread and rewrite the parent to show where the
// request stands. It returns the parent, for the Service to record on the
// request (r.AuditThread), so that the thread survives a restart. Events
// about no request (policy loads, drift) are posted at the top level.
func (n *Notifier) PostAudit(ctx context.Context, r *approvals.Request, ev approvals.Event) (approvals.MessageRef, error) {
	if n.audit == "" {
		return approvals.MessageRef{}, nil
	}
	text := cut(auditText(r, ev), maxSectionText)
	blocks := []slack.Block{section(blockAudit, text)}
	if r == nil || ev.RequestID == "" || ev.RequestID != r.ID {
		if _, err := n.api.post(ctx, n.audit, text, blocks); err != nil {
			return approvals.MessageRef{}, fmt.Errorf("post audit event %s: %w", ev.Action, err)
		}
		return approvals.MessageRef{}, nil
	}

	th := n.thread(r.ID)
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.parent.TS == "" && r.AuditThread.TS != "" && r.AuditThread.ChannelID == n.audit {
		th.parent = r.AuditThread // recorded before a restart
	}
	if r.Status.Final() {
		th.finalAt = time.Now()
	}
	rank := progress(r)
	if th.parent.TS == "" {
		ref, err := n.api.post(ctx, n.audit, auditParentText(r, ev), auditParentBlocks(r, ev))
		if err != nil {
			return approvals.MessageRef{}, fmt.Errorf("post audit event %s of %s: %w", ev.Action, r.ID, err)
		}
		th.parent, th.rank = ref, rank
		return ref, nil
	}
	var errs []error
	if _, err := n.api.reply(ctx, th.parent, text, blocks); err != nil {
		errs = append(errs, fmt.Errorf("post audit event %s of %s in its thread: %w", ev.Action, r.ID, err))
	}
	if rank >= th.rank {
		th.rank = rank
		if err := n.api.update(ctx, th.parent, auditParentText(r, ev), auditParentBlocks(r, ev)); err != nil {
			errs = append(errs, fmt.Errorf("update audit thread of %s: %w", r.ID, err))
		}
	} else {
		n.log.Debug("skipping stale audit thread update", "request_id", r.ID, "status", r.Status)
	}
	return th.parent, errors.Join(errs...)
}

// auditParentText is the parent of a request's audit thread (DESIGN.md
// A10): the latest action, the request ID, the resource and the requester,
// then where the request stands now.
func auditParentText(r *approvals.Request, ev approvals.Event) string {
	return cut(auditHead(ev)+" · "+auditAsked(r)+"\n*Now:* "+auditState(r), maxSectionText)
}

// auditParentBlocks renders the parent: the event and the request, the
// current state, and a pointer to the thread.
func auditParentBlocks(r *approvals.Request, ev approvals.Event) []slack.Block {
	return []slack.Block{
		section(blockAudit, auditHead(ev)+" · "+auditAsked(r)),
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
			return fmt.Sprintf(":hourglass: pending (0 of %d approvals)", requiredOf(r))
		}
		return fmt.Sprintf(":hourglass: pending (%d of %d approvals: %s)", len(r.Approvals), requiredOf(r), mentionList(r.Approvers()))
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
			s += fmt.Sprintf("; revoke failed %d time(s)", r.RevokeFailures)
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
	case approvals.StatusAlreadyHeld:
		return ":information_source: closed: already held outside accessbot; nothing granted"
	case approvals.StatusFailed:
		return fmt.Sprintf(":x: grant failed: %s%s", userText(r.LastError, maxDetail), by)
	}
	return escape(string(r.Status))
}
