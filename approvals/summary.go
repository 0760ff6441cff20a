package approvals

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// AuditLog reads the audit log back, for summaries. The store implements it.
type AuditLog interface {
	// EventsBetween calls fn for each event with since <= Time < until, in
	// log order; a zero bound is open.
	EventsBetween(ctx context.Context, since, until time.Time, fn func(Event) error) error
	// AuditHead returns the number of events and the hash of the last one:
	// the anchor a summary publishes outside the database file.
	AuditHead(ctx context.Context) (Anchor, error)
}

// Anchor pins the audit log: record number Count has hash Hash. Published
// in every summary, it lets `accessbot audit verify --expect-head` prove
// the log was not cut back and rewritten since.
type Anchor struct {
	Count uint64
	Hash  string
}

func (a Anchor) String() string { return fmt.Sprintf("%s@%d", a.Hash, a.Count) }

// Summary is the periodic report to the audit channel.
type Summary struct {
	Since, Until time.Time
	// Counts of events in the period.
	Requested, Approved, Denied, Expired, Revoked, Failed int
	// Extended counts extensions approved in the period.
	Extended int
	// MedianDecision is the median time from request to decision of the
	// requests decided in the period (0 when none were).
	MedianDecision time.Duration
	Decided        int
	// Active grants now, soonest expiry first.
	Active []*Request
	// StalePending are requests pending for more than an hour.
	StalePending []*Request
	// RevokeFailing are grants whose revoke has failed and is still due.
	RevokeFailing []*Request
	Drift         []DriftFinding
	// Unreviewed are break-glass grants no approver has reviewed yet.
	Unreviewed []*Request
	// Omitted counts the entries of each list cut by Trim: the lists
	// are a sample, these say how many more there are.
	Omitted SummaryOmitted
	Anchor  Anchor
}

// stalePendingAge is how long a request may wait before the summary
// points at it.
const stalePendingAge = time.Hour

// Summarize builds the summary of the period that ends now and started
// `period` ago, runs drift detection, and returns both.
func (s *Service) Summarize(ctx context.Context, log AuditLog, period time.Duration) (*Summary, error) {
	now := s.now()
	sum := &Summary{Since: now.Add(-period), Until: now}
	// EventsBetween is half-open; include what happened at this instant.
	until := now.Add(time.Nanosecond)
	var decisions []time.Duration
	err := log.EventsBetween(ctx, sum.Since, until, func(ev Event) error {
		switch ev.Action {
		case ActionRequested:
			sum.Requested++
		case ActionApproved:
			sum.Approved++
		case ActionDenied:
			sum.Denied++
		case ActionExpired:
			sum.Expired++
		case ActionRevoked:
			sum.Revoked++
		case ActionExtended:
			sum.Extended++
		case ActionGrantFailed, ActionRevokeFailed:
			sum.Failed++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	open, err := s.store.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, r := range open {
		switch {
		case r.Status == StatusActive:
			sum.Active = append(sum.Active, r)
			if r.RevokeFailures > 0 {
				sum.RevokeFailing = append(sum.RevokeFailing, r)
			}
		case r.Status == StatusPending && now.Sub(r.CreatedAt) > stalePendingAge:
			sum.StalePending = append(sum.StalePending, r)
		}
	}
	sum.Unreviewed = s.unreviewed(ctx, open)
	slices.SortFunc(sum.Active, func(a, b *Request) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	// Decision times come from the events, which carry the request's
	// creation through its ID; re-reading each decided request is cheap
	// next to a summary's period.
	err = log.EventsBetween(ctx, sum.Since, until, func(ev Event) error {
		if ev.Action != ActionApproved && ev.Action != ActionDenied {
			return nil
		}
		r, err := s.store.Request(ctx, ev.RequestID)
		if err != nil {
			return nil // the event is what counts; a missing record is reported by verify
		}
		decisions = append(decisions, ev.Time.Sub(r.CreatedAt))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	sum.Decided = len(decisions)
	sum.MedianDecision = median(decisions)
	sum.Drift, err = s.DetectDrift(ctx)
	if err != nil {
		s.log.Error("drift detection", "err", err)
	}
	// The anchor is read last, so it covers the drift events just written.
	if sum.Anchor, err = log.AuditHead(ctx); err != nil {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	return sum, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

// SummaryOmitted counts list entries a Trim left out.
type SummaryOmitted struct {
	Active, StalePending, RevokeFailing, Drift, Unreviewed int
}

// SummaryListMax is how many entries of each list a summary keeps when it
// is queued for the audit channel: more than a chat message shows, and a
// hundred thousand active grants must not make a notice of a hundred
// megabytes.
const SummaryListMax = 200

// Trim cuts every list of s to at most n entries, counting in Omitted
// what it leaves out.
func (s *Summary) Trim(n int) {
	cutR := func(rs *[]*Request, omitted *int) {
		if len(*rs) > n {
			*omitted += len(*rs) - n
			*rs = (*rs)[:n]
		}
	}
	cutR(&s.Active, &s.Omitted.Active)
	cutR(&s.StalePending, &s.Omitted.StalePending)
	cutR(&s.RevokeFailing, &s.Omitted.RevokeFailing)
	cutR(&s.Unreviewed, &s.Omitted.Unreviewed)
	if len(s.Drift) > n {
		s.Omitted.Drift += len(s.Drift) - n
		s.Drift = s.Drift[:n]
	}
}

// ActiveCount is how many grants were active, listed or not.
func (s *Summary) ActiveCount() int { return len(s.Active) + s.Omitted.Active }
