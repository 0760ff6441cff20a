package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/commands"
)

// errNothingRequestable stops the request modal for a user with no
// identity for any resource.
var errNothingRequestable = errors.New("nothing requestable")

// nothingRequestable tells a user why they cannot request anything.
const nothingRequestable = "There is nothing you can request: you have no account for any resource's provider in the policy. Ask an admin to add you under `identities`."

// Command handles one /access command and returns the ephemeral reply, or
// nil for an empty acknowledgement (the request modal was opened). On this
// path only store commits and reads happen (Service.Submit, Revoke,
// Extend, Who) plus, for the modal, views.open, bounded by
// viewsOpenTimeout; approval messages, grants and revokes run in the
// background.
func (b *Bot) Command(ctx context.Context, cmd slack.SlashCommand) *Reply {
	user := cmd.UserID
	c, err := commands.Parse(cmd.Text)
	if err != nil {
		return ephemeral(b.errorText(err, "parse command", user))
	}
	switch c := c.(type) {
	case commands.Usage:
		return ephemeral(commands.Help())
	case commands.RequestForm:
		err := b.openModal(ctx, cmd)
		if err == nil {
			return nil
		}
		if errors.Is(err, errNothingRequestable) {
			return ephemeral(nothingRequestable)
		}
		b.log.Warn("could not open the request modal; answering with usage", "user", user, "err", err)
		return ephemeral("The request form could not be opened; type the request instead:\n\n" + commands.Help())
	case commands.Request:
		r, err := b.svc.Submit(ctx, user, c.Resource, c.Duration, c.Reason)
		if err != nil {
			return ephemeral(b.errorText(err, "submit request", user))
		}
		rep := ephemeral(filedText(r))
		rep.Blocks = filedBlocks(r)
		return rep
	case commands.List:
		rs, err := b.svc.List(ctx, user)
		if err != nil {
			return ephemeral(b.errorText(err, "list requests", user))
		}
		// Counts follow the policy in force, as the next click would.
		for i, r := range rs {
			rs[i] = b.svc.Policy().Counted(r)
		}
		return ephemeral(listText(rs))
	case commands.Resources:
		return ephemeral(resourcesText(b.svc.Requestable(ctx, user)))
	case commands.Revoke:
		r, err := b.svc.Revoke(ctx, user, c.ID)
		if err != nil {
			return ephemeral(b.errorText(err, "revoke", user))
		}
		return ephemeral(revokeText(r, user))
	case commands.Extend:
		r, err := b.svc.Extend(ctx, user, c.ID, c.Duration, c.Reason)
		if err != nil {
			return ephemeral(b.errorText(err, "extend", user))
		}
		return ephemeral(extendText(r))
	case commands.BreakGlass:
		return ephemeral(b.breakGlass(ctx, user, c))
	case commands.Who:
		now := b.svc.Now()
		at := c.At
		if c.Ago > 0 {
			at = now.Add(-c.Ago)
		}
		holders, err := b.svc.WhoAt(ctx, user, c.Resource, at)
		if err != nil {
			return ephemeral(b.errorText(err, "who", user))
		}
		name := c.Resource
		if res, ok := b.svc.Policy().Resource(c.Resource); ok {
			name = res.Name
		}
		if at.IsZero() {
			return ephemeral(whoText(name, holders, now))
		}
		return ephemeral(whoAtText(name, at, holders, now))
	}
	return ephemeral(commands.Help())
}

// listText renders the caller's open requests and grants.
func listText(rs []*approvals.Request) string {
	if len(rs) == 0 {
		return "You have no pending requests and no active grants. `/access resources` shows what you can request."
	}
	var b strings.Builder
	b.WriteString("*Your requests and grants*\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "• `%s` *%s* for %s — ", escape(r.ID), escape(r.Resource), approvals.FormatDuration(r.Duration))
		switch r.Status {
		case approvals.StatusPending:
			fmt.Fprintf(&b, "pending, %d of %s", len(r.Approvals), approvals.Count(r.Required, "approval"))
			if len(r.Approvals) > 0 {
				fmt.Fprintf(&b, " (%s)", mentionList(r.Approvers()))
			}
			fmt.Fprintf(&b, ", filed %s", when(r.CreatedAt))
		case approvals.StatusApproved, approvals.StatusGranting:
			fmt.Fprintf(&b, "approved by %s, being granted", mentionList(r.Approvers()))
		case approvals.StatusActive:
			fmt.Fprintf(&b, "active until %s, approved by %s", when(r.ExpiresAt), mentionList(r.Approvers()))
			if e := r.PendingExtension(); e != nil {
				fmt.Fprintf(&b, "; extension of %s waiting for approval (%d of %d)", approvals.FormatDuration(e.Duration), len(e.Approvals), e.Required)
			}
			if r.RevokeRequestedBy != "" {
				fmt.Fprintf(&b, "; revocation requested by %s", mention(r.RevokeRequestedBy))
			}
		default:
			b.WriteString(escape(string(r.Status)))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// resourcesText renders what the caller may request.
func resourcesText(rs []approvals.Resource) string {
	if len(rs) == 0 {
		return nothingRequestable
	}
	var b strings.Builder
	b.WriteString("*You can request*\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "• *%s*", escape(r.Name))
		if r.System != "" {
			fmt.Fprintf(&b, " (%s)", escape(r.System))
		}
		fmt.Fprintf(&b, " — up to %s", approvals.FormatDuration(r.MaxDuration))
		if r.MinDuration > 0 {
			fmt.Fprintf(&b, ", at least %s", approvals.FormatDuration(r.MinDuration))
		}
		fmt.Fprintf(&b, "; %s from %s", approvals.Count(r.Required(), "approval"), mentionList(r.Approvers))
		if r.Description != "" {
			fmt.Fprintf(&b, "\n    _%s_", escape(r.Description))
		}
		b.WriteByte('\n')
	}
	b.WriteString("Ask with `/access request RESOURCE DURATION REASON…`, or `/access request` for a form.")
	return b.String()
}

// revokeText tells the caller what their revoke did.
func revokeText(r *approvals.Request, user string) string {
	id, res := "`"+escape(r.ID)+"`", "*"+escape(r.Resource)+"*"
	switch {
	case r.Status == approvals.StatusCancelled && r.EndedBy == user:
		return fmt.Sprintf("Cancelled request %s for %s.", id, res)
	case r.Status == approvals.StatusActive && r.RevokeRequestedBy != "":
		return fmt.Sprintf("Revoking %s (request %s) now; the holder and the audit channel are told once it is removed.", res, id)
	case r.Status.Final():
		return fmt.Sprintf("Request %s for %s has already ended: %s.", id, res, escape(string(r.Status)))
	}
	return fmt.Sprintf("Request %s for %s is %s.", id, res, escape(string(r.Status)))
}
