package approvals

import (
	"context"
	"fmt"
)

// ActionStepUpRefused records an approval click that did not count because
// the approver's step-up (a Duo push) was denied, timed out or failed.
const ActionStepUpRefused = "step_up_refused"

// StepUp confirms, out of band, that an approval click was made by the
// approver: for a resource with step_up, the click counts only once the
// method named there allows it.
type StepUp interface {
	// Verify asks approver (a Slack user ID) to confirm, showing reason,
	// and reports whether they did. false or an error refuses the click;
	// an approver the implementation cannot map to an account is refused.
	Verify(ctx context.Context, approver, reason string) (bool, error)
}

// steppedUp is the step-up an approval passed: the method, or "" when the
// resource asks for none.
type steppedUp string

// mark returns fn with the step-up noted on the approval events fn writes
// for actor, so that the log shows the click was confirmed.
func (m steppedUp) mark(actor string, fn func(r *Request) (Change, error)) func(r *Request) (Change, error) {
	if m == "" {
		return fn
	}
	note := "step-up: " + string(m)
	return func(r *Request) (Change, error) {
		ch, err := fn(r)
		if err != nil {
			return ch, err
		}
		add := func(ev *Event) {
			if ev.Actor != actor || (ev.Action != ActionApproval && ev.Action != ActionApproved && ev.Action != ActionExtensionApproval && ev.Action != ActionExtended) {
				return
			}
			if ev.Detail == "" {
				ev.Detail = note
			} else {
				ev.Detail += "; " + note
			}
		}
		for i := range ch.Events {
			add(&ch.Events[i])
		}
		for i := range ch.Notices {
			if ch.Notices[i].Event != nil {
				e := *ch.Notices[i].Event
				add(&e)
				ch.Notices[i].Event = &e
			}
		}
		return ch, nil
	}
}

// stepUpCheck runs the step-up of request id's resource for actor's
// approval click, before the click is recorded. It first checks that
// actor may decide at all, so nobody who could not approve is pushed.
// A refused step-up is recorded in the log and returned as EFORBIDDEN.
func (s *Service) stepUpCheck(ctx context.Context, actor, id string, msg MessageRef) (steppedUp, error) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return "", err
	}
	res, ok := s.Policy().Resource(r.Resource)
	if !ok || res.StepUp == "" {
		return "", nil
	}
	if err := clickedRound(r, msg); err != nil {
		return "", err
	}
	what := fmt.Sprintf("approve %s for %s", r.Resource, r.Requester)
	switch {
	case r.Status == StatusPending:
		if err := s.mayDecide(r, actor, s.resolve(ctx, true, res.Approvers)); err != nil {
			return "", err
		}
		if r.HasApproved(actor) {
			return "", nil // the transition says so
		}
	case r.Status == StatusActive && r.PendingExtension() != nil:
		if !res.IsApprover(actor) || (actor == r.Requester && !res.AllowSelfApproval) {
			return "", nil // the transition refuses it
		}
		what = fmt.Sprintf("extend %s for %s by %s", r.Resource, r.Requester, FormatDuration(r.PendingExtension().Duration))
	default:
		return "", nil // decided already: the transition says so
	}
	method := res.StepUp
	v, ok := s.stepUp[method]
	var allowed bool
	err = fmt.Errorf("step-up %s is not configured on this server", method)
	if ok && v != nil {
		allowed, err = v.Verify(ctx, actor, fmt.Sprintf("accessbot: %s (request %s)", what, r.ID))
	}
	if err == nil && allowed {
		return steppedUp(method), nil
	}
	why := "denied or timed out"
	if err != nil {
		why = err.Error()
		s.log.Warn("step-up failed", "request_id", id, "approver", actor, "method", method, "err", err)
	}
	now := s.now()
	_, uerr := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		ev := s.event(r, ActionStepUpRefused, actor, now)
		ev.Outcome = "refused"
		ev.Detail = fmt.Sprintf("step-up %s not confirmed (%s); the approval of %s did not count", method, why, actor)
		e := ev
		return Change{Events: []Event{ev}, Notices: []Notice{{At: now, RequestID: r.ID, Event: &e}}}, nil
	})
	if uerr != nil {
		s.logUpdate("record refused step-up", id, uerr)
	}
	return "", Errorf(EFORBIDDEN, "your %s was denied or timed out; your approval did not count", stepUpName(method))
}

// stepUpName names a step-up method for people.
func stepUpName(method string) string {
	if method == "duo" {
		return "Duo push"
	}
	return method + " step-up"
}

// NeedsStepUp reports whether an approval of request id asks for a
// step-up, which may take as long as a person takes to answer their
// phone: the chat side then decides the click after answering it.
func (s *Service) NeedsStepUp(ctx context.Context, id string) bool {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return false
	}
	res, ok := s.Policy().Resource(r.Resource)
	return ok && res.StepUp != ""
}
