package bot

import (
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Block IDs of the summary message.
const (
	blockSummaryHeader  = "summary_header"
	blockSummaryCounts  = "summary_counts"
	blockSummaryActive  = "summary_active"
	blockSummaryPending = "summary_pending"
	blockSummaryRevokes = "summary_revoke_failures"
	blockSummaryDrift   = "summary_drift"
	blockSummaryAnchor  = "summary_anchor"
)

// maxSummaryLine bounds one entry of a summary list, so that a long reason
// or error cannot crowd out the rest of its section.
const maxSummaryLine = 400

// summaryText is the summary's plain fallback, shown in notifications.
func summaryText(s *approvals.Summary) string {
	return cut(fmt.Sprintf("Access summary %s: %d requests, %d approved, %d denied, %d expired, %d revoked early, %d extended, %d failed; %d active grants, %d drift findings. Audit anchor %s",
		summaryPeriod(s), s.Requested, s.Approved, s.Denied, s.Expired, s.Revoked, s.Extended, s.Failed, s.ActiveCount(), len(s.Drift)+s.Omitted.Drift, s.Anchor), maxSectionText)
}

// summaryBlocks renders s in a fixed number of blocks, well under Slack's
// 50, each section within its 3000 characters.
func summaryBlocks(s *approvals.Summary) []slack.Block {
	median := "—"
	if s.Decided > 0 {
		median = fmt.Sprintf("%s (%d decided)", roughDuration(s.MedianDecision), s.Decided)
	}
	failures := fmt.Sprint(s.Failed)
	if s.Failed > 0 {
		failures = fmt.Sprintf(":warning: %d failed", s.Failed)
	}
	field := func(label, value string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, "*"+label+"*\n"+value, false, false)
	}
	counts := slack.NewSectionBlock(nil, []*slack.TextBlockObject{
		field("Requests", fmt.Sprint(s.Requested)),
		field("Approvals", fmt.Sprint(s.Approved)),
		field("Denials", fmt.Sprint(s.Denied)),
		field("Expiries", fmt.Sprint(s.Expired)),
		field("Early revocations", fmt.Sprint(s.Revoked)),
		field("Extensions", fmt.Sprint(s.Extended)),
		field("Failures", failures),
		field("Median time to decision", median),
		field("Active grants now", fmt.Sprint(s.ActiveCount())),
	}, nil, slack.SectionBlockOptionBlockID(blockSummaryCounts))

	active := make([]string, 0, len(s.Active))
	for _, r := range s.Active {
		active = append(active, activeLine(r, s.Until))
	}
	pending := make([]string, 0, len(s.StalePending))
	for _, r := range s.StalePending {
		pending = append(pending, fmt.Sprintf("• `%s` *%s* by %s, waiting %s (%d of %s)",
			escape(r.ID), escape(r.Resource), mention(r.Requester), roughDuration(s.Until.Sub(r.CreatedAt)), len(r.Approvals), approvals.Count(requiredOf(r), "approval")))
	}
	revokes := make([]string, 0, len(s.RevokeFailing))
	for _, r := range s.RevokeFailing {
		line := fmt.Sprintf("• `%s` *%s*: %s still holds it; %s", escape(r.ID), escape(r.Resource), mention(r.Requester), approvals.Count(r.RevokeFailures, "failed attempt"))
		if !r.RevokeRetryAt.IsZero() {
			line += ", next " + shortTime(r.RevokeRetryAt)
		}
		if r.LastError != "" {
			line += ". " + userText(r.LastError, 200)
		}
		revokes = append(revokes, line)
	}
	drift := make([]string, 0, len(s.Drift))
	for _, f := range s.Drift {
		line := fmt.Sprintf("• *%s*: `%s` holds it with no grant", escape(f.Resource), userText(f.Identity, 200))
		switch {
		case f.Error != "":
			line += "; removing it failed: " + userText(f.Error, 200)
		case f.Revoked:
			line += "; removed"
		default:
			line += "; reported, not removed"
		}
		drift = append(drift, line)
	}

	anchor := "The audit log is empty."
	if s.Anchor.Count > 0 {
		a := escape(s.Anchor.String())
		anchor = fmt.Sprintf(":link: *Audit chain anchor* `%s`\nKeep it outside this server; later, `accessbot audit verify --expect-head %s` proves the log was not cut back or rewritten.", a, a)
	}
	return []slack.Block{
		slack.NewHeaderBlock(plain(cut("Access summary · "+summaryPeriod(s), maxHeaderText)), slack.HeaderBlockOptionBlockID(blockSummaryHeader)),
		counts,
		slack.NewDividerBlock(),
		listSection(blockSummaryActive, ":key: Active grants", active, s.Omitted.Active),
		listSection(blockSummaryPending, ":hourglass: Pending for over an hour", pending, s.Omitted.StalePending),
		listSection(blockSummaryRevokes, ":warning: Revoke failures still outstanding", revokes, s.Omitted.RevokeFailing),
		listSection(blockSummaryDrift, ":mag: Drift: access held outside accessbot", drift, s.Omitted.Drift),
		listSection(blockSummaryUnreviewed, ":rotating_light: Break-glass grants not reviewed yet", unreviewedLines(s), s.Omitted.Unreviewed),
		slack.NewDividerBlock(),
		section(blockSummaryAnchor, anchor),
	}
}

// maxHeaderText is Slack's limit on a header block's text.
const maxHeaderText = 150

// activeLine is one active grant: resource, holder, time left.
func activeLine(r *approvals.Request, now time.Time) string {
	left := r.ExpiresAt.Sub(now)
	state := roughDuration(left) + " left"
	switch {
	case r.RevokeRequestedBy != "":
		state = "revocation requested by " + mention(r.RevokeRequestedBy)
	case left <= 0:
		state = "expired, revoke due"
	}
	return fmt.Sprintf("• *%s* · %s as `%s` · %s · `%s`", escape(r.Resource), mention(r.Requester), userText(r.Identity, 100), state, escape(r.ID))
}

// listSection renders a titled list in one section, keeping as many lines
// as fit in Slack's 3000 characters and saying how many were left out.
func listSection(blockID, title string, lines []string, omitted int) *slack.SectionBlock {
	total := len(lines) + omitted
	text := fmt.Sprintf("*%s (%d)*", title, total)
	if total == 0 {
		return section(blockID, text+"\n_none_")
	}
	for i, line := range lines {
		line = cut(line, maxSummaryLine)
		more := ""
		if rest := total - i - 1; rest > 0 {
			more = fmt.Sprintf("\n_…and %d more_", rest)
		}
		if textLen(text)+1+textLen(line)+textLen(more) > maxSectionText {
			text += fmt.Sprintf("\n_…and %d more_", total-i)
			return section(blockID, text)
		}
		text += "\n" + line
	}
	if omitted > 0 {
		text += fmt.Sprintf("\n_…and %d more_", omitted)
	}
	return section(blockID, text)
}

// summaryPeriod renders the period a summary covers, in UTC.
func summaryPeriod(s *approvals.Summary) string {
	const layout = "Jan 2 15:04"
	return fmt.Sprintf("%s – %s UTC", s.Since.UTC().Format(layout), s.Until.UTC().Format(layout))
}

// shortTime renders an instant compactly, for list entries.
func shortTime(t time.Time) string { return t.UTC().Format("Jan 2 15:04 UTC") }

// roughDuration prints d to the minute (to the second under a minute), as
// a reader of a summary wants it.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "under 1s"
	case d < time.Minute:
		return approvals.FormatDuration(d.Round(time.Second))
	}
	return approvals.FormatDuration(d.Round(time.Minute))
}
