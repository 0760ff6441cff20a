package approvals

import (
	"context"
	"fmt"
	"time"
)

// StatusTimedOut is a request closed because nobody decided it within its
// resource's pending_timeout. ("expired" is taken: it names a grant that
// ran its course.)
const StatusTimedOut Status = "timed_out"

// ActionTimedOut records that a pending request was closed unanswered.
const ActionTimedOut = "timed_out"

// DefaultPendingTimeout is how long a request waits for a decision when
// its resource sets no pending_timeout.
const DefaultPendingTimeout = 24 * time.Hour

// maxExpiryWarning caps how long before its expiry a holder is warned.
const maxExpiryWarning = 15 * time.Minute

// PendingTimeoutOf returns how long a request for res waits for a
// decision before it is closed.
func PendingTimeoutOf(res Resource) time.Duration {
	if res.PendingTimeout > 0 {
		return res.PendingTimeout
	}
	return DefaultPendingTimeout
}

// ExpiryWarningAt returns when the holder of r is warned that the grant
// is about to end: a tenth of the time granted before the expiry, at most
// 15 minutes before it.
func ExpiryWarningAt(r *Request) time.Time {
	lead := min(r.ExpiresAt.Sub(r.GrantedAt)/10, maxExpiryWarning)
	return r.ExpiresAt.Add(-lead)
}

// Nudge runs the checks of time passing on open requests, meant to run
// beside the expiry sweep: a pending request past its resource's
// pending_timeout is closed as timed out (an audited change: the approval
// messages are updated and the requester is told); one past remind_after
// reminds its approvers, once; a holder near the expiry is warned, once
// per expiry, and offered an extension. Reminders and warnings change no
// state worth auditing, so they carry no event, but each is recorded on
// the request so that it is sent once. It reads the pending requests and
// the grants ending within the longest warning lead, never every grant,
// so a sweep stays cheap with many grants active. It returns the first
// error after trying every request.
func (s *Service) Nudge(ctx context.Context) error {
	now := s.now()
	open, err := s.nudgeable(ctx, now)
	if err != nil {
		return err
	}
	p := s.Policy()
	var first error
	for _, r := range open {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res, _ := p.Resource(r.Resource)
		var err error
		switch {
		case r.Status == StatusPending && !now.Before(r.CreatedAt.Add(PendingTimeoutOf(res))):
			err = s.timeOut(ctx, r.ID, PendingTimeoutOf(res))
		case r.Status == StatusPending && res.RemindAfter > 0 && r.RemindedAt.IsZero() && !now.Before(r.CreatedAt.Add(res.RemindAfter)):
			err = s.remind(ctx, r.ID, res.RemindAfter)
		case warningDue(r, now):
			err = s.warnExpiry(ctx, r.ID)
		}
		if err != nil && !isNoChange(err) {
			s.log.Error("nudge", "request_id", r.ID, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// warningDue reports whether the holder of r should be warned now that
// the grant is about to end: active, not being revoked, not warned about
// this expiry yet, no extension already asked for, and inside the warning
// window.
func warningDue(r *Request, now time.Time) bool {
	return r.Status == StatusActive && !r.GrantUncertain && r.RevokeRequestedBy == "" &&
		!r.ExpiryWarnedFor.Equal(r.ExpiresAt) && r.PendingExtension() == nil &&
		!now.Before(ExpiryWarningAt(r)) && now.Before(r.ExpiresAt)
}

// timeOut closes pending request id, unanswered for timeout.
func (s *Service) timeOut(ctx context.Context, id string, timeout time.Duration) error {
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusPending {
			return Change{}, errNoChange
		}
		r.Status, r.EndedAt, r.EndedBy = StatusTimedOut, now, SystemActor
		ev := s.event(r, ActionTimedOut, SystemActor, now)
		ev.Detail = fmt.Sprintf("no decision within %s; nothing was granted", FormatDuration(timeout))
		return told(ev, true), nil
	})
	if err == nil {
		s.log.Info("request timed out", "request_id", id, "after", timeout)
	}
	return err
}

// remind reminds the approvers of pending request id, once.
func (s *Service) remind(ctx context.Context, id string, after time.Duration) error {
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusPending || !r.RemindedAt.IsZero() || len(r.Asked) == 0 {
			return Change{}, errNoChange
		}
		r.RemindedAt = now
		return Change{Notices: []Notice{{At: now, RequestID: r.ID, Remind: true}}}, nil
	})
	if err == nil {
		s.log.Info("approvers reminded", "request_id", id, "after", after)
	}
	return err
}

// warnExpiry warns the holder of request id that it is about to end.
func (s *Service) warnExpiry(ctx context.Context, id string) error {
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if !warningDue(r, now) {
			return Change{}, errNoChange
		}
		r.ExpiryWarnedFor = r.ExpiresAt
		return Change{Notices: []Notice{{At: now, RequestID: r.ID, WarnExpiry: true}}}, nil
	})
	return err
}

// Cancel withdraws pending request id on behalf of actor, who must have
// filed it (the Cancel button of the confirmation). Errors: ENOTFOUND,
// EFORBIDDEN (someone else's request), ECONFLICT (already decided or
// closed).
func (s *Service) Cancel(ctx context.Context, actor, id string) (*Request, error) {
	now := s.now()
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Requester != actor {
			return Change{}, Errorf(EFORBIDDEN, "only %s, who filed %s, can cancel it", mentionActor(r.Requester), r.ID)
		}
		if r.Status != StatusPending {
			return Change{}, Errorf(ECONFLICT, "%s can no longer be cancelled: it is already %s", r.ID, describeDecision(r))
		}
		r.Status, r.EndedAt, r.EndedBy = StatusCancelled, now, actor
		return told(s.event(r, ActionCancelled, actor, now), true), nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("request cancelled", "request_id", id, "by", actor)
	return r, nil
}

// Get returns request id for actor, who must have filed it. Errors:
// ENOTFOUND, also for someone else's request (an ID says nothing to
// whoever did not file it).
func (s *Service) Get(ctx context.Context, actor, id string) (*Request, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Requester != actor {
		return nil, Errorf(ENOTFOUND, "you have no request %s; /access list shows yours", id)
	}
	return r, nil
}

// PendingLister is implemented by stores that can read the pending
// requests without the other open ones (active grants can be many).
type PendingLister interface {
	PendingRequests(ctx context.Context) ([]*Request, error)
}

// nudgeable returns the requests a nudge may concern: the pending ones,
// and the grants whose revoke is due within the longest warning lead,
// read from the index by time.
func (s *Service) nudgeable(ctx context.Context, now time.Time) ([]*Request, error) {
	var pending []*Request
	var err error
	if pl, ok := s.store.(PendingLister); ok {
		pending, err = pl.PendingRequests(ctx)
	} else {
		var open []*Request
		open, err = s.store.OpenRequests(ctx, "")
		for _, r := range open {
			if r.Status == StatusPending {
				pending = append(pending, r)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read pending requests: %w", err)
	}
	ending, err := s.store.DueRevokes(ctx, now.Add(maxExpiryWarning))
	if err != nil {
		return nil, fmt.Errorf("read grants ending soon: %w", err)
	}
	return append(pending, ending...), nil
}
