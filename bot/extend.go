package bot

import (
	"fmt"
	"slices"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Block IDs of an extension's approval message.
const (
	blockExtension       = "extension"
	blockExtensionStatus = "extension_status"
	blockExtensionInfo   = "extension_context"
)

// approvalMessage is what PostApprovalRequest posts for r: the approval
// message of the request, or, for an active grant with an extension
// waiting, the approval message of the extension. Both carry the same
// approve and deny buttons with the request ID as value.
func approvalMessage(r *approvals.Request) (string, []slack.Block) {
	if r.Status == approvals.StatusActive && r.PendingExtension() != nil {
		e := r.LastExtension()
		return extensionText(r, e), extensionBlocks(r, e)
	}
	return approvalText(r), approvalBlocks(r)
}

// extensionSummary is the first section of an extension's approval
// message: who asks for how much more, until when, and why.
func extensionSummary(r *approvals.Request, e *approvals.Extension) string {
	return fmt.Sprintf("%s asks for *%s more* on *%s* (as `%s` at %s).\n*Now until:* %s\n*If approved, until:* %s\n*Reason:* %s",
		mention(r.Requester), approvals.FormatDuration(e.Duration), escape(r.Resource),
		userText(r.Identity, 200), escape(r.SystemName()), when(e.FromExpiresAt), when(e.ToExpiresAt),
		reasonText(e.Reason, maxReason))
}

// extensionStatus says where an extension stands.
func extensionStatus(r *approvals.Request, e *approvals.Extension) string {
	switch e.Status {
	case approvals.ExtensionPending:
		if len(e.Approvals) == 0 {
			return fmt.Sprintf(":hourglass: Waiting for approval of the extension (0 of %d).", e.Required)
		}
		return fmt.Sprintf(":hourglass: %d of %s of the extension: %s. Waiting for %d more.",
			len(e.Approvals), approvals.Count(e.Required, "approval"), mentionList(e.Approvers()), e.Required-len(e.Approvals))
	case approvals.ExtensionApproved:
		return fmt.Sprintf(":white_check_mark: *Extended*, approved by %s. Access until %s.", mentionList(e.Approvers()), when(e.ToExpiresAt))
	case approvals.ExtensionDenied:
		return fmt.Sprintf(":no_entry: *Extension denied* by %s. Access still ends at %s.", mention(e.DecidedBy), when(e.FromExpiresAt))
	case approvals.ExtensionClosed:
		return fmt.Sprintf(":lock: *Closed*: %s before a decision; it was not extended.", closedWhy(r))
	}
	return "Status: " + escape(string(e.Status))
}

// extensionBlocks renders the approval message of extension e of r; the
// buttons are there only while it is pending.
func extensionBlocks(r *approvals.Request, e *approvals.Extension) []slack.Block {
	blocks := []slack.Block{
		section(blockExtension, extensionSummary(r, e)),
		section(blockExtensionStatus, extensionStatus(r, e)),
		contextBlock(blockExtensionInfo, fmt.Sprintf("Extension of request `%s` · asked %s · granted %s, approved by %s",
			escape(r.ID), when(e.RequestedAt), when(r.GrantedAt), mentionList(r.Approvers()))),
	}
	if e.Status == approvals.ExtensionPending && r.Status == approvals.StatusActive {
		approve := slack.NewButtonBlockElement(ActionApprove, r.ID, plain("Approve")).WithStyle(slack.StylePrimary)
		deny := slack.NewButtonBlockElement(ActionDeny, r.ID, plain("Deny")).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(blockActions, approve, deny))
	}
	return blocks
}

// extensionText is the plain fallback of an extension's approval message.
func extensionText(r *approvals.Request, e *approvals.Extension) string {
	return cut(fmt.Sprintf("Extension of %s: %s asks for %s more on %s. %s", r.ID, mention(r.Requester),
		approvals.FormatDuration(e.Duration), escape(r.Resource), extensionStatus(r, e)), maxSectionText)
}

// extensionRequesterText is what the holder is told by DM about an
// extension event, and false for other events.
func extensionRequesterText(r *approvals.Request, ev approvals.Event) (string, bool) {
	e := r.LastExtension()
	if e == nil {
		return "", false
	}
	id, res := "`"+escape(r.ID)+"`", "*"+escape(r.Resource)+"*"
	switch ev.Action {
	case approvals.ActionExtended:
		return fmt.Sprintf(":key: Your access to %s (request %s) is extended by %s, approved by %s: it now ends at %s.\nEnd it early with `/access revoke %s`.",
			res, id, approvals.FormatDuration(e.Duration), mentionList(e.Approvers()), when(r.ExpiresAt), escape(r.ID)), true
	case approvals.ActionExtensionDenied:
		return fmt.Sprintf(":no_entry: Your extension of %s (request %s) was denied by %s; your access still ends at %s.",
			res, id, mention(e.DecidedBy), when(r.ExpiresAt)), true
	case approvals.ActionExtensionClosed:
		return fmt.Sprintf(":lock: Your extension of %s (request %s) was closed without a decision: %s.", res, id, closedWhy(r)), true
	case approvals.ActionExtensionRequested, approvals.ActionExtensionApproval:
		return fmt.Sprintf("Your extension of %s (request %s): %s.", res, id, extensionStatus(r, e)), true
	}
	return "", false
}

// extensionAuditBody is the body of the audit post of an extension event,
// and false for other events.
func extensionAuditBody(r *approvals.Request, ev approvals.Event) (string, bool) {
	var e *approvals.Extension
	if r != nil {
		e = r.LastExtension()
	}
	if e == nil {
		return "", false
	}
	requester := mention(ev.Requester)
	switch ev.Action {
	case approvals.ActionExtensionRequested:
		return fmt.Sprintf("%s asks for %s more: until %s instead of %s. Reason: %s", requester,
			approvals.FormatDuration(e.Duration), when(e.ToExpiresAt), when(e.FromExpiresAt), reasonText(e.Reason, maxReason)), true
	case approvals.ActionExtensionApproval:
		return fmt.Sprintf("%s approved %s's extension (%d of %d).", mention(ev.Actor), requester, len(e.Approvals), e.Required), true
	case approvals.ActionExtended:
		return fmt.Sprintf("%s's access extended by %s, approved by %s: until %s instead of %s.", requester,
			approvals.FormatDuration(e.Duration), mentionList(e.Approvers()), when(e.ToExpiresAt), when(e.FromExpiresAt)), true
	case approvals.ActionExtensionDenied:
		return fmt.Sprintf("%s's extension denied by %s; access still ends at %s.", requester, mention(ev.Actor), when(e.FromExpiresAt)), true
	case approvals.ActionExtensionClosed:
		return fmt.Sprintf("%s's extension of %s closed without a decision: %s.", requester,
			approvals.FormatDuration(e.Duration), closedWhy(r)), true
	}
	return "", false
}

// extensionNote says, for the request's own approval message, how the
// grant was extended and whether an extension is waiting.
func extensionNote(r *approvals.Request) string {
	var total time.Duration
	var by []string
	for _, e := range r.Extensions {
		if e.Status == approvals.ExtensionApproved {
			total += e.Duration
			for _, a := range e.Approvers() {
				if !slices.Contains(by, a) {
					by = append(by, a)
				}
			}
		}
	}
	s := ""
	if total > 0 {
		s = fmt.Sprintf(" Extended by %s (approved by %s).", approvals.FormatDuration(total), mentionList(by))
	}
	if e := r.PendingExtension(); e != nil {
		s += fmt.Sprintf(" Extension of %s waiting for approval.", approvals.FormatDuration(e.Duration))
	}
	return s
}

// closedWhy says why an extension of r was closed: its grant ended or is
// ending.
func closedWhy(r *approvals.Request) string {
	switch {
	case r.Status == approvals.StatusExpired:
		return "the grant expired at " + when(r.ExpiresAt)
	case r.Status == approvals.StatusRevoked:
		return "the grant was revoked by " + mention(r.EndedBy)
	case r.RevokeRequestedBy != "":
		return "the grant was revoked by " + mention(r.RevokeRequestedBy)
	case r.Status.Final():
		return "the grant ended (" + escape(string(r.Status)) + ")"
	}
	return "the grant expired at " + when(r.ExpiresAt)
}

// extendText tells the holder their extension is filed.
func extendText(r *approvals.Request) string {
	e := r.LastExtension()
	approvalsWord := "an approval"
	if e.Required > 1 {
		approvalsWord = fmt.Sprintf("%d approvals", e.Required)
	}
	return fmt.Sprintf(":inbox_tray: Extension of `%s` (*%s*) by *%s* asked: it needs %s; the approvers are being asked now.\n"+
		"Your access runs until %s as it is; if the extension is approved, until %s. You will get a DM with the decision.",
		escape(r.ID), escape(r.Resource), approvals.FormatDuration(e.Duration), approvalsWord, when(e.FromExpiresAt), when(e.ToExpiresAt))
}
