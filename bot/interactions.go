package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// The request modal's callback, block and action IDs.
const (
	CallbackRequestModal = "access_request"
	// CallbackExtendModal is the modal of the Extend button; its
	// private_metadata is the request ID.
	CallbackExtendModal = "access_extend"

	BlockModalResource  = "resource"
	BlockModalDuration  = "duration"
	BlockModalReason    = "reason"
	ActionModalResource = "resource_select"
	ActionModalDuration = "duration_input"
	ActionModalReason   = "reason_input"
)

// Slack's limits on the modal's parts.
const (
	maxSelectOptions = 100
	maxOptionText    = 75
	maxOptionValue   = 150
	// maxReasonInput is the longest reason approvals accepts, so the
	// modal stops the typing there rather than refusing the submission.
	maxReasonInput = approvals.MaxReasonLength
)

// Interaction handles one interaction payload and returns the body of the
// answer, or nil for an empty 200. Clicks on approval messages are decided
// before it returns (a store commit); refusals reach the clicker afterwards
// as an ephemeral message. Anything it does not know is ignored.
func (b *Bot) Interaction(ctx context.Context, ic slack.InteractionCallback) any {
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		b.blockActions(ctx, ic)
	case slack.InteractionTypeBlockSuggestion:
		if ic.ActionID == ActionModalResource {
			return b.resourceOptions(ctx, ic.User.ID, ic.Value)
		}
	case slack.InteractionTypeViewSubmission:
		switch ic.View.CallbackID {
		case CallbackRequestModal:
			return b.submitModal(ctx, ic)
		case CallbackExtendModal:
			return b.submitExtendModal(ctx, ic)
		}
	}
	return nil
}

// blockActions decides approve and deny clicks. The button's value is only
// a request ID: Service reloads the request and checks the clicker.
func (b *Bot) blockActions(ctx context.Context, ic slack.InteractionCallback) {
	user := ic.User.ID
	for _, a := range ic.ActionCallback.BlockActions {
		var err error
		switch a.ActionID {
		case ActionReviewConfirm, ActionReviewFlag:
			_, err = b.svc.Review(ctx, user, a.Value, a.ActionID == ActionReviewConfirm)
		case ActionApprove:
			if b.approveLater(ctx, ic, a) {
				continue
			}
			_, err = b.svc.ApproveFrom(ctx, user, a.Value, clicked(ic))
		case ActionDeny:
			_, err = b.svc.DenyFrom(ctx, user, a.Value, clicked(ic))
		case ActionCancel:
			var r *approvals.Request
			if r, err = b.svc.Cancel(ctx, user, a.Value); err == nil {
				b.replace(ctx, ic, fmt.Sprintf(":leftwards_arrow_with_hook: Request `%s` for *%s* cancelled; nothing was granted.", escape(r.ID), escape(r.Resource)))
			}
		case ActionExtend:
			err = b.openExtendModal(ctx, ic, a.Value)
		case ActionModalResource:
			if ic.View.CallbackID == CallbackRequestModal {
				b.resourceChosen(ctx, ic, a.SelectedOption.Value)
			}
			continue
		case ActionEndGrant:
			_, err = b.svc.Revoke(ctx, user, a.Value)
		default:
			continue
		}
		if err != nil {
			b.log.Info("click refused", "request_id", cut(a.Value, 64), "user", user, "action", a.ActionID, "code", approvals.ErrorCode(err))
			b.refuse(ctx, ic, b.errorText(err, "decide request", user))
		}
	}
}

// replace rewrites the message a click came from (an ephemeral reply,
// through its response_url), once the click is answered.
func (b *Bot) replace(ctx context.Context, ic slack.InteractionCallback, text string) {
	if ic.ResponseURL == "" {
		return
	}
	b.background(ctx, func(ctx context.Context) {
		if err := b.api.replaceOriginal(ctx, ic.ResponseURL, text); err != nil {
			b.log.Warn("could not update the message of a click", "user", ic.User.ID, "err", err)
		}
	})
}

// clicked returns the message a click came from.
func clicked(ic slack.InteractionCallback) approvals.MessageRef {
	channel := ic.Container.ChannelID
	if channel == "" {
		channel = ic.Channel.ID
	}
	ts := ic.Container.MessageTs
	if ts == "" {
		ts = ic.Message.Timestamp
	}
	return approvals.MessageRef{ChannelID: channel, TS: ts}
}

// refuse shows text to the clicker only, after the click has been
// answered: in the channel of the click, or through the response_url when
// that fails (or there is no channel), or else by DM.
func (b *Bot) refuse(ctx context.Context, ic slack.InteractionCallback, text string) {
	user := ic.User.ID
	channel := ic.Channel.ID
	if channel == "" {
		channel = ic.Container.ChannelID
	}
	b.background(ctx, func(ctx context.Context) {
		var err error
		if channel != "" {
			if err = b.api.ephemeral(ctx, channel, user, text); err == nil {
				return
			}
		}
		if ic.ResponseURL != "" {
			if err = b.api.respond(ctx, ic.ResponseURL, text); err == nil {
				return
			}
		}
		if _, err = b.api.dm(ctx, user, text, nil); err != nil {
			b.log.Error("could not tell a user their click was refused", "user", user, "err", err)
		}
	})
}

// submitModal files the request entered in the modal. Bad input is shown
// next to the field to fix; a filed request replaces the modal with its ID.
func (b *Bot) submitModal(ctx context.Context, ic slack.InteractionCallback) any {
	user := ic.User.ID
	var values map[string]map[string]slack.BlockAction
	if ic.View.State != nil {
		values = ic.View.State.Values
	}
	resource := values[BlockModalResource][ActionModalResource].SelectedOption.Value
	dur := values[BlockModalDuration][ActionModalDuration]
	durText := dur.SelectedOption.Value
	if durText == "" {
		// A form opened before the duration became a menu has a text
		// field.
		durText = strings.TrimSpace(dur.Value)
	}
	reason := strings.TrimSpace(values[BlockModalReason][ActionModalReason].Value)

	if resource == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalResource: "Choose a resource."})
	}
	if durText == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalDuration: "Choose a duration."})
	}
	d, err := approvals.ParseDuration(durText)
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalDuration: fieldError(err)})
	}
	if reason == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalReason: "A reason is required."})
	}
	r, err := b.svc.Submit(ctx, user, resource, d, reason)
	if err != nil {
		text := approvals.ErrorMessage(err)
		if approvals.ErrorCode(err) == approvals.EINTERNAL {
			b.log.Error("submit request from modal", "user", user, "err", err)
		}
		return slack.NewErrorsViewSubmissionResponse(map[string]string{b.fieldOf(resource, d, reason): cut(text, 2000)})
	}
	return slack.NewUpdateViewSubmissionResponse(filedModal(r))
}

// fieldOf names the modal field a refused submission most likely needs
// changed: the duration when it is out of the resource's bounds, the
// reason when the resource's reason_pattern refuses it, else the resource
// (unknown, no identity, already open).
func (b *Bot) fieldOf(resource string, d time.Duration, reason string) string {
	if res, ok := b.svc.Policy().Resource(resource); ok {
		if d <= 0 || d > res.MaxDuration || (res.MinDuration > 0 && d < res.MinDuration) {
			return BlockModalDuration
		}
		if approvals.CheckReason(res, reason) != nil {
			return BlockModalReason
		}
	}
	return BlockModalResource
}

func fieldError(err error) string {
	return cut(approvals.ErrorMessage(err), 2000)
}

// extendModal asks the holder of r how much longer, and why.
func extendModal(r *approvals.Request) slack.ModalViewRequest {
	duration := slack.NewPlainTextInputBlockElement(plain("e.g. 30m, 1h, 2 hours"), ActionModalDuration)
	reason := slack.NewPlainTextInputBlockElement(plain("What is left to do"), ActionModalReason)
	reason.Multiline = true
	reason.MaxLength = maxReasonInput
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      CallbackExtendModal,
		PrivateMetadata: r.ID,
		Title:           plain("Extend access"),
		Submit:          plain("Ask"),
		Close:           plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("extend_what", cut(fmt.Sprintf("*%s* (request `%s`) ends at %s. The extra time is added to that once the approvers approve.",
				escape(r.Resource), escape(r.ID), when(r.ExpiresAt)), maxSectionText)),
			slack.NewInputBlock(BlockModalDuration, plain("Extra time"), nil, duration),
			slack.NewInputBlock(BlockModalReason, plain("Reason"), plain("Shown to the approvers and kept in the audit log."), reason),
		}},
	}
}

// openExtendModal opens the extension modal for request id with the
// click's trigger_id, which expires 3 s after the click.
func (b *Bot) openExtendModal(ctx context.Context, ic slack.InteractionCallback, id string) error {
	r, err := b.svc.Get(ctx, ic.User.ID, id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, viewsOpenTimeout)
	defer cancel()
	if _, err := b.client.OpenViewContext(ctx, ic.TriggerID, extendModal(r)); err != nil {
		b.log.Warn("could not open the extension modal", "request_id", id, "err", err)
		return approvals.Errorf(approvals.EINTERNAL, "the form could not be opened; type /access extend %s DURATION REASON… instead", id)
	}
	return nil
}

// submitExtendModal asks for the extension entered in the modal.
func (b *Bot) submitExtendModal(ctx context.Context, ic slack.InteractionCallback) any {
	user, id := ic.User.ID, ic.View.PrivateMetadata
	var values map[string]map[string]slack.BlockAction
	if ic.View.State != nil {
		values = ic.View.State.Values
	}
	d, err := approvals.ParseDuration(strings.TrimSpace(values[BlockModalDuration][ActionModalDuration].Value))
	if err != nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalDuration: fieldError(err)})
	}
	reason := strings.TrimSpace(values[BlockModalReason][ActionModalReason].Value)
	if reason == "" {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalReason: "A reason is required."})
	}
	r, err := b.svc.Extend(ctx, user, id, d, reason)
	if err != nil {
		if approvals.ErrorCode(err) == approvals.EINTERNAL {
			b.log.Error("extend from modal", "user", user, "request_id", cut(id, 64), "err", err)
		}
		return slack.NewErrorsViewSubmissionResponse(map[string]string{BlockModalDuration: fieldError(err)})
	}
	return slack.NewUpdateViewSubmissionResponse(&slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  plain("Extension asked"),
		Close:  plain("Done"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{section("extended", extendText(r))}},
	})
}

// filedBlocks is the confirmation of a filed request, with a button that
// withdraws it.
func filedBlocks(r *approvals.Request) []slack.Block {
	cancel := slack.NewButtonBlockElement(ActionCancel, r.ID, plain("Cancel request"))
	return []slack.Block{
		section(blockFiled, filedText(r)),
		slack.NewActionBlock(blockFiledActions, cancel),
	}
}

// filedModal replaces the request modal once the request is filed.
func filedModal(r *approvals.Request) *slack.ModalViewRequest {
	return &slack.ModalViewRequest{
		Type:  slack.VTModal,
		Title: plain("Request filed"),
		Close: plain("Done"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section("filed", filedText(r)),
		}},
	}
}

// filedText tells a requester their request is filed and what comes next.
func filedText(r *approvals.Request) string {
	approvalsWord := "an approval"
	if r.Required > 1 {
		approvalsWord = fmt.Sprintf("%d approvals", r.Required)
	}
	return fmt.Sprintf(":inbox_tray: Request `%s` filed: *%s* for *%s*.\nIt needs %s; the approvers are being asked now. "+
		"You will get a DM once access is granted or the request is denied. The %s count from the grant, not from now.\n"+
		"`/access list` shows it; `/access revoke %s` withdraws it.",
		escape(r.ID), escape(r.Resource), approvals.FormatDuration(r.Duration), approvalsWord,
		approvals.FormatDuration(r.Duration), escape(r.ID))
}
