package approvals

import (
	"context"
	"sync"
	"time"
)

// Timer waits: it returns a channel that receives once d has passed and
// a function that stops it (as time.NewTimer's C and Stop). The Service
// waits only through it, so tests drive the expiry timer without sleeping.
type Timer func(d time.Duration) (c <-chan time.Time, stop func() bool)

// realTimer is the default Timer.
func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// busyRetry is how long the timer waits before sweeping again when what is
// due is still being revoked by someone else (an early revoke, the cron
// sweep): the end of that revoke wakes it sooner.
const busyRetry = time.Second

// RunTimer revokes on time: it sleeps until the earliest revoke due (read
// from the store's index), runs a sweep then, and starts over. Whatever
// moves a revoke earlier (a grant, an early revoke, a failed revoke
// rescheduled, a grant kept due after a failed undo, an extension) wakes
// it to read the earliest instant again. The cron sweep stays, as the
// safety net: timers drift across clock jumps and a store error here only
// delays until the next try. RunTimer returns when ctx is done; a sweep
// under way then is finished, not cancelled, like any revoke.
func (s *Service) RunTimer(ctx context.Context) {
	work := context.WithoutCancel(ctx)
	var swept time.Time // the instant of the last sweep, zero before it
	for ctx.Err() == nil {
		wait := time.Duration(-1) // none: until woken
		next, ok, err := s.store.NextRevokeDue(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			s.log.Error("expiry timer: read the next revoke due", "err", err)
			wait = busyRetry
		case ok && !swept.IsZero() && !next.After(swept):
			// The last sweep left it due: someone else is revoking it
			// right now, and wakes us when done.
			wait = busyRetry
		case ok:
			wait = max(next.Sub(s.now()), 0)
		}
		if wait == 0 {
			swept = s.now()
			if err := s.expireDue(work, swept); err != nil {
				s.log.Error("expiry timer: sweep", "err", err)
			}
			continue
		}
		var (
			fire <-chan time.Time
			stop = func() bool { return false }
		)
		if wait > 0 {
			fire, stop = s.timer(wait)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-s.wake:
			stop()
			swept = time.Time{}
		case <-fire:
			swept = time.Time{}
		}
	}
}

// dueChanged wakes the expiry timer after a change that may have moved the
// earliest revoke due. It never blocks: one pending wake is enough, as
// the timer reads the index afresh when it wakes.
func (s *Service) dueChanged() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// DueChanged tells the expiry timer that another process (a replica
// sharing the store) may have moved the earliest revoke due: it reads the
// index afresh. It never blocks.
func (s *Service) DueChanged() { s.dueChanged() }

// expireDue revokes every grant whose revoke is due at now, running up to
// revokeWorkers provider revokes at a time: their outcomes are committed
// concurrently, so the store's group committer writes many of them in one
// transaction and one fsync, and a slow provider call holds up only its
// own grant. One revoke of a request still runs at a time (startRevoke).
// It returns once every revoke it started has its outcome recorded.
func (s *Service) expireDue(ctx context.Context, now time.Time) error {
	due, err := s.store.DueRevokes(ctx, now)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, s.revokeWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, r := range due {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.revoke(ctx, r)
		})
	}
	return nil
}
