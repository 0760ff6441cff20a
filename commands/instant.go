package commands

import (
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// instantHint ends every malformed-time message of `who … at TIME`.
const instantHint = "give a UTC time like 2026-11-22T10:00:00Z or 2026-11-22 10:00, or how long ago, like 2 hours ago"

// instantLayouts are the absolute times `who … at` reads. Times without
// a zone are UTC, as in the audit log and every message.
var instantLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02"}

// parseInstant reads the TIME of `who RESOURCE at TIME`: an absolute time
// (returned as at), or a duration followed by "ago" (returned as ago, for
// the caller to count back from its clock).
func parseInstant(s string) (at time.Time, ago time.Duration, err error) {
	if s == "" {
		return time.Time{}, 0, approvals.Errorf(approvals.EINVALID, "a time is required after at: %s", instantHint)
	}
	if rest, ok := cutSuffixFold(s, "ago"); ok {
		d, err := approvals.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return time.Time{}, 0, approvals.Errorf(approvals.EINVALID, "malformed time %q: %s", s, instantHint)
		}
		return time.Time{}, d, nil
	}
	for _, layout := range instantLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), 0, nil
		}
	}
	return time.Time{}, 0, approvals.Errorf(approvals.EINVALID, "malformed time %q: %s", s, instantHint)
}

// cutSuffixFold is strings.CutSuffix ignoring case.
func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
