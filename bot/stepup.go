package bot

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// approveLater decides an approval click that needs a step-up after the
// click is answered: the push waits for the approver's phone. It reports
// whether it took the click.
func (b *Bot) approveLater(ctx context.Context, ic slack.InteractionCallback, a *slack.BlockAction) bool {
	if !b.svc.NeedsStepUp(ctx, a.Value) {
		return false
	}
	user, id, msg := ic.User.ID, a.Value, clicked(ic)
	b.background(ctx, func(ctx context.Context) {
		if _, err := b.svc.ApproveFrom(ctx, user, id, msg); err != nil {
			b.log.Info("click refused", "request_id", cut(id, 64), "user", user, "action", ActionApprove, "code", approvals.ErrorCode(err))
			b.refuse(ctx, ic, b.errorText(err, "decide request", user))
		}
	})
	return true
}
