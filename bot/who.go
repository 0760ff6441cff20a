package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// whoText renders the current holders of resource.
func whoText(resource string, holders []*approvals.Request, now time.Time) string {
	if len(holders) == 0 {
		return fmt.Sprintf("Nobody holds *%s* through accessbot right now.", escape(resource))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Holders of %s now* (%d)\n", escape(resource), len(holders))
	for _, r := range holders {
		fmt.Fprintf(&b, "• %s as `%s` — request `%s`, approved by %s, ", mention(r.Requester), userText(r.Identity, 200), escape(r.ID), mentionList(r.Approvers()))
		if now.Before(r.ExpiresAt) {
			fmt.Fprintf(&b, "until %s", when(r.ExpiresAt))
		} else {
			fmt.Fprintf(&b, "expired at %s, being removed", when(r.ExpiresAt))
		}
		if e := r.LastExtension(); e != nil && e.Status == approvals.ExtensionApproved {
			fmt.Fprintf(&b, " (extended, approved by %s)", mentionList(e.Approvers()))
		}
		if e := r.PendingExtension(); e != nil {
			fmt.Fprintf(&b, "; extension of %s waiting for approval", approvals.FormatDuration(e.Duration))
		}
		if r.RevokeRequestedBy != "" {
			fmt.Fprintf(&b, "; revocation requested by %s", mention(r.RevokeRequestedBy))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// whoAtText renders who held resource at instant at, in the past: each
// grant in force then, from when to when.
func whoAtText(resource string, at time.Time, holders []*approvals.Request, now time.Time) string {
	if len(holders) == 0 {
		return fmt.Sprintf("Nobody held *%s* through accessbot at %s.", escape(resource), when(at))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Holders of %s at %s* (%d)\n", escape(resource), when(at), len(holders))
	for _, r := range holders {
		fmt.Fprintf(&b, "• %s as `%s` — request `%s`, approved by %s, granted %s, ", mention(r.Requester), userText(r.Identity, 200), escape(r.ID), mentionList(r.Approvers()), when(r.GrantedAt))
		switch {
		case !r.EndedAt.IsZero():
			fmt.Fprintf(&b, "%s at %s", escape(string(r.Status)), when(r.EndedAt))
		case now.Before(r.ExpiresAt):
			fmt.Fprintf(&b, "still held, until %s", when(r.ExpiresAt))
		default:
			fmt.Fprintf(&b, "still held, expired at %s, being removed", when(r.ExpiresAt))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
