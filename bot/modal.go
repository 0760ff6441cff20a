package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// durationChoices are the durations the request form offers, those up to
// the resource's maximum (and its maximum itself when it is not one of
// them). A menu saves typing and cannot be mistyped; the typed command
// still takes any duration.
var durationChoices = []time.Duration{
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour,
}

// durationOptions returns the menu's options from lo to hi.
func durationOptions(lo, hi time.Duration) []*slack.OptionBlockObject {
	var ds []time.Duration
	for _, d := range durationChoices {
		if d >= lo && d <= hi {
			ds = append(ds, d)
		}
	}
	for _, d := range []time.Duration{lo, hi} {
		if d > 0 && d <= hi && !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	opts := make([]*slack.OptionBlockObject, 0, len(ds))
	for _, d := range ds[:min(len(ds), maxSelectOptions)] {
		opts = append(opts, slack.NewOptionBlockObject(approvals.FormatDuration(d), plain(durationWords(d)), nil))
	}
	return opts
}

// durationWords says d as people say it: "30 minutes", "2 hours", "1 day".
func durationWords(d time.Duration) string {
	unit := func(n int64, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d < time.Hour && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return approvals.FormatDuration(d)
}

// resourceOption is the menu option of resource r.
func resourceOption(r approvals.Resource) *slack.OptionBlockObject {
	desc := "up to " + approvals.FormatDuration(r.MaxDuration)
	if r.Description != "" {
		desc += " · " + r.Description
	}
	return slack.NewOptionBlockObject(r.Name, plain(cut(r.Name, maxOptionText)), plain(cut(desc, maxOptionText)))
}

// fitsMenu reports whether r can be a menu option: its name must fit an
// option's value. Typed commands still reach the others.
func fitsMenu(r approvals.Resource) bool { return textLen(r.Name) <= maxOptionValue }

// requestModal is the modal of "/access request" with no arguments: the
// resources user may request, a duration and a reason. chosen, when set,
// is the resource picked so far: the durations are then its own, and its
// reason_hint is shown. With up to 100 resources the menu lists them;
// beyond, Slack asks for them as the user types (resourceOptions). It
// reports false when no resource fits in a menu.
func requestModal(resources []approvals.Resource, chosen string) (slack.ModalViewRequest, bool) {
	var fit []approvals.Resource
	for _, r := range resources {
		if fitsMenu(r) {
			fit = append(fit, r)
		}
	}
	if len(fit) == 0 {
		return slack.ModalViewRequest{}, false
	}
	if len(fit) == 1 {
		chosen = fit[0].Name
	}
	var res *approvals.Resource
	for i := range fit {
		if fit[i].Name == chosen {
			res = &fit[i]
		}
	}

	var sel *slack.SelectBlockElement
	if len(fit) <= maxSelectOptions {
		options := make([]*slack.OptionBlockObject, 0, len(fit))
		for _, r := range fit {
			options = append(options, resourceOption(r))
		}
		sel = slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose a resource"), ActionModalResource, options...)
	} else {
		sel = slack.NewOptionsSelectBlockElement(slack.OptTypeExternal, plain("Type to search the resources"), ActionModalResource)
		zero := 0
		sel.MinQueryLength = &zero
	}
	if res != nil {
		sel.InitialOption = resourceOption(*res)
	}
	// Choosing a resource sends a block_actions, which narrows the
	// durations to its own and shows its reason_hint (resourceChosen).
	resourceBlock := slack.NewInputBlock(BlockModalResource, plain("Resource"), nil, sel)
	resourceBlock.DispatchAction = true

	// Until a resource is chosen, the menu goes up to the largest maximum;
	// Submit refuses more than the chosen resource's own.
	lo, hi := time.Duration(0), time.Duration(0)
	durHint := "Starts when access is granted. Choose a resource to see its own maximum."
	if res != nil {
		lo, hi = res.MinDuration, res.MaxDuration
		durHint = fmt.Sprintf("Starts when access is granted. %s allows up to %s.", res.Name, durationWords(res.MaxDuration))
		if lo > 0 {
			durHint = fmt.Sprintf("Starts when access is granted. %s allows %s to %s.", res.Name, durationWords(lo), durationWords(hi))
		}
	} else {
		for _, r := range fit {
			hi = max(hi, r.MaxDuration)
		}
	}
	duration := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How long"), ActionModalDuration, durationOptions(lo, hi)...)

	reason := slack.NewPlainTextInputBlockElement(plain("Ticket, incident, what you will do"), ActionModalReason)
	reason.Multiline = true
	reason.MaxLength = maxReasonInput
	reasonHint := fmt.Sprintf("Up to %d characters. Shown to the approvers and kept in the audit log.", maxReasonInput)
	if res != nil && res.ReasonHint != "" {
		reasonHint = fmt.Sprintf("%s wants: %s. %s", res.Name, strings.TrimSuffix(res.ReasonHint, "."), reasonHint)
	}

	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: CallbackRequestModal,
		Title:      plain("Request access"),
		Submit:     plain("Request"),
		Close:      plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			resourceBlock,
			slack.NewInputBlock(BlockModalDuration, plain("Duration"), plain(cut(durHint, 2000)), duration),
			slack.NewInputBlock(BlockModalReason, plain(fmt.Sprintf("Reason (up to %d characters)", maxReasonInput)), plain(cut(reasonHint, 2000)), reason),
		}},
	}, true
}

// openModal opens the request modal with the command's trigger_id. It runs
// on the acknowledgement path because a trigger_id expires 3 s after the
// command: waiting at most viewsOpenTimeout keeps the answer inside
// Slack's deadline, and a failure can still be answered with usage text.
func (b *Bot) openModal(ctx context.Context, cmd slack.SlashCommand) error {
	view, ok := requestModal(b.svc.Requestable(ctx, cmd.UserID), "")
	if !ok {
		return errNothingRequestable
	}
	ctx, cancel := context.WithTimeout(ctx, viewsOpenTimeout)
	defer cancel()
	_, err := b.client.OpenViewContext(ctx, cmd.TriggerID, view)
	return err
}

// resourceChosen rewrites the request modal once a resource is picked, to
// offer that resource's durations and show its reason_hint. It runs after
// the click is answered; the hash makes Slack refuse the rewrite if the
// modal changed meanwhile, and the form then stays as it was, which
// Submit still checks.
func (b *Bot) resourceChosen(ctx context.Context, ic slack.InteractionCallback, resource string) {
	user, viewID, hash := ic.User.ID, ic.View.ID, ic.View.Hash
	if viewID == "" {
		return
	}
	b.background(ctx, func(ctx context.Context) {
		view, ok := requestModal(b.svc.Requestable(ctx, user), resource)
		if !ok {
			return
		}
		err := b.api.do(ctx, "views.update", func(ctx context.Context) error {
			_, err := b.client.UpdateViewContext(ctx, view, "", hash, viewID)
			return err
		})
		if err != nil {
			b.log.Warn("could not narrow the request form to the chosen resource", "user", user, "err", err)
		}
	})
}

// optionsAnswer is the answer to a block_suggestion: at most 100 options.
// It is written out because slack.OptionsResponse leaves out an empty
// list, which Slack reads as an error rather than "no match".
type optionsAnswer struct {
	Options []*slack.OptionBlockObject `json:"options"`
}

// resourceOptions answers the resource menu's block_suggestion with the
// resources user may request whose name or description contains query,
// names that start with it first, at most 100.
func (b *Bot) resourceOptions(ctx context.Context, user, query string) any {
	q := strings.ToLower(strings.TrimSpace(query))
	var first, rest []*slack.OptionBlockObject
	for _, r := range b.svc.Requestable(ctx, user) {
		if !fitsMenu(r) {
			continue
		}
		name := strings.ToLower(r.Name)
		switch {
		case strings.HasPrefix(name, q):
			first = append(first, resourceOption(r))
		case strings.Contains(name, q) || strings.Contains(strings.ToLower(r.Description), q):
			rest = append(rest, resourceOption(r))
		}
	}
	all := append(append([]*slack.OptionBlockObject{}, first...), rest...)
	return optionsAnswer{Options: all[:min(len(all), maxSelectOptions)]}
}
