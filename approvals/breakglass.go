package approvals

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Audit actions of break-glass grants.
const (
	// ActionBreakGlass records a request granted at once by its requester,
	// with no approver; its Reason is the one given.
	ActionBreakGlass = "break_glass"
	// ActionBreakGlassConfirmed and ActionBreakGlassFlagged record an
	// approver's review of a break-glass grant; a flag revokes it.
	ActionBreakGlassConfirmed = "break_glass_confirmed"
	ActionBreakGlassFlagged   = "break_glass_flagged"
)

// BreakGlassLimit returns the longest break-glass grant of the resource:
// its own break-glass maximum, or else its max_duration.
func (r Resource) BreakGlassLimit() time.Duration {
	if r.BreakGlassMax > 0 {
		return r.BreakGlassMax
	}
	return r.MaxDuration
}

// BreakGlass grants resource to actor at once, for an emergency that
// cannot wait for an approver. The request is recorded as approved by its
// requester through break-glass and granted through the usual grant path;
// the audit channel is told, every admin gets an alert, and the resource's
// approvers get a review message (see Review). Only resources whose policy
// allows break-glass can be taken this way. Errors: EINVALID for bad input
// or a resource without break-glass, ECONFLICT when the actor already has
// this resource pending or active.
func (s *Service) BreakGlass(ctx context.Context, actor, resource string, d time.Duration, reason string) (*Request, error) {
	p := s.Policy()
	res, ok := p.Resource(resource)
	if !ok {
		return nil, Errorf(EINVALID, "unknown resource %q; `/access resources` lists what you can request", resource)
	}
	if !res.BreakGlass {
		return nil, Errorf(EINVALID, "%s does not allow break-glass access: ask for it with /access request %s DURATION REASON…", res.Name, res.Name)
	}
	// Break-glass skips the approvers, not who may ask.
	identity, err := s.mayAsk(ctx, p, res, actor)
	if err != nil {
		return nil, err
	}
	ro := s.resolve(ctx, false, res.Approvers)
	limit := res.BreakGlassLimit()
	switch {
	case d <= 0:
		return nil, Errorf(EINVALID, "duration must be positive, e.g. 30m")
	case d > limit:
		return nil, Errorf(EINVALID, "%s is longer than the break-glass maximum of %s for %s; ask for %s or less", FormatDuration(d), FormatDuration(limit), res.Name, FormatDuration(limit))
	}
	if reason == "" {
		return nil, Errorf(EINVALID, "a reason is required: /access break-glass %s %s REASON…", res.Name, FormatDuration(d))
	}
	if err := checkReasonLength(reason); err != nil {
		return nil, err
	}
	if _, ok := s.providers[res.Provider]; !ok {
		return nil, Errorf(EINVALID, "%s cannot be granted: its provider %q is not configured on this server; tell an admin", res.Name, res.Provider)
	}
	now := s.now()
	r := &Request{
		ID:         NewID(),
		Requester:  actor,
		Resource:   res.Name,
		Provider:   res.Provider,
		Identity:   identity,
		Duration:   d,
		Reason:     reason,
		Settings:   append([]byte(nil), res.Settings...),
		Required:   1,
		Status:     StatusApproved,
		CreatedAt:  now,
		Approvals:  []Approval{{Approver: actor, At: now}},
		DecidedBy:  actor,
		DecidedAt:  now,
		BreakGlass: true,
	}
	r.Asked = askTargets(r, res, ro)
	ev := s.event(r, ActionBreakGlass, actor, now)
	ev.Detail = "break-glass: granted at once without approval; the approvers of " + res.Name + " review it afterwards"
	e := ev
	n := Notice{At: now, RequestID: r.ID, Event: &e, Alert: append([]string(nil), p.Admins...), Review: r.Asked}
	if err := s.store.CreateRequest(ctx, r, ev, n); err != nil {
		return nil, err
	}
	s.log.Warn("break-glass access taken", "request_id", r.ID, "resource", r.Resource, "requester", actor)
	id := r.ID
	s.background(ctx, func(ctx context.Context) { s.grant(ctx, id) })
	return r.Clone(), nil
}

// Review records an approver's review of break-glass request id: confirm
// says the emergency was genuine; a flag says it was not, and revokes the
// grant at once, as an early revoke by the reviewer. Only an approver of
// the resource may review (not the requester, unless the resource allows
// self-approval), and only once. Errors: ENOTFOUND, EINVALID (not a
// break-glass request), EFORBIDDEN, ECONFLICT (already reviewed).
func (s *Service) Review(ctx context.Context, actor, id string, confirm bool) (*Request, error) {
	now := s.now()
	revokeNow := false
	// Approvers named through user groups are read before the
	// transaction, fresh, as for a click on an approval message.
	var ro roster
	if cur, err := s.store.Request(ctx, id); err == nil {
		if res, ok := s.Policy().Resource(cur.Resource); ok {
			ro = s.resolve(ctx, true, res.Approvers)
		}
	}
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		revokeNow = false
		if !r.BreakGlass {
			return Change{}, Errorf(EINVALID, "%s was not a break-glass grant; there is nothing to review", r.ID)
		}
		if r.ReviewedBy != "" {
			return Change{}, Errorf(ECONFLICT, "%s was already %s by %s", r.ID, reviewWord(r.ReviewConfirmed), mentionActor(r.ReviewedBy))
		}
		res, ok := s.Policy().Resource(r.Resource)
		if !ok {
			return Change{}, Errorf(ECONFLICT, "%s can no longer be reviewed: resource %s is not in the policy any more", r.ID, r.Resource)
		}
		if !ro.in(res.Approvers, actor) {
			return Change{}, ro.notIn(res.Approvers, "approvers of "+res.Name,
				fmt.Sprintf("only an approver of %s can review this break-glass grant; its approvers are %s", res.Name, mentions(res.Approvers)))
		}
		if actor == r.Requester && !res.AllowSelfApproval {
			return Change{}, Errorf(EFORBIDDEN, "you cannot review your own break-glass grant; another approver of %s must", res.Name)
		}
		r.ReviewedBy, r.ReviewedAt, r.ReviewConfirmed = actor, now, confirm
		action := ActionBreakGlassConfirmed
		if !confirm {
			action = ActionBreakGlassFlagged
		}
		ev := s.event(r, action, actor, now)
		ch := told(ev, true)
		if confirm {
			return ch, nil
		}
		ev.Detail = "flagged as not a genuine emergency"
		switch r.Status {
		case StatusApproved, StatusGranting, StatusActive:
			if r.RevokeRequestedBy != "" {
				break
			}
			// Still being granted: the revoke is due as soon as the grant
			// is recorded, and the sweep makes it.
			r.RevokeRequestedBy, r.RevokeRequestedAt = actor, now
			revokeNow = r.Status == StatusActive
			ev.Detail += "; the grant is revoked now"
			ch = told(ev, true)
			ch.Events = append(ch.Events, s.event(r, ActionRevokeAsked, actor, now))
			if revokeNow {
				ch = withClosing(ch, s.closeExtension(r, "the grant is being revoked", now))
			}
			return ch, nil
		}
		return told(ev, true), nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("break-glass grant reviewed", "request_id", id, "by", actor, "confirmed", confirm)
	if revokeNow {
		s.background(ctx, func(ctx context.Context) { s.revoke(ctx, r) })
	}
	return r, nil
}

func reviewWord(confirmed bool) string {
	if confirmed {
		return "confirmed"
	}
	return "flagged"
}

// Unreviewed reports whether r is a break-glass grant that no approver has
// reviewed yet. One that granted nothing (it failed, or the access was
// already held) has nothing to review.
func (r *Request) Unreviewed() bool {
	return r.BreakGlass && r.ReviewedBy == "" && (r.Status.Open() || !r.GrantedAt.IsZero())
}

// requestWalker is implemented by stores that can read every request, so
// that a summary lists break-glass grants still unreviewed after they
// ended.
type requestWalker interface {
	AllRequests(ctx context.Context, fn func(*Request) error) error
}

// unreviewed returns the break-glass grants not reviewed yet, oldest
// first: from every request when the store can list them, else from the
// open ones.
func (s *Service) unreviewed(ctx context.Context, open []*Request) []*Request {
	var out []*Request
	if w, ok := s.store.(requestWalker); ok {
		err := w.AllRequests(ctx, func(r *Request) error {
			if r.Unreviewed() {
				out = append(out, r)
			}
			return nil
		})
		if err == nil {
			sortByCreation(out)
			return out
		}
		s.log.Error("read requests for unreviewed break-glass grants; listing open ones only", "err", err)
		out = nil
	}
	for _, r := range open {
		if r.Unreviewed() {
			out = append(out, r)
		}
	}
	sortByCreation(out)
	return out
}

func sortByCreation(rs []*Request) {
	slices.SortStableFunc(rs, func(a, b *Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
}

// pathChanges names the changes of a resource's break-glass, auto_approve
// and step_up between two policies, for the policy change event: each
// changes who can get access without an approver's plain click.
func pathChanges(old, r Resource) []string {
	var out []string
	bg := func(x Resource) string {
		if !x.BreakGlass {
			return "off"
		}
		return "up to " + FormatDuration(x.BreakGlassLimit())
	}
	if a, b := bg(old), bg(r); a != b {
		out = append(out, fmt.Sprintf("%s break_glass: %s -> %s", r.Name, a, b))
	}
	sched := func(x Resource) []string {
		if x.AutoApprove == nil {
			return nil
		}
		return x.AutoApprove.PagerDutySchedules
	}
	if !slices.Equal(sched(old), sched(r)) {
		out = append(out, fmt.Sprintf("%s auto_approve pagerduty schedules: %v -> %v", r.Name, sched(old), sched(r)))
	}
	if old.StepUp != r.StepUp {
		out = append(out, fmt.Sprintf("%s step_up: %q -> %q", r.Name, old.StepUp, r.StepUp))
	}
	return out
}
