package approvals

import (
	"context"
	"fmt"
	"time"
)

// grant carries an approved request through the provider: a last check that
// the access is not already held, the "granting" record (which keeps when
// the grant started), the provider call, then "active" with the expiry
// counted from that start. A request found in "granting" (a crash
// interrupted the provider call) skips the check: the access it would
// find may be our own half-finished grant, and grants are idempotent. Its
// expiry still counts from the start on record: the access may have been
// in place since then, and nobody approved more than the duration asked
// for.
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
			s.failGrant(ctx, id, StatusApproved, fmt.Errorf("could not check whether the access is already held: %w", err), notCalled)
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
			r.GrantStartedAt = now
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

	start := grantStart(r, s.now())
	p, err := s.provider(r)
	if err != nil {
		// The provider was never called: nothing to undo.
		s.failGrant(ctx, id, StatusGranting, err, notCalled)
		return
	}
	var result GrantResult
	// outcome stays providerRefused only while every attempt was refused
	// outright; a transient failure or a timeout may hide a grant that
	// took effect.
	outcome := providerRefused
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
			ExpiresAt: start.Add(r.Duration),
			Settings:  r.Settings,
		})
		if err != nil && (Retryable(err) || ctx.Err() != nil) {
			outcome = maybeGranted
		}
		return err
	})
	if err != nil {
		if Retryable(err) || ctx.Err() != nil {
			outcome = maybeGranted // the last attempt timed out (retry made it transient)
		}
		s.failGrant(ctx, id, StatusGranting, err, outcome)
		return
	}
	now := s.now()
	r, err = s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusGranting {
			return Change{}, errNoChange
		}
		r.Status = StatusActive
		r.GrantedAt = now
		r.ExpiresAt = grantStart(r, now).Add(r.Duration)
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
	s.dueChanged()
	s.log.Info("access granted", "request_id", id, "resource", r.Resource, "expires_at", r.ExpiresAt)
}

// grantStart returns when r's grant started: the instant on its
// "granting" record. A record written before that instant was kept counts
// from the decision, which came before the start: never later than the
// truth, so never more than the duration approved.
func grantStart(r *Request, now time.Time) time.Time {
	switch {
	case !r.GrantStartedAt.IsZero():
		return r.GrantStartedAt
	case !r.DecidedAt.IsZero():
		return r.DecidedAt
	}
	return now
}

// grantOutcome is what a failed grant may have left at the provider.
type grantOutcome int

const (
	// notCalled: the provider was never asked; nothing to undo.
	notCalled grantOutcome = iota
	// providerRefused: every attempt was refused outright (a permanent
	// error, such as PostgreSQL's 42501 or GitHub's 422): nothing was
	// granted, though an undo is still tried as a precaution.
	providerRefused
	// maybeGranted: an attempt timed out or failed transiently, so the
	// grant may have taken effect unseen.
	maybeGranted
)

// failGrant records a permanent grant failure and reports it. A failure
// after the provider was called may hide a grant that took effect: a call
// that timed out, an answer lost on the way back. So the access is revoked
// before the request is closed as failed, and if that revoke fails too
// after such an ambiguous failure, the request stays a grant whose revoke
// is due, retried by every sweep until the provider confirms, never
// dropped. When the provider refused every attempt outright nothing was
// granted: a failed undo is then noted and the request still fails,
// rather than becoming a grant that was never made and whose revoke
// might be refused forever. Revoking is safe: the access was checked not
// to be held before the grant started.
func (s *Service) failGrant(ctx context.Context, id string, from Status, cause error, outcome grantOutcome) {
	s.log.Error("grant failed", "request_id", id, "err", cause)
	detail := cause.Error()
	if outcome != notCalled {
		if rerr := s.undoGrant(ctx, id); rerr != nil {
			if outcome == maybeGranted {
				s.keepRevokeDue(ctx, id, cause, rerr)
				return
			}
			s.log.Warn("the provider refused the grant; undoing it as a precaution failed too", "request_id", id, "err", rerr)
			detail = fmt.Sprintf("%v (the provider refused it, so nothing was granted; the precautionary revoke failed too: %v)", cause, rerr)
		}
	}
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != from {
			return Change{}, errNoChange
		}
		r.Status = StatusFailed
		r.EndedAt = now
		r.LastError = detail
		ev := s.event(r, ActionGrantFailed, SystemActor, now)
		ev.Outcome = string(StatusFailed)
		ev.Detail = detail
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
		return
	}
	s.dueChanged()
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
	ro := s.revokers(ctx, id, actor)
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if err := s.mayRevoke(r, actor, ro); err != nil {
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
	s.dueChanged()
	if action != ActionCancelled {
		s.background(ctx, func(ctx context.Context) { s.revoke(ctx, r) })
	}
	return r, nil
}

// revokers resolves, fresh and before the transaction, the user groups
// among the admins and the approvers of request id's resource, unless
// actor needs none of them (the holder, an operator). A group that cannot
// be read counts as nobody.
func (s *Service) revokers(ctx context.Context, id, actor string) roster {
	r, err := s.store.Request(ctx, id)
	if err != nil || actor == r.Requester || IsOperator(actor) {
		return roster{}
	}
	p := s.Policy()
	lists := [][]string{p.Admins}
	if res, ok := p.Resource(r.Resource); ok {
		lists = append(lists, res.Approvers)
	}
	return s.resolve(ctx, true, lists...)
}

func (s *Service) mayRevoke(r *Request, actor string, ro roster) error {
	p := s.Policy()
	if actor == r.Requester || IsOperator(actor) || ro.in(p.Admins, actor) {
		return nil
	}
	if res, ok := p.Resource(r.Resource); ok && ro.in(res.Approvers, actor) {
		return nil
	}
	return Errorf(EFORBIDDEN, "only the holder of %s, an approver of %s or an admin can revoke it", r.ID, r.Resource)
}

// ExpireDue revokes every grant whose revoke is due at the current time:
// expired grants, early revokes, and failed revokes whose retry time has
// come. It reads only what is due from the store's index, so a grant whose
// expiry passed while the bot was down is revoked by the first sweep. Up
// to Config.RevokeWorkers revokes run at once; it returns when each has its
// outcome recorded. RunTimer calls it at each due instant; the cron sweep
// calls it on its schedule, as the safety net.
func (s *Service) ExpireDue(ctx context.Context) error {
	if err := s.expireDue(ctx, s.now()); err != nil {
		return fmt.Errorf("expiry sweep: %w", err)
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
	// Counted as running work before it claims the request, so Wait also
	// covers revokes the timer or a sweep started: a revoke that finds
	// this one under way returns only after it was counted.
	defer s.track()()
	if !s.startRevoke(r.ID) {
		s.log.Debug("revoke already under way", "request_id", r.ID)
		return
	}
	// However it ends (gone, or due again later), the timer may have
	// been waiting for this revoke.
	defer s.dueChanged()
	defer s.endRevoke(r.ID)
	// r may be a snapshot read before another revoke of the same grant
	// finished (the timer and a sweep both saw it due): revoke what the
	// store says is still active, once.
	cur, err := s.store.Request(ctx, r.ID)
	if err != nil {
		s.log.Error("reload request before revoking", "request_id", r.ID, "err", err)
		return
	}
	if cur.Status != StatusActive {
		return
	}
	r = cur
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
		s.resume(ctx, r)
	}
	return nil
}

// ResumeStalled takes up, like Resume, the requests whose next step was
// interrupted, but only those whose last step is older than any replica
// could still be working on it (StallAfter): the leader of several
// replicas runs it with each sweep. A replica that crashed between an
// approval and the grant's outcome would otherwise leave the access
// granted at the provider, with no expiry recorded and so never revoked,
// until leadership next changed.
func (s *Service) ResumeStalled(ctx context.Context) error {
	rs, err := s.store.NeedingResume(ctx)
	if err != nil {
		return fmt.Errorf("read requests to resume: %w", err)
	}
	now := s.now()
	for _, r := range rs {
		if since, ok := lastStep(r); ok && now.Sub(since) >= s.StallAfter() {
			s.resume(ctx, r)
		}
	}
	return nil
}

// StallAfter is how long after its last step a request needing resuming
// is taken to be abandoned: longer than a grant can take, its provider
// calls and their retries, then the undo of a failed one with its own.
func (s *Service) StallAfter() time.Duration {
	call := time.Duration(s.attempts)*s.callTimeout + time.Duration(s.attempts-1)*time.Minute
	return 2*call + time.Minute
}

// lastStep returns when r took the step after which it needs resuming.
func lastStep(r *Request) (time.Time, bool) {
	switch r.Status {
	case StatusApproved:
		return r.DecidedAt, !r.DecidedAt.IsZero()
	case StatusGranting:
		return r.GrantStartedAt, !r.GrantStartedAt.IsZero()
	case StatusPending:
		return r.CreatedAt, true
	}
	return time.Time{}, false // an extension never asked for: Resume's, at start
}

// resume takes up r's interrupted step in the background, unless it is
// being taken up already.
func (s *Service) resume(ctx context.Context, r *Request) {
	id := r.ID
	var step func(ctx context.Context)
	switch {
	case r.Status == StatusApproved || r.Status == StatusGranting:
		step = func(ctx context.Context) { s.grant(ctx, id) }
	case r.Status == StatusPending && len(r.Asked) == 0 && len(r.Messages) == 0:
		step = func(ctx context.Context) { s.ask(ctx, id) }
	case r.Status == StatusActive && r.PendingExtension() != nil && len(r.PendingExtension().Asked) == 0 && len(r.PendingExtension().Messages) == 0:
		round := len(r.Extensions) - 1
		step = func(ctx context.Context) { s.askExtension(ctx, id, round) }
	default:
		return
	}
	s.mu.Lock()
	if s.resuming == nil {
		s.resuming = map[string]bool{}
	}
	busy := s.resuming[id]
	s.resuming[id] = true
	s.mu.Unlock()
	if busy {
		return
	}
	s.log.Info("resuming an interrupted request", "request_id", id, "status", r.Status)
	s.background(ctx, func(ctx context.Context) {
		defer func() {
			s.mu.Lock()
			delete(s.resuming, id)
			s.mu.Unlock()
		}()
		step(ctx)
	})
}

// List returns actor's open requests and active grants.
func (s *Service) List(ctx context.Context, actor string) ([]*Request, error) {
	return s.store.OpenRequests(ctx, actor)
}

// Resources returns what actor may request.
func (s *Service) Resources(actor string) []Resource {
	return s.Policy().Requestable(actor)
}
