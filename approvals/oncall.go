package approvals

import (
	"context"
	"fmt"
	"time"
)

// Audit actions of on-call auto-approval.
const (
	// ActionAutoApproved records a request approved by a rule rather than
	// a person: its Detail names the rule that matched.
	ActionAutoApproved = "auto_approved"
	// ActionAutoApproveFailed records that a rule could not be checked
	// (PagerDuty did not answer): the request went to the approvers.
	ActionAutoApproveFailed = "auto_approve_failed"
)

// AutoApprove is a resource's auto_approve rule: a requester who is on
// call right now in one of the PagerDuty schedules is approved without an
// approver.
type AutoApprove struct {
	PagerDutySchedules []string
}

// OnCall says whether a person is on call. The service asks it for
// resources with an auto_approve rule.
type OnCall interface {
	// OnCall reports whether requester (a Slack user ID) is on call at the
	// instant at in one of the schedules, and in which. An error means "do
	// not know": the request goes to the approvers. A requester the
	// implementation cannot map to an on-call person is not on call.
	OnCall(ctx context.Context, requester string, scheduleIDs []string, at time.Time) (schedule string, onCall bool, err error)
}

// onCallTimeout bounds the on-call check: approvers are kept waiting for
// it.
const onCallTimeout = 15 * time.Second

// autoApprove applies the auto_approve rule of r's resource to pending
// request r. It reports true when the rule approved r (the grant then runs
// in the background). A failed check is recorded in r's audit thread and
// leaves r to the approvers.
func (s *Service) autoApprove(ctx context.Context, r *Request) bool {
	res, ok := s.Policy().Resource(r.Resource)
	if !ok || res.AutoApprove == nil || len(res.AutoApprove.PagerDutySchedules) == 0 {
		return false
	}
	schedules := res.AutoApprove.PagerDutySchedules
	var schedule string
	var onCall bool
	err := fmt.Errorf("PagerDuty is not configured on this server (ACCESSBOT_PAGERDUTY_TOKEN)")
	if s.onCall != nil {
		cctx, cancel := context.WithTimeout(ctx, onCallTimeout)
		schedule, onCall, err = s.onCall.OnCall(cctx, r.Requester, schedules, s.now())
		cancel()
	}
	now := s.now()
	if err != nil {
		s.log.Warn("on-call check failed; asking the approvers", "request_id", r.ID, "err", err)
		_, uerr := s.store.Transition(ctx, r.ID, func(r *Request) (Change, error) {
			if r.Status != StatusPending {
				return Change{}, errNoChange
			}
			ev := s.event(r, ActionAutoApproveFailed, SystemActor, now)
			ev.Detail = "could not check PagerDuty on-call, so the approvers are asked: " + err.Error()
			e := ev
			return Change{Events: []Event{ev}, Notices: []Notice{{At: now, RequestID: r.ID, Event: &e}}}, nil
		})
		if uerr != nil {
			s.logUpdate("record failed on-call check", r.ID, uerr)
		}
		return false
	}
	if !onCall {
		s.log.Debug("requester not on call; asking the approvers", "request_id", r.ID)
		return false
	}
	rule := "pagerduty:" + schedule
	_, err = s.store.Transition(ctx, r.ID, func(r *Request) (Change, error) {
		if r.Status != StatusPending || len(r.Asked) > 0 || len(r.Messages) > 0 {
			return Change{}, errNoChange
		}
		r.Status = StatusApproved
		r.Approvals = []Approval{{Approver: rule, At: now}}
		r.AutoApprovedBy = rule
		r.DecidedBy, r.DecidedAt = SystemActor, now
		ev := s.event(r, ActionAutoApproved, SystemActor, now)
		ev.Detail = fmt.Sprintf("on call in PagerDuty schedule %s", schedule)
		return told(ev, false), nil
	})
	if err != nil {
		s.logUpdate("record auto-approval", r.ID, err)
		// Moved on meanwhile (withdrawn): nothing left to ask.
		return isNoChange(err)
	}
	s.log.Info("request approved: requester on call", "request_id", r.ID, "schedule", schedule)
	id := r.ID
	s.background(ctx, func(ctx context.Context) { s.grant(ctx, id) })
	return true
}
