package commands

import (
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// BreakGlass is `/access break-glass RESOURCE DURATION REASON…`: take the
// access at once, without an approver, on a resource whose policy allows
// it; admins are alerted and the approvers review it afterwards.
type BreakGlass struct {
	Resource string
	Duration time.Duration
	Reason   string
}

func (BreakGlass) command() {}

const usageBreakGlass = "/access break-glass RESOURCE DURATION REASON…"

// helpBreakGlass is the usage of break-glass, for Help.
const helpBreakGlass = "• `" + usageBreakGlass + "` — emergency access, granted at once without an approver, only on resources that allow it; admins are alerted and the approvers review it afterwards.\n" +
	"    e.g. `/access break-glass payments-admin 30m INC-4242 payments down`\n"

// parseBreakGlass parses what follows "break-glass".
func parseBreakGlass(rest string) (Command, error) {
	resource, rest := next(rest)
	if resource == "" {
		return nil, approvals.Errorf(approvals.EINVALID, "a resource is required: %s (/access resources lists them)", usageBreakGlass)
	}
	d, reason, err := durationAndReason(rest, usageBreakGlass, "/access break-glass "+resource+" 30m INC-4242 payments down")
	if err != nil {
		return nil, err
	}
	return BreakGlass{Resource: resource, Duration: d, Reason: reason}, nil
}
