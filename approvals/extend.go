package approvals

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Audit actions of extensions. Every one carries the request ID of the
// grant it extends, the extra time asked for as Duration, the extension's
// reason as Reason and its approvers as Approvers.
const (
	ActionExtensionRequested = "extension_requested"
	ActionExtensionApproval  = "extension_approval" // one approver's yes, before the threshold
	ActionExtended           = "extended"           // approved: ExpiresAt moved later
	ActionExtensionDenied    = "extension_denied"
	ActionExtensionClosed    = "extension_closed" // the grant ended before a decision
)

// ExtensionStatus is the stored state of one extension round.
type ExtensionStatus string

// Extension states. Only ExtensionPending can change, and only once.
const (
	ExtensionPending  ExtensionStatus = "pending"  // waiting for approvals
	ExtensionApproved ExtensionStatus = "approved" // applied: the grant's expiry moved
	ExtensionDenied   ExtensionStatus = "denied"   // an approver said no; the grant is as it was
	ExtensionClosed   ExtensionStatus = "closed"   // the grant ended (expired, revoked) first
)

// Extension is one "/access extend" of an active grant: a new approval
// round under the same request ID. While it is pending the grant runs on
// unchanged; approved, it moves the grant's expiry from FromExpiresAt to
// ToExpiresAt. The provider is not called: the access is in place already,
// and the revoke at the new expiry uses the request's settings snapshot.
type Extension struct {
	// Duration is the time added to the expiry.
	Duration    time.Duration `json:"duration"`
	Reason      string        `json:"reason"`
	RequestedAt time.Time     `json:"requested_at"`
	// Required is the number of distinct approvals needed, fixed when asked.
	Required  int             `json:"required"`
	Status    ExtensionStatus `json:"status"`
	Approvals []Approval      `json:"approvals,omitempty"`
	// DecidedBy is the approver whose click approved or denied it (empty
	// when it was closed because the grant ended).
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// FromExpiresAt is the grant's expiry when the extension was asked
	// for, ToExpiresAt the expiry it asks for (FromExpiresAt + Duration).
	FromExpiresAt time.Time `json:"from_expires_at"`
	ToExpiresAt   time.Time `json:"to_expires_at"`
	// Asked and Unreachable are as for Request, for this round.
	Asked       []string      `json:"asked,omitempty"`
	Unreachable []Unreachable `json:"unreachable,omitempty"`
	// Messages are the approval messages posted for this round.
	Messages []MessageRef `json:"messages,omitempty"`
}

// Approvers returns the Slack IDs of everyone who approved the extension.
func (e *Extension) Approvers() []string {
	out := make([]string, 0, len(e.Approvals))
	for _, a := range e.Approvals {
		out = append(out, a.Approver)
	}
	return out
}

// HasApproved reports whether user already approved the extension.
func (e *Extension) HasApproved(user string) bool {
	for _, a := range e.Approvals {
		if a.Approver == user {
			return true
		}
	}
	return false
}

func (e Extension) clone() Extension {
	e.Approvals = append([]Approval(nil), e.Approvals...)
	e.Messages = append([]MessageRef(nil), e.Messages...)
	e.Asked = append([]string(nil), e.Asked...)
	e.Unreachable = append([]Unreachable(nil), e.Unreachable...)
	return e
}

// PendingExtension returns the extension of r waiting for a decision, or
// nil. It points into r.Extensions.
func (r *Request) PendingExtension() *Extension {
	if e := r.LastExtension(); e != nil && e.Status == ExtensionPending {
		return e
	}
	return nil
}

// LastExtension returns the latest extension round of r, or nil when
// there was none. It points into r.Extensions.
func (r *Request) LastExtension() *Extension {
	if len(r.Extensions) == 0 {
		return nil
	}
	return &r.Extensions[len(r.Extensions)-1]
}

// Extend asks for d more time on the active grant id on behalf of actor,
// who must hold it: a new approval round, under the same ID, that needs the
// resource's approvals_required distinct approvers again, with the same
// rules as the first round. The extension is committed with its audit event
// and the approval messages are posted in the background. The expiry it
// asks for may be at most the resource's max_duration from now. Errors:
// EINVALID (bad duration or reason, beyond the maximum), ENOTFOUND,
// EFORBIDDEN (not the holder), ECONFLICT (not active, ending, expired, an
// extension already pending, resource gone from the policy).
func (s *Service) Extend(ctx context.Context, actor, id string, d time.Duration, reason string) (*Request, error) {
	if d <= 0 {
		return nil, Errorf(EINVALID, "the extra time must be positive, e.g. /access extend %s 1h REASON…", id)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, Errorf(EINVALID, "a reason is required: /access extend %s %s REASON…", id, FormatDuration(d))
	}
	if err := checkReasonLength(reason); err != nil {
		return nil, err
	}
	now := s.now()
	ro := s.approversOf(ctx, id, false)
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		res, err := s.mayExtend(r, actor, d, now)
		if err != nil {
			return Change{}, err
		}
		targets := askTargets(r, res, ro)
		r.Extensions = append(r.Extensions, Extension{
			Duration:      d,
			Reason:        reason,
			RequestedAt:   now,
			Required:      res.Required(),
			Status:        ExtensionPending,
			FromExpiresAt: r.ExpiresAt,
			ToExpiresAt:   r.ExpiresAt.Add(d),
			Asked:         targets,
		})
		return extensionAsk(s.extensionEvent(r, ActionExtensionRequested, actor, now), targets, len(r.Extensions)), nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("extension requested", "request_id", id, "resource", r.Resource, "extra", d)
	return r, nil
}

// mayExtend checks that actor may ask for d more on r at now, and returns
// the resource from the policy in force.
func (s *Service) mayExtend(r *Request, actor string, d time.Duration, now time.Time) (Resource, error) {
	if actor != r.Requester {
		return Resource{}, Errorf(EFORBIDDEN, "only the holder of %s (%s) can ask to extend it", r.ID, "<@"+r.Requester+">")
	}
	switch {
	case r.Status == StatusPending || r.Status == StatusApproved || r.Status == StatusGranting:
		return Resource{}, Errorf(ECONFLICT, "%s is not granted yet (%s); you can ask for more time once access is active", r.ID, r.Status)
	case r.Status != StatusActive:
		return Resource{}, Errorf(ECONFLICT, "%s has already ended (%s); file a new request: /access request %s DURATION REASON…", r.ID, describeDecision(r), r.Resource)
	case r.RevokeRequestedBy != "":
		return Resource{}, Errorf(ECONFLICT, "%s is being revoked (asked by <@%s>); it cannot be extended", r.ID, r.RevokeRequestedBy)
	case !now.Before(r.ExpiresAt):
		return Resource{}, Errorf(ECONFLICT, "%s expired at %s and is being removed; file a new request: /access request %s DURATION REASON…", r.ID, utc(r.ExpiresAt), r.Resource)
	}
	if e := r.PendingExtension(); e != nil {
		return Resource{}, Errorf(ECONFLICT, "%s already has an extension of %s waiting for approval (%d of %d); wait for its decision", r.ID, FormatDuration(e.Duration), len(e.Approvals), e.Required)
	}
	res, ok := s.Policy().Resource(r.Resource)
	if !ok {
		return Resource{}, Errorf(ECONFLICT, "%s cannot be extended: resource %s is not in the policy any more", r.ID, r.Resource)
	}
	if err := withinMax(r, res, r.ExpiresAt.Add(d), now); err != nil {
		return Resource{}, err
	}
	return res, nil
}

// withinMax refuses an expiry more than the resource's max_duration after
// now, saying how much may be asked for instead.
func withinMax(r *Request, res Resource, to, now time.Time) error {
	if to.Sub(now) <= res.MaxDuration {
		return nil
	}
	left := res.MaxDuration - r.ExpiresAt.Sub(now)
	if left >= time.Minute {
		left = left.Truncate(time.Minute)
	} else {
		left = left.Truncate(time.Second)
	}
	if left <= 0 {
		return Errorf(EINVALID, "%s already runs until %s, the maximum of %s from now for %s; it cannot be extended further yet", r.ID, utc(r.ExpiresAt), FormatDuration(res.MaxDuration), res.Name)
	}
	return Errorf(EINVALID, "that would end %s at %s, %s from now; the maximum for %s is %s from now: ask for %s or less", r.ID, utc(to), FormatDuration(to.Sub(now).Truncate(time.Second)), res.Name, FormatDuration(res.MaxDuration), FormatDuration(left))
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// askExtension queues the approval messages of extension round of request
// id (a round filed before approval messages went through the outbox),
// unless the round was decided or closed first.
func (s *Service) askExtension(ctx context.Context, id string, round int) {
	ro := s.approversOf(ctx, id, false)
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusActive || round != len(r.Extensions)-1 {
			return Change{}, errNoChange
		}
		e := &r.Extensions[round]
		if e.Status != ExtensionPending || len(e.Asked) > 0 || len(e.Messages) > 0 {
			return Change{}, errNoChange
		}
		res, ok := s.Policy().Resource(r.Resource)
		if !ok {
			return Change{}, errNoChange // mayDecideExtension refuses every click; the grant ends as it was
		}
		e.Asked = askTargets(r, res, ro)
		return Change{Notices: []Notice{{At: s.now(), RequestID: r.ID, Ask: e.Asked, Round: round + 1}}}, nil
	})
	if err != nil {
		s.logUpdate("queue extension approval messages", id, err)
	}
}

// extensionAsk is the change that files an extension: its event, told
// to the audit channel, and its approval message for targets.
func extensionAsk(ev Event, targets []string, round int) Change {
	n := tell(ev, false)
	n.Ask, n.Round = targets, round
	return Change{Events: []Event{ev}, Notices: []Notice{n}}
}

// extensionChange announces the events of a decision on an extension: the
// requester is told of every outcome but a partial approval.
func extensionChange(evs []Event) Change {
	var c Change
	for _, ev := range evs {
		c.Events = append(c.Events, ev)
		c.Notices = append(c.Notices, tell(ev, ev.Action != ActionExtensionApproval))
	}
	return c
}

// withClosing adds to c the events of an extension closed because its
// grant ends, announced without a DM: the requester hears of the end.
func withClosing(c Change, closing []Event) Change {
	for _, ev := range closing {
		c.Events = append(c.Events, ev)
		c.Notices = append(c.Notices, tell(ev, false))
	}
	return c
}

// decideExtension records actor's approval (approve) or refusal of the
// extension of r, inside the store's transaction. now is read here, in the
// transaction, so that a grant the expiry sweep has seen as due is never
// extended afterwards. It returns the events and whether the round is
// decided.
func (s *Service) decideExtension(r *Request, actor string, approve bool, ro roster) ([]Event, bool, error) {
	now := s.now()
	e, res, err := s.mayDecideExtension(r, actor, now, ro)
	if err != nil {
		return nil, false, err
	}
	if !approve {
		e.Status = ExtensionDenied
		e.DecidedBy, e.DecidedAt = actor, now
		return []Event{s.extensionEvent(r, ActionExtensionDenied, actor, now)}, true, nil
	}
	if c := s.changedSinceFiled(r, res); c != "" {
		return nil, false, Errorf(ECONFLICT, "the extension of %s can no longer be approved: the policy changed since the grant was made (%s); deny it", r.ID, c)
	}
	if e.HasApproved(actor) {
		return nil, false, Errorf(ECONFLICT, "you already approved the extension of %s; it needs %s, each from a different approver", r.ID, Count(e.Required-len(e.Approvals), "more approval"))
	}
	e.Approvals = append(e.Approvals, Approval{Approver: actor, At: now})
	e.Required = max(e.Required, res.Required())
	if countingApprovals(e.Approvals, r.Requester, res, ro) < e.Required {
		return []Event{s.extensionEvent(r, ActionExtensionApproval, actor, now)}, false, nil
	}
	// The policy may have shrunk max_duration since the extension was asked.
	if err := withinMax(r, res, e.ToExpiresAt, now); err != nil {
		return nil, false, Errorf(ECONFLICT, "the extension of %s can no longer be approved: %s; deny it and ask the holder to extend for less", r.ID, ErrorMessage(err))
	}
	e.Status = ExtensionApproved
	e.DecidedBy, e.DecidedAt = actor, now
	r.ExpiresAt = e.ToExpiresAt
	return []Event{s.extensionEvent(r, ActionExtended, actor, now)}, true, nil
}

// mayDecideExtension checks that actor may decide the pending extension of
// r now, with the rules of mayDecide, and returns it.
func (s *Service) mayDecideExtension(r *Request, actor string, now time.Time, ro roster) (*Extension, Resource, error) {
	e := r.PendingExtension()
	if e == nil {
		last := r.LastExtension()
		switch last.Status {
		case ExtensionClosed:
			return nil, Resource{}, Errorf(ECONFLICT, "the extension of %s was closed: the grant ended before a decision", r.ID)
		case ExtensionApproved:
			return nil, Resource{}, Errorf(ECONFLICT, "the extension of %s is already approved by <@%s>; access runs until %s", r.ID, last.DecidedBy, utc(r.ExpiresAt))
		}
		return nil, Resource{}, Errorf(ECONFLICT, "the extension of %s is already %s by <@%s>", r.ID, last.Status, last.DecidedBy)
	}
	if r.RevokeRequestedBy != "" || !now.Before(r.ExpiresAt) {
		return nil, Resource{}, Errorf(ECONFLICT, "%s ended (expiry %s) before its extension was decided; there is nothing to extend", r.ID, utc(r.ExpiresAt))
	}
	res, ok := s.Policy().Resource(r.Resource)
	if !ok {
		return nil, Resource{}, Errorf(ECONFLICT, "the extension of %s can no longer be decided: resource %s is not in the policy any more", r.ID, r.Resource)
	}
	if !ro.in(res.Approvers, actor) {
		return nil, Resource{}, ro.notIn(res.Approvers, "approvers of "+res.Name,
			fmt.Sprintf("you are not an approver of %s; its approvers are %s", res.Name, mentions(res.Approvers)))
	}
	if actor == r.Requester && !res.AllowSelfApproval {
		return nil, Resource{}, Errorf(EFORBIDDEN, "you cannot approve or deny the extension of your own grant; another approver of %s must decide", res.Name)
	}
	return e, res, nil
}

// closeExtension closes the pending extension of r, if any, because the
// grant is ending (why), and returns its event. Call it inside the
// transaction that ends the grant or asks for its revoke.
func (s *Service) closeExtension(r *Request, why string, now time.Time) []Event {
	e := r.PendingExtension()
	if e == nil {
		return nil
	}
	e.Status = ExtensionClosed
	e.DecidedAt = now
	ev := s.extensionEvent(r, ActionExtensionClosed, SystemActor, now)
	ev.Detail = fmt.Sprintf("closed without a decision: %s; the extension of %s was not applied", why, FormatDuration(e.Duration))
	return []Event{ev}
}

// extensionEvent returns the audit event of action on the last extension
// of r.
func (s *Service) extensionEvent(r *Request, action, actor string, now time.Time) Event {
	ev := s.event(r, action, actor, now)
	e := r.LastExtension()
	ev.Duration = e.Duration
	ev.Reason = e.Reason
	ev.Approvers = e.Approvers()
	switch action {
	case ActionExtensionRequested:
		ev.Outcome = string(ExtensionPending)
		ev.Detail = fmt.Sprintf("asks for %s more: until %s instead of %s", FormatDuration(e.Duration), utc(e.ToExpiresAt), utc(e.FromExpiresAt))
	case ActionExtensionApproval:
		ev.Outcome = string(ExtensionPending)
		ev.Detail = fmt.Sprintf("%d of %d approvals of %s more", len(e.Approvals), e.Required, FormatDuration(e.Duration))
	case ActionExtended:
		ev.Outcome = string(ExtensionApproved)
		ev.Detail = fmt.Sprintf("expiry moved from %s to %s", utc(e.FromExpiresAt), utc(e.ToExpiresAt))
	case ActionExtensionDenied:
		ev.Outcome = string(ExtensionDenied)
		ev.Detail = fmt.Sprintf("expiry stays %s", utc(r.ExpiresAt))
	case ActionExtensionClosed:
		ev.Outcome = string(ExtensionClosed)
	}
	return ev
}
