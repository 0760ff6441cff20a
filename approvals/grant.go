package approvals

import (
	"context"
	"fmt"
	"time"
)

// grant carries an approved request through the provider: a last check that
// the access is not already held, the "granting" record, the provider call,
// then "active" with the expiry counted from now. A request found in
// "granting" (a crash interrupted the provider call) skips the check:
// the access it would find may be our own half-finished grant, and grants
// are idempotent.
func (s *Service) grant(ctx context.Context, id string) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		s.log.Error("load request", "request_id", id, "err", err)
		return
	}
	switch r.Status {
	case StatusApproved:
		held, err := s.holds(ctx, r)
		if err != nil {
			// Fail closed: without knowing, a later expiry could remove
			// access the user held before.
			s.failGrant(ctx, id, StatusApproved, fmt.Errorf("could not check whether the access is already held: %w", err), false)
			return
		}
		if held {
			s.closeHeld(ctx, id, StatusApproved)
			return
		}
		now := s.now()
		r, err = s.store.Transition(ctx, id, func(r *Request) (Change, error) {
			if r.Status != StatusApproved {
				return Change{}, errNoChange
			}
			r.Status = StatusGranting
			return Change{Events: []Event{s.event(r, ActionGranting, SystemActor, now)}}, nil
		})
		if err != nil {
			s.logUpdate("record grant in progress", id, err)
			return
		}
	case StatusGranting:
		s.log.Info("completing a grant interrupted by a restart", "request_id", id)
	default:
		return
	}

	p, err := s.provider(r)
	if err != nil {
		// The provider was never called: nothing to undo.
		s.failGrant(ctx, id, StatusGranting, err, false)
		return
	}
	var result GrantResult
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		result, err = p.Grant(ctx, GrantRequest{
			RequestID: r.ID,
			Resource:  r.Resource,
			Identity:  r.Identity,
			Requester: r.Requester,
			Approvers: r.Approvers(),
			Reason:    r.Reason,
			Duration:  r.Duration,
			ExpiresAt: s.now().Add(r.Duration),
			Settings:  r.Settings,
		})
		return err
	})
	if err != nil {
		s.failGrant(ctx, id, StatusGranting, err, true)
		return
	}
	now := s.now()
	r, err = s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusGranting {
			return Change{}, errNoChange
		}
		r.Status = StatusActive
		r.GrantedAt = now
		r.ExpiresAt = now.Add(r.Duration)
		r.GrantNote = result.Message
		ev := s.event(r, ActionGranted, SystemActor, now)
		ev.Detail = result.Message
		return told(ev, true), nil
	})
	if err != nil {
		// The provider granted but the record failed: the request stays in
		// "granting" and is completed (idempotently) at the next start.
		s.logUpdate("record grant", id, err)
		return
	}
	s.log.Info("access granted", "request_id", id, "resource", r.Resource, "expires_at", r.ExpiresAt)
}

// failGrant records a permanent grant failure and reports it. A failure
// after the provider was called may hide a grant that
// took effect: a call that timed out, an answer lost on the way back. So
// the access is revoked before the request is closed as failed, and if
// that revoke fails too the request stays a grant whose revoke is due,
// retried by every sweep until the provider confirms, never dropped.
// Revoking is safe: the access was checked not to be held before the
// grant started.
func (s *Service) failGrant(ctx context.Context, id string, from Status, cause error, providerCalled bool) {
	s.log.Error("grant failed", "request_id", id, "err", cause)
	if providerCalled {
		if rerr := s.undoGrant(ctx, id); rerr != nil {
			s.keepRevokeDue(ctx, id, cause, rerr)
			return
		}
	}
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != from {
			return Change{}, errNoChange
		}
		r.Status = StatusFailed
		r.EndedAt = now
		r.LastError = cause.Error()
		ev := s.event(r, ActionGrantFailed, SystemActor, now)
		ev.Outcome = string(StatusFailed)
		ev.Detail = cause.Error()
		return told(ev, true), nil
	})
	if err != nil {
		s.logUpdate("record grant failure", id, err)
	}
}

// undoGrant revokes whatever a failed grant of request id may have left.
func (s *Service) undoGrant(ctx context.Context, id string) error {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	return s.retry(ctx, func(ctx context.Context) error {
		return p.Revoke(ctx, RevokeRequest{
			RequestID: r.ID, Resource: r.Resource, Identity: r.Identity, Requester: r.Requester,
			Approvers: r.Approvers(), Reason: r.Reason, Duration: r.Duration, Settings: r.Settings,
		})
	})
}

// keepRevokeDue records a grant that failed and whose undoing failed too:
// the provider may have granted, so the request becomes an active grant
// that ends now, revoked by accessbot, with the revoke due and retried
// like any failed revoke. Nobody is told it was granted.
func (s *Service) keepRevokeDue(ctx context.Context, id string, cause, revokeErr error) {
	s.log.Error("grant failed and undoing it failed; the revoke stays due", "request_id", id, "err", revokeErr)
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusGranting {
			return Change{}, errNoChange
		}
		r.Status, r.GrantUncertain = StatusActive, true
		r.GrantedAt, r.ExpiresAt = now, now
		r.RevokeRequestedBy, r.RevokeRequestedAt = SystemActor, now
		r.RevokeFailures = 1
		r.RevokeRetryAt = now.Add(s.revokeBackoff(1))
		r.LastError = fmt.Sprintf("grant failed: %v; revoking what it may have left failed: %v", cause, revokeErr)
		ev := s.event(r, ActionGrantFailed, SystemActor, now)
		ev.Outcome = "revoke_due"
		ev.Detail = fmt.Sprintf("grant failed: %v; the provider may have granted part of it, and revoking it failed too (%v): the revoke stays due, retrying at %s",
			cause, revokeErr, r.RevokeRetryAt.UTC().Format(time.RFC3339))
		return told(ev, true), nil
	})
	if err != nil {
		s.logUpdate("record grant failure", id, err)
	}
}

// Revoke ends request id early on behalf of actor: its requester (who also
// cancels a pending request this way), an approver of its resource, or an
// admin. An active grant is marked due for revocation at once and the
// provider is called in the background; until the provider confirms, the
// revoke stays due and the expiry sweep retries it. Revoking something that
// has already ended is a no-op that returns the request. Errors:
// ENOTFOUND, EFORBIDDEN, ECONFLICT (a grant is being made right now).
func (s *Service) Revoke(ctx context.Context, actor, id string) (*Request, error) {
	now := s.now()
	var action string
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if err := s.mayRevoke(r, actor); err != nil {
			return Change{}, err
		}
		switch r.Status {
		case StatusPending:
			r.Status = StatusCancelled
			r.EndedAt = now
			r.EndedBy = actor
			action = ActionCancelled
		case StatusApproved, StatusGranting:
			return Change{}, Errorf(ECONFLICT, "%s is being granted right now; revoke it again in a few seconds", r.ID)
		case StatusActive:
			if r.RevokeRequestedBy != "" {
				return Change{}, errNoChange
			}
			r.RevokeRequestedBy = actor
			r.RevokeRequestedAt = now
			action = ActionRevokeAsked
			ev := s.event(r, action, actor, now)
			return withClosing(Change{Events: []Event{ev}}, s.closeExtension(r, "the grant is being revoked", now)), nil
		default:
			return Change{}, errNoChange
		}
		return told(s.event(r, action, actor, now), true), nil
	})
	if isNoChange(err) {
		r, err := s.store.Request(ctx, id)
		if err == nil && r.Status == StatusActive && r.RevokeRequestedBy != "" {
			// Asked again while an earlier revoke waits for its retry (an
			// emergency, often): try the provider now rather than later.
			s.log.Info("revoke asked again; trying now", "request_id", id, "by", actor)
			s.background(ctx, func(ctx context.Context) { s.revoke(ctx, r) })
		}
		return r, err
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("revoke requested", "request_id", id, "by", actor, "action", action)
	if action != ActionCancelled {
		s.background(ctx, func(ctx context.Context) { s.revoke(ctx, r) })
	}
	return r, nil
}

func (s *Service) mayRevoke(r *Request, actor string) error {
	p := s.Policy()
	if actor == r.Requester || IsOperator(actor) || p.IsAdmin(actor) {
		return nil
	}
	if res, ok := p.Resource(r.Resource); ok && res.IsApprover(actor) {
		return nil
	}
	return Errorf(EFORBIDDEN, "only the holder of %s, an approver of %s or an admin can revoke it", r.ID, r.Resource)
}

// ExpireDue revokes every grant whose revoke is due at the current time:
// expired grants, early revokes, and failed revokes whose retry time has
// come. It reads only what is due from the store's index, so a grant whose
// expiry passed while the bot was down is revoked by the first sweep.
func (s *Service) ExpireDue(ctx context.Context) error {
	due, err := s.store.DueRevokes(ctx, s.now())
	if err != nil {
		return fmt.Errorf("read due revokes: %w", err)
	}
	for _, r := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.revoke(ctx, r)
	}
	return nil
}

// revoke calls the provider with the settings snapshot taken when r was
// filed, then records the outcome. A failure keeps the grant due (later
// sweeps retry it, with backoff) and is reported as "failed". One revoke
// of a request runs at a time: a sweep that finds a revoke already under
// way (an early revoke's) leaves it be. People are told through notices
// committed with the outcome, so Slack's pace never delays the next
// grant's revoke.
func (s *Service) revoke(ctx context.Context, r *Request) {
	if !s.startRevoke(r.ID) {
		s.log.Debug("revoke already under way", "request_id", r.ID)
		return
	}
	defer s.endRevoke(r.ID)
	id := r.ID
	p, err := s.provider(r)
	if err == nil {
		err = s.retry(ctx, func(ctx context.Context) error {
			return p.Revoke(ctx, RevokeRequest{
				RequestID: r.ID, Resource: r.Resource, Identity: r.Identity, Requester: r.Requester,
				Approvers: r.Approvers(), Reason: r.Reason, Duration: r.Duration, ExpiresAt: r.ExpiresAt,
				Settings: r.Settings,
			})
		})
	}
	now := s.now()
	if err != nil {
		s.log.Error("revoke failed; it stays due", "request_id", id, "resource", r.Resource, "err", err)
		_, uerr := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
			if r.Status != StatusActive {
				return Change{}, errNoChange
			}
			closing := s.closeExtension(r, "the grant's revoke is due", now)
			r.RevokeFailures++
			r.LastError = err.Error()
			r.RevokeRetryAt = now.Add(s.revokeBackoff(r.RevokeFailures))
			ev := s.event(r, ActionRevokeFailed, SystemActor, now)
			ev.Outcome = "failed"
			ev.Detail = fmt.Sprintf("attempt %d failed, retrying at %s: %v", r.RevokeFailures, r.RevokeRetryAt.UTC().Format(time.RFC3339), err)
			return withClosing(told(ev, false), closing), nil
		})
		if uerr != nil {
			s.logUpdate("record revoke failure", id, uerr)
		}
		return
	}
	action := ActionExpired
	updated, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusActive {
			return Change{}, errNoChange
		}
		r.Status, r.EndedBy = StatusExpired, SystemActor
		if r.RevokeRequestedBy != "" {
			action = ActionRevoked
			r.Status, r.EndedBy = StatusRevoked, r.RevokeRequestedBy
		}
		actor := r.EndedBy
		r.EndedAt = now
		r.RevokeRetryAt = time.Time{}
		r.LastError = ""
		ev := s.event(r, action, actor, now)
		return withClosing(told(ev, true), s.closeExtension(r, "the grant "+string(r.Status), now)), nil
	})
	if err != nil {
		s.logUpdate("record revoke", id, err)
		return
	}
	s.log.Info("access removed", "request_id", id, "resource", updated.Resource, "action", action)
}

// startRevoke marks a revoke of request id as under way, and reports
// false when one already is.
func (s *Service) startRevoke(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoking == nil {
		s.revoking = map[string]bool{}
	}
	if s.revoking[id] {
		return false
	}
	s.revoking[id] = true
	return true
}

func (s *Service) endRevoke(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.revoking, id)
}

func (s *Service) revokeBackoff(failures int) time.Duration {
	d := s.revokeRetry
	for i := 1; i < failures && d < s.revokeRetryMax; i++ {
		d *= 2
	}
	return min(d, s.revokeRetryMax)
}

// Resume finishes what a crash interrupted: approved requests are granted
// (or visibly failed), grants left "granting" are completed, and pending
// requests whose approval messages were never posted are posted. Expired
// grants are left to ExpireDue, which the caller runs at start. It reads
// only the requests the store lists as needing it (Request.NeedsResume),
// so a start with many grants in force reads none of them.
func (s *Service) Resume(ctx context.Context) error {
	rs, err := s.store.NeedingResume(ctx)
	if err != nil {
		return fmt.Errorf("read requests to resume: %w", err)
	}
	for _, r := range rs {
		id := r.ID
		switch {
		case r.Status == StatusApproved || r.Status == StatusGranting:
			s.log.Info("resuming interrupted grant", "request_id", id, "status", r.Status)
			s.background(ctx, func(ctx context.Context) { s.grant(ctx, id) })
		case r.Status == StatusPending && len(r.Asked) == 0 && len(r.Messages) == 0:
			s.background(ctx, func(ctx context.Context) { s.ask(ctx, id) })
		case r.Status == StatusActive && r.PendingExtension() != nil && len(r.PendingExtension().Asked) == 0 && len(r.PendingExtension().Messages) == 0:
			round := len(r.Extensions) - 1
			s.background(ctx, func(ctx context.Context) { s.askExtension(ctx, id, round) })
		}
	}
	return nil
}

// List returns actor's open requests and active grants.
func (s *Service) List(ctx context.Context, actor string) ([]*Request, error) {
	return s.store.OpenRequests(ctx, actor)
}

// Resources returns what actor may request.
func (s *Service) Resources(actor string) []Resource {
	return s.Policy().Requestable(actor)
}

// FormatDuration prints d the way users type it: 2h, 1h30m, 1d, 45s.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	out := ""
	if days := d / (24 * time.Hour); days > 0 {
		out += fmt.Sprintf("%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		out += fmt.Sprintf("%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		out += fmt.Sprintf("%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		out += fmt.Sprintf("%gs", d.Seconds())
	}
	return out
}
