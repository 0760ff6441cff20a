package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/commands"
)

// Action IDs of the review message of a break-glass grant; a button's
// value carries only the request ID, as on approval messages.
const (
	ActionReviewConfirm = "review_confirm"
	ActionReviewFlag    = "review_flag"
)

// Block IDs of the review message and of the summary's list.
const (
	blockReviewActions     = "review_actions"
	blockSummaryUnreviewed = "summary_unreviewed"
)

// Deliveries of break-glass notices: the DM alerting an admin, and the
// review message to an approval channel or an approver.
const (
	kindAlert deliveryKind = 100 + iota
	kindReview
)

// breakGlass handles /access break-glass and returns the reply.
func (b *Bot) breakGlass(ctx context.Context, user string, c commands.BreakGlass) string {
	r, err := b.svc.BreakGlass(ctx, user, c.Resource, c.Duration, c.Reason)
	if err != nil {
		return b.errorText(err, "break-glass", user)
	}
	return fmt.Sprintf(":rotating_light: Break-glass `%s`: *%s* for *%s* is being granted to you now, without approval. "+
		"The admins have been alerted and the approvers of %s will review it. You will get a DM once access is granted; "+
		"`/access revoke %s` ends it early.",
		escape(r.ID), escape(r.Resource), approvals.FormatDuration(r.Duration), escape(r.Resource), escape(r.ID))
}

// expandPaths lists the break-glass deliveries of n.
func (d *Deliverer) expandPaths(n *approvals.Notice) []*delivery {
	var out []*delivery
	for _, t := range n.Alert {
		out = append(out, &delivery{notice: n, kind: kindAlert, key: "alert:" + t, conv: convOf(t), target: t})
	}
	for _, t := range n.Review {
		out = append(out, &delivery{notice: n, kind: kindReview, key: "review:" + t, conv: convOf(t), target: t})
	}
	return out
}

// attemptPaths makes one try of a break-glass delivery. The review
// message is recorded as the request's approval message, so that every
// later change of the request rewrites it.
func (d *Deliverer) attemptPaths(ctx context.Context, dl *delivery) (*approvals.Delivery, error) {
	switch dl.kind {
	case kindAlert:
		text := cut(alertText(dl.notice.Request), maxSectionText)
		_, err := d.api.dm(ctx, dl.target, text, []slack.Block{section("alert", text)})
		return nil, err
	case kindReview:
		return d.ask(ctx, dl)
	}
	return nil, fmt.Errorf("unknown delivery %q", dl.key)
}

// alertText is the DM to an admin about a break-glass grant.
func alertText(r *approvals.Request) string {
	if r == nil {
		return ":rotating_light: *Break-glass access was taken.*"
	}
	return fmt.Sprintf(":rotating_light: *Break-glass access taken*: %s granted themselves *%s* for *%s* (as `%s` at %s) without approval. Request `%s`.\n*Reason:* %s\nThe approvers of %s are asked to review it; `/access revoke %s` ends it now.",
		mention(r.Requester), escape(r.Resource), approvals.FormatDuration(r.Duration), userText(r.Identity, 200), escape(r.Provider),
		escape(r.ID), reasonText(r.Reason, maxReason), escape(r.Resource), escape(r.ID))
}

// reviewStatus says where a break-glass grant and its review stand.
func reviewStatus(r *approvals.Request) string {
	state := approvalStatus(r)
	switch {
	case r.ReviewedBy == "":
		return state + "\n:mag: *Review:* was this a genuine emergency? Confirm it, or flag it to revoke the access now."
	case r.ReviewConfirmed:
		return state + fmt.Sprintf("\n:white_check_mark: *Review:* confirmed by %s at %s.", mention(r.ReviewedBy), when(r.ReviewedAt))
	}
	return state + fmt.Sprintf("\n:triangular_flag_on_post: *Review:* flagged by %s at %s; the access is revoked.", mention(r.ReviewedBy), when(r.ReviewedAt))
}

// reviewBlocks renders the review message of break-glass request r; the
// buttons are there until someone reviews it.
func reviewBlocks(r *approvals.Request) []slack.Block {
	blocks := []slack.Block{
		section(blockRequest, fmt.Sprintf(":rotating_light: *Break-glass:* %s took access to *%s* for *%s* (as `%s` at %s) without approval.\n*Reason:* %s",
			mention(r.Requester), escape(r.Resource), approvals.FormatDuration(r.Duration),
			userText(r.Identity, 200), escape(r.Provider), reasonText(r.Reason, maxReason))),
		section(blockStatus, reviewStatus(r)),
		contextBlock(blockContext, fmt.Sprintf("Request `%s` · taken %s", escape(r.ID), when(r.CreatedAt))),
	}
	if r.ReviewedBy == "" {
		confirm := slack.NewButtonBlockElement(ActionReviewConfirm, r.ID, plain("Confirm")).WithStyle(slack.StylePrimary)
		flag := slack.NewButtonBlockElement(ActionReviewFlag, r.ID, plain("Flag and revoke")).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(blockReviewActions, confirm, flag))
	}
	return blocks
}

// reviewText is the review message's plain fallback.
func reviewText(r *approvals.Request) string {
	return cut(fmt.Sprintf("Break-glass %s: %s took %s for %s without approval. %s", r.ID, mention(r.Requester),
		escape(r.Resource), approvals.FormatDuration(r.Duration), reviewStatus(r)), maxSectionText)
}

// breakGlassNote marks a break-glass request in its audit thread's parent.
func breakGlassNote(r *approvals.Request) string {
	switch {
	case r == nil || !r.BreakGlass:
		return ""
	case r.ReviewedBy == "":
		return "\n:rotating_light: *Break-glass*: taken without approval; not reviewed yet."
	case r.ReviewConfirmed:
		return fmt.Sprintf("\n:rotating_light: *Break-glass*: taken without approval; confirmed by %s.", mention(r.ReviewedBy))
	}
	return fmt.Sprintf("\n:rotating_light: *Break-glass*: taken without approval; flagged by %s.", mention(r.ReviewedBy))
}

// pathsAuditBody is the audit post of the break-glass, auto-approval and
// step-up events.
func pathsAuditBody(ev approvals.Event) (string, bool) {
	requester := mention(ev.Requester)
	switch ev.Action {
	case approvals.ActionBreakGlass:
		return fmt.Sprintf(":rotating_light: %s took %s as `%s` *without approval* (break-glass); the admins are alerted and the approvers asked to review. Reason: %s",
			requester, approvals.FormatDuration(ev.Duration), userText(ev.Identity, 200), reasonText(ev.Reason, maxReason)), true
	case approvals.ActionBreakGlassConfirmed:
		return fmt.Sprintf("%s's break-glass access confirmed by %s.", requester, mention(ev.Actor)), true
	case approvals.ActionBreakGlassFlagged:
		return fmt.Sprintf(":triangular_flag_on_post: %s's break-glass access flagged by %s: %s.", requester, mention(ev.Actor), userText(ev.Detail, maxDetail)), true
	case approvals.ActionAutoApproved:
		return fmt.Sprintf("%s's request approved without an approver: %s.", requester, userText(ev.Detail, maxDetail)), true
	case approvals.ActionAutoApproveFailed:
		return fmt.Sprintf("auto-approval failed for %s: %s", requester, userText(ev.Detail, maxDetail)), true
	case approvals.ActionStepUpRefused:
		return fmt.Sprintf("%s's approval did not count: %s", mention(ev.Actor), userText(ev.Detail, maxDetail)), true
	}
	return "", false
}

// pathsRequesterText is what the requester is told about those events.
func pathsRequesterText(r *approvals.Request, ev approvals.Event) (string, bool) {
	id, res := "`"+escape(r.ID)+"`", "*"+escape(r.Resource)+"*"
	switch ev.Action {
	case approvals.ActionBreakGlassConfirmed:
		return fmt.Sprintf(":white_check_mark: %s reviewed your break-glass access to %s (request %s) and confirmed it.", mention(ev.Actor), res, id), true
	case approvals.ActionBreakGlassFlagged:
		return fmt.Sprintf(":triangular_flag_on_post: %s reviewed your break-glass access to %s (request %s) and flagged it; the access is being revoked.", mention(ev.Actor), res, id), true
	case approvals.ActionAutoApproved:
		return fmt.Sprintf(":white_check_mark: Your request %s for %s was approved without an approver (%s); access is being granted now.", id, res, userText(ev.Detail, maxDetail)), true
	}
	return "", false
}

// unreviewedLines lists the summary's break-glass grants not reviewed yet.
func unreviewedLines(s *approvals.Summary) []string {
	out := make([]string, 0, len(s.Unreviewed))
	for _, r := range s.Unreviewed {
		out = append(out, fmt.Sprintf("• `%s` *%s* by %s for %s, taken %s (%s). Reason: %s",
			escape(r.ID), escape(r.Resource), mention(r.Requester), approvals.FormatDuration(r.Duration),
			shortTime(r.CreatedAt), escape(string(r.Status)), reasonText(r.Reason, 200)))
	}
	return out
}
