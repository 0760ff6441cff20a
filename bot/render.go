package bot

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Action IDs of the approval message's buttons (DESIGN.md A5). A button's
// value carries only the request ID; a click reloads the request.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// Block IDs of the approval message.
const (
	blockRequest = "request"
	blockStatus  = "status"
	blockContext = "request_context"
	blockActions = "approval_actions"
)

// Slack's limits that rendering has to respect (DESIGN.md Part C).
const (
	maxSectionText = 3000
	// maxReason leaves room in a section for the rest of the message.
	maxReason = 1500
	// maxDetail bounds provider messages and errors shown in chat.
	maxDetail = 1000
)

// escape makes user-provided text inert in mrkdwn: Slack reads &, < and >
// as control characters, so a reason containing "<!channel>" would
// otherwise notify a whole channel.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// userText escapes user-provided text and cuts it to max characters. It
// cuts after escaping, so that cut sees only our own markup.
func userText(s string, max int) string { return cut(escape(s), max) }

// reasonText renders a reason someone typed (kept verbatim in the store)
// so that it cannot pass for the message's own structure. It is put on one
// line, since every run of white space (newlines, carriage returns, tabs)
// becomes one space, so it cannot start a line that looks like a status
// (":white_check_mark: *Approved* by …"). Slack's formatting characters
// * _ ~ ` get a zero-width joiner on each side (see inertMarkup), so it
// cannot set bold, italics, strike-through or code, yet reads as typed; &,
// < and > are escaped as everywhere. The result is cut to max characters and
// wrapped in quotation marks, which show where the requester's words end.
func reasonText(s string, max int) string {
	one := strings.Join(strings.Fields(s), " ")
	return "“" + cut(inertMarkup.Replace(escape(one)), max-2) + "”"
}

// inertMarkup puts a zero-width joiner on each side of mrkdwn's formatting
// characters. Slack reads them as markup only where they meet a word
// boundary (a space, punctuation, the start or end of the text); the
// joiners, which are invisible, keep them off one. An emoji code with an
// underscore (:white_check_mark:) then shows as its text.
var inertMarkup = strings.NewReplacer(
	"*", "\u200d*\u200d",
	"_", "\u200d_\u200d",
	"~", "\u200d~\u200d",
	"`", "\u200d`\u200d",
)

// textLen counts what Slack counts: UTF-16 code units, never fewer than
// characters, so text under the limit here is under it at Slack.
func textLen(s string) int { return len(utf16.Encode([]rune(s))) }

// cut shortens s to at most max characters, ending in "…". It never ends
// inside a <…> token (a mention or a date) or an &…; entity, which would
// show as broken markup.
func cut(s string, max int) string {
	if textLen(s) <= max {
		return s
	}
	rs := []rune(s)
	n := 0
	end := 0
	for i, r := range rs {
		n += utf16.RuneLen(r)
		if n > max-1 {
			break
		}
		end = i + 1
	}
	out := string(rs[:end])
	if i := strings.LastIndexByte(out, '<'); i > strings.LastIndexByte(out, '>') {
		out = out[:i]
	}
	if i := strings.LastIndexByte(out, '&'); i > strings.LastIndexByte(out, ';') {
		out = out[:i]
	}
	return out + "…"
}

// mention renders a Slack user ID as a mention, a user group ID as a
// group mention, and the system actor by name. Anything that is not
// shaped like a Slack ID is shown as escaped text rather than
// interpreted.
func mention(user string) string {
	switch {
	case user == approvals.SystemActor:
		return "accessbot"
	case approvals.IsGroup(user) && isSlackID(user):
		return "<!subteam^" + user + ">"
	case isSlackID(user):
		return "<@" + user + ">"
	default:
		return escape(user)
	}
}

func isSlackID(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func mentionList(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = mention(u)
	}
	return strings.Join(out, ", ")
}

// when renders an instant twice: as a Slack date token, which each reader
// sees in their own time zone, and as unambiguous UTC RFC 3339.
func when(t time.Time) string {
	utc := t.UTC().Format(time.RFC3339)
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s> (%s)", t.Unix(), utc, utc)
}

// section returns a mrkdwn section block, cut to Slack's limit.
func section(blockID, text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cut(text, maxSectionText), false, false), nil, nil, slack.SectionBlockOptionBlockID(blockID))
}

// plain returns a plain_text object, as labels, titles and buttons need.
func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

// contextBlock returns a context block with one mrkdwn element.
func contextBlock(blockID, text string) *slack.ContextBlock {
	return slack.NewContextBlock(blockID, slack.NewTextBlockObject(slack.MarkdownType, cut(text, maxSectionText), false, false))
}

// requestSummary is the approval message's first section: who asks for
// what, for how long, and why.
func requestSummary(r *approvals.Request) string {
	return fmt.Sprintf("%s requests access to *%s* for *%s* (as `%s` at %s).\n*Reason:* %s",
		mention(r.Requester), escape(r.Resource), approvals.FormatDuration(r.Duration),
		userText(r.Identity, 200), escape(r.SystemName()), reasonText(r.Reason, maxReason))
}

// approvalStatus describes where the request stands, for its approval
// messages.
func approvalStatus(r *approvals.Request) string {
	approved := ""
	if len(r.Approvals) > 0 {
		approved = fmt.Sprintf(" Approved by %s.", mentionList(r.Approvers()))
	}
	switch r.Status {
	case approvals.StatusPending:
		if len(r.Approvals) == 0 {
			return fmt.Sprintf(":hourglass: Waiting for approval (0 of %d).", r.Required)
		}
		return fmt.Sprintf(":hourglass: %d of %s: %s. Waiting for %d more.",
			len(r.Approvals), approvals.Count(r.Required, "approval"), mentionList(r.Approvers()), r.Required-len(r.Approvals))
	case approvals.StatusApproved, approvals.StatusGranting:
		return fmt.Sprintf(":white_check_mark: *Approved* by %s (%d of %d). Granting access…",
			mentionList(r.Approvers()), len(r.Approvals), r.Required)
	case approvals.StatusActive:
		if r.GrantUncertain {
			return fmt.Sprintf(":x: *Grant failed*: %s. It may have granted part of it, so accessbot is removing it; the revoke is retried until it succeeds. The detail is in the audit channel.%s", refusedBy(r), approved)
		}
		s := fmt.Sprintf(":white_check_mark: *Granted*.%s Access until %s.", approved, when(r.ExpiresAt)) + extensionNote(r)
		if r.RevokeRequestedBy != "" {
			s += fmt.Sprintf(" Revocation requested by %s.", mention(r.RevokeRequestedBy))
		}
		return s
	case approvals.StatusExpired:
		return fmt.Sprintf(":lock: *Expired*: access removed at %s.%s", when(r.EndedAt), approved)
	case approvals.StatusRevoked:
		if r.GrantUncertain {
			return fmt.Sprintf(":x: *Grant failed*; whatever it may have left was removed at %s.%s", when(r.EndedAt), approved)
		}
		return fmt.Sprintf(":lock: *Revoked* by %s at %s.%s", mention(r.EndedBy), when(r.EndedAt), approved)
	case approvals.StatusDenied:
		return fmt.Sprintf(":no_entry: *Denied* by %s.", mention(r.DecidedBy))
	case approvals.StatusCancelled:
		return fmt.Sprintf(":leftwards_arrow_with_hook: *Cancelled* by %s before a decision.", mention(r.EndedBy))
	case approvals.StatusTimedOut:
		return fmt.Sprintf(":alarm_clock: *Timed out*: no decision in time; closed at %s. Nothing was granted.%s", when(r.EndedAt), approved)
	case approvals.StatusAlreadyHeld:
		return fmt.Sprintf(":information_source: *Closed*: %s already holds this access outside accessbot; nothing was granted.%s", mention(r.Requester), approved)
	case approvals.StatusFailed:
		if r.Explanation != "" {
			return fmt.Sprintf(":x: *Grant failed*: %s. Nothing was granted.%s", userText(r.Explanation, maxDetail), approved)
		}
		return fmt.Sprintf(":x: *Grant failed*: %s. Nothing was granted; the detail is in the audit channel.%s", refusedBy(r), approved)
	}
	return "Status: " + escape(string(r.Status))
}

// approvalBlocks renders the approval message of r. The buttons are there
// only while the request is pending.
func approvalBlocks(r *approvals.Request) []slack.Block {
	blocks := []slack.Block{
		section(blockRequest, requestSummary(r)),
		section(blockStatus, approvalStatus(r)),
		contextBlock(blockContext, fmt.Sprintf("Request `%s` · filed %s · the time starts when access is granted",
			escape(r.ID), when(r.CreatedAt))),
	}
	if r.Status == approvals.StatusPending {
		approve := slack.NewButtonBlockElement(ActionApprove, r.ID, plain("Approve")).
			WithStyle(slack.StylePrimary)
		deny := slack.NewButtonBlockElement(ActionDeny, r.ID, plain("Deny")).
			WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(blockActions, approve, deny))
	}
	return blocks
}

// approvalText is the approval message's plain fallback, shown in
// notifications.
func approvalText(r *approvals.Request) string {
	return cut(fmt.Sprintf("Access request %s: %s requests %s for %s. %s", r.ID, mention(r.Requester),
		escape(r.Resource), approvals.FormatDuration(r.Duration), approvalStatus(r)), maxSectionText)
}

// requesterText is what the requester is told by DM about ev.
func requesterText(r *approvals.Request, ev approvals.Event) string {
	id, res := "`"+escape(r.ID)+"`", "*"+escape(r.Resource)+"*"
	switch ev.Action {
	case approvals.ActionApproved:
		return fmt.Sprintf(":white_check_mark: Your request %s for %s was approved by %s; access is being granted now.", id, res, mentionList(r.Approvers()))
	case approvals.ActionGranted:
		s := fmt.Sprintf(":key: You now have %s (as `%s` at %s) until %s. Request %s, approved by %s.",
			res, userText(r.Identity, 200), escape(r.SystemName()), when(r.ExpiresAt), id, mentionList(r.Approvers()))
		if r.GrantNote != "" {
			s += fmt.Sprintf("\n*Note from %s:* %s", escape(r.SystemName()), userText(r.GrantNote, maxDetail))
		}
		return s + fmt.Sprintf("\nEnd it early with `/access revoke %s`.", escape(r.ID))
	case approvals.ActionDenied:
		return fmt.Sprintf(":no_entry: Your request %s for %s was denied by %s.", id, res, mention(r.DecidedBy))
	case approvals.ActionAlreadyHeld:
		return fmt.Sprintf(":information_source: You already hold %s outside accessbot, so request %s was closed: nothing was granted and nothing will be revoked.", res, id)
	case approvals.ActionGrantFailed:
		// A provider's error (an API answer, a program's output) is for
		// admins: it goes to the audit thread and the log, never here.
		switch {
		case r.Explanation != "":
			return fmt.Sprintf(":x: Granting %s for request %s failed: %s. Nothing was granted; you can try again or ask an admin.", res, id, userText(r.Explanation, maxDetail))
		case r.GrantUncertain:
			return fmt.Sprintf(":x: Granting %s for request %s failed: %s. It may have granted part of it, so accessbot is removing that; do not rely on it. You can file a new request once it is gone. An admin can see the detail in the audit channel.", res, id, refusedBy(r))
		}
		return fmt.Sprintf(":x: Granting %s for request %s failed: %s. An admin can see the detail in the audit channel.", res, id, refusedBy(r))
	case approvals.ActionRevoked:
		if r.EndedBy == r.Requester {
			return fmt.Sprintf(":lock: You ended your access to %s (request %s) at %s; it has been removed.", res, id, when(r.EndedAt))
		}
		return fmt.Sprintf(":lock: Your access to %s (request %s) was revoked by %s at %s.", res, id, mention(r.EndedBy), when(r.EndedAt))
	case approvals.ActionExpired:
		return fmt.Sprintf(":lock: Your access to %s (request %s) expired at %s and has been removed.", res, id, when(r.EndedAt))
	case approvals.ActionCancelled:
		if r.EndedBy == r.Requester || r.EndedBy == "" {
			return fmt.Sprintf(":leftwards_arrow_with_hook: Your request %s for %s was cancelled.", id, res)
		}
		return fmt.Sprintf(":leftwards_arrow_with_hook: Your request %s for %s was cancelled by %s.", id, res, mention(r.EndedBy))
	case approvals.ActionTimedOut:
		return fmt.Sprintf(":alarm_clock: Your request %s for %s got no decision in time, so it was closed at %s; nothing was granted. File a new request if you still need it.", id, res, when(r.EndedAt))
	case approvals.ActionRevokeFailed:
		return fmt.Sprintf(":warning: Removing your access to %s (request %s) failed; accessbot keeps retrying.", res, id)
	case approvals.ActionUndeliverable:
		return unreachableText(r, id, res)
	}
	if s, ok := pathsRequesterText(r, ev); ok {
		return s
	}
	if s, ok := extensionRequesterText(r, ev); ok {
		return s
	}
	return fmt.Sprintf("Request %s for %s: %s.", id, res, escape(ev.Action))
}

// Action IDs of the buttons offered to the requester: extend a grant
// about to end, cancel a pending request. Their value is the request ID.
const (
	ActionExtend = "extend"
	ActionCancel = "cancel"
)

// Block IDs of the requester's messages.
const (
	blockWarning      = "expiry_warning"
	blockWarningActs  = "expiry_warning_actions"
	blockReminder     = "reminder"
	blockFiled        = "filed"
	blockFiledActions = "filed_actions"
)

// warningText tells the holder of r that the grant ends soon.
func warningText(r *approvals.Request) string {
	return fmt.Sprintf(":hourglass_flowing_sand: Your access to *%s* (request `%s`) ends at %s. Need more time? *Extend* asks the approvers again; the ID stays the same.",
		escape(r.Resource), escape(r.ID), when(r.ExpiresAt))
}

// warningBlocks is the warning with its Extend button.
func warningBlocks(r *approvals.Request) []slack.Block {
	extend := slack.NewButtonBlockElement(ActionExtend, r.ID, plain("Extend…")).WithStyle(slack.StylePrimary)
	return []slack.Block{
		section(blockWarning, warningText(r)),
		slack.NewActionBlock(blockWarningActs, extend),
	}
}

// reminderText reminds approvers, in the thread of the approval
// message, that r still waits for them.
func reminderText(r *approvals.Request) string {
	return fmt.Sprintf(":bell: Reminder: %s's request for *%s* (`%s`) is still waiting for a decision (%d of %s), filed %s.",
		mention(r.Requester), escape(r.Resource), escape(r.ID), len(r.Approvals), approvals.Count(r.Required, "approval"), when(r.CreatedAt))
}

// refusedBy says, in one clause, that the system behind r refused a grant:
// "the provider refused it", or "Payroll refused it" for a resource that
// names its system.
func refusedBy(r *approvals.Request) string {
	if r.System != "" {
		return escape(r.System) + " refused it"
	}
	return "the provider refused it"
}

// auditText is the audit channel post for ev (DESIGN.md A10): the action
// first, then the request ID, the resource and the people as mentions.
// Failures say "failed". r may be nil for events about no request.
func auditText(r *approvals.Request, ev approvals.Event) string {
	head := auditHead(ev)
	requester, approvers := mention(ev.Requester), mentionList(ev.Approvers)
	var body string
	switch ev.Action {
	case approvals.ActionRequested:
		body = fmt.Sprintf("%s requested %s as `%s`. Reason: %s", requester, approvals.FormatDuration(ev.Duration), userText(ev.Identity, 200), reasonText(ev.Reason, maxReason))
	case approvals.ActionApproval:
		body = fmt.Sprintf("%s approved %s's request (%d of %d).", mention(ev.Actor), requester, len(ev.Approvers), requiredOf(r))
	case approvals.ActionApproved:
		body = fmt.Sprintf("%s's request approved by %s.", requester, approvers)
		if len(ev.Approvers) > 1 {
			body = fmt.Sprintf("%s's request approved by %s; %s's approval decided it.", requester, approvers, mention(ev.Actor))
		}
	case approvals.ActionDenied:
		body = fmt.Sprintf("%s's request denied by %s.", requester, mention(ev.Actor))
	case approvals.ActionCancelled:
		body = fmt.Sprintf("%s's request cancelled by %s.", requester, mention(ev.Actor))
	case approvals.ActionTimedOut:
		body = fmt.Sprintf("%s's request closed unanswered: %s.", requester, userText(detail(r, ev), maxDetail))
	case approvals.ActionAlreadyHeld:
		body = fmt.Sprintf("%s already holds this access outside accessbot; nothing granted, nothing will be revoked.", requester)
	case approvals.ActionGranted:
		body = fmt.Sprintf("%s granted as `%s` until %s, approved by %s.", requester, userText(ev.Identity, 200), when(ev.ExpiresAt), approvers)
		if r != nil && r.GrantNote != "" {
			body += " Provider: " + userText(r.GrantNote, maxDetail)
		}
	case approvals.ActionGrantFailed:
		body = fmt.Sprintf("grant failed for %s: %s", requester, userText(detail(r, ev), maxDetail))
	case approvals.ActionRevoked:
		body = fmt.Sprintf("%s's access revoked by %s.", requester, mention(ev.Actor))
	case approvals.ActionExpired:
		body = fmt.Sprintf("%s's access expired and was removed.", requester)
		if r != nil && !r.EndedAt.IsZero() {
			body = fmt.Sprintf("%s's access expired and was removed at %s.", requester, when(r.EndedAt))
		}
	case approvals.ActionRevokeFailed:
		body = fmt.Sprintf("revoke failed: %s still holds the access; accessbot retries", requester)
		if r != nil && !r.RevokeRetryAt.IsZero() {
			body += " at " + when(r.RevokeRetryAt)
		}
		body += ". Error: " + userText(detail(r, ev), maxDetail)
	case approvals.ActionUndeliverable:
		body = fmt.Sprintf("message not delivered, request of %s: %s", requester, userText(detail(r, ev), maxDetail))
	case approvals.ActionPolicyLoaded:
		body = fmt.Sprintf("%s. Policy hash `%.12s`.", userText(strings.TrimSuffix(ev.Detail, "."), maxDetail), ev.PolicyHash)
	default:
		if b, ok := pathsAuditBody(ev); ok {
			body = b
			break
		}
		if b, ok := extensionAuditBody(r, ev); ok {
			body = b
			break
		}
		body = fmt.Sprintf("by %s.", mention(ev.Actor))
		if ev.Requester != "" {
			body += " Requester: " + requester + "."
		}
		if ev.Detail != "" {
			body += " " + userText(ev.Detail, maxDetail)
		}
	}
	return head + " · " + body
}

// detail returns the event's detail, or the request's last error when the
// event carries none.
func detail(r *approvals.Request, ev approvals.Event) string {
	if ev.Detail != "" {
		return ev.Detail
	}
	if r != nil && r.LastError != "" {
		return r.LastError
	}
	return "no detail recorded"
}

func requiredOf(r *approvals.Request) int {
	if r == nil || r.Required < 1 {
		return 1
	}
	return r.Required
}

// unreachableText tells the requester that approvers of their request (or
// of its latest extension) could not be asked: who, why, what fixes it,
// and whether the round was closed because nobody could be asked.
func unreachableText(r *approvals.Request, id, res string) string {
	us, closed, what := r.Unreachable, r.Status == approvals.StatusFailed, "Your request "+id+" for "+res
	if e := r.LastExtension(); e != nil && len(e.Unreachable) > 0 && r.Status == approvals.StatusActive {
		us, closed, what = e.Unreachable, e.Status == approvals.ExtensionClosed, "The extension of your request "+id+" for "+res
	}
	lines := make([]string, 0, len(us))
	for _, u := range us {
		lines = append(lines, "• "+targetMention(u.Target)+": "+userText(u.Why, maxDetail))
	}
	list := strings.Join(lines, "\n")
	if closed {
		return fmt.Sprintf(":x: %s could not reach any approver, so nobody can decide it and it was closed; nothing was granted.\n%s\nAsk an admin to fix this, then ask again.", what, list)
	}
	return fmt.Sprintf(":warning: %s could not reach some approvers; the others were asked.\n%s", what, list)
}

// targetMention renders an approval target: a channel or a person.
func targetMention(target string) string {
	if strings.HasPrefix(target, "C") || strings.HasPrefix(target, "G") {
		if isSlackID(target) {
			return "<#" + target + ">"
		}
	}
	return mention(target)
}
