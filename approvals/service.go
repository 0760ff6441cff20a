package approvals

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Config holds what a Service is built from.
type Config struct {
	Store     Store
	Providers map[string]Provider // by the policy's provider name
	Policy    *Policy
	// Directory resolves the user groups a policy names; without one, a
	// user group counts as having no members.
	Directory Directory
	// Now is the clock; it is read once per operation so that the record,
	// its audit event and its index key share one instant. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Attempts is how many times one grant, revoke or check is tried when
	// the provider reports a transient failure (default 3), waiting
	// RetryBackoff, then twice that, between attempts (default 500ms).
	Attempts     int
	RetryBackoff time.Duration
	// RevokeRetry is how long after a failed revoke it is due again, doubled
	// per consecutive failure up to RevokeRetryMax (defaults 10s and 10m).
	RevokeRetry    time.Duration
	RevokeRetryMax time.Duration
	// CallTimeout bounds each attempt of a provider call (default 5m), so
	// one hung call cannot stall the expiry sweep for every grant behind
	// it. A timed-out attempt counts as transient.
	CallTimeout time.Duration
	// RevokeWorkers is how many provider revokes a sweep runs at once
	// (default 64): enough for their commits to share fsyncs (a sweep of
	// 1,000 takes about a fifth of the time of as many single commits, see
	// docs/benchmarks.md), and under GitHub's limit of 100 concurrent
	// requests.
	RevokeWorkers int
	// Timer is how the expiry timer (RunTimer) waits; default
	// time.NewTimer.
	Timer Timer
	// OnCall answers the auto_approve rules of resources, and StepUp the
	// step_up ones, by method name ("duo"); both optional.
	OnCall OnCall
	StepUp map[string]StepUp
}

// Service runs the approval flow. Methods that a Slack request waits for
// (Submit, Approve, Deny, Revoke) only check and commit; provider calls run
// in the background, tracked so that Wait and Shutdown can finish them.
// What people must be told is committed with each change as a Notice and
// delivered by the chat side: no operation here waits for the chat.
type Service struct {
	store     Store
	providers map[string]Provider
	policy    atomic.Pointer[Policy]
	directory Directory
	now       func() time.Time
	log       *slog.Logger

	attempts       int
	retryBackoff   time.Duration
	revokeRetry    time.Duration
	revokeRetryMax time.Duration
	callTimeout    time.Duration
	revokeWorkers  int
	timer          Timer
	// wake tells RunTimer that the earliest revoke due may have moved.
	wake   chan struct{}
	onCall OnCall
	stepUp map[string]StepUp

	mu      sync.Mutex // guards closing, running, revoking and resuming
	closing bool
	// running counts background work; idle is signalled (with mu) when it
	// drops to zero. A counter under mu rather than a WaitGroup, because
	// work starts from any goroutine (a sweep, a click) while Wait runs.
	running int
	idle    *sync.Cond
	// revoking holds the IDs of requests whose provider revoke is under
	// way, so an early revoke and a sweep never revoke the same grant at
	// once.
	revoking map[string]bool
	// resuming holds the IDs of requests Resume or ResumeStalled is
	// taking up, so that a sweep does not take one up twice.
	resuming map[string]bool
}

// New returns a Service. Store and Policy are required.
func New(cfg Config) *Service {
	s := &Service{
		store:          cfg.Store,
		providers:      cfg.Providers,
		directory:      cfg.Directory,
		now:            cfg.Now,
		log:            cfg.Logger,
		attempts:       cfg.Attempts,
		retryBackoff:   cfg.RetryBackoff,
		revokeRetry:    cfg.RevokeRetry,
		revokeRetryMax: cfg.RevokeRetryMax,
		callTimeout:    cfg.CallTimeout,
		revokeWorkers:  cfg.RevokeWorkers,
		timer:          cfg.Timer,
		wake:           make(chan struct{}, 1),
		onCall:         cfg.OnCall,
		stepUp:         cfg.StepUp,
	}
	if s.revokeWorkers < 1 {
		s.revokeWorkers = 64
	}
	if s.timer == nil {
		s.timer = realTimer
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.attempts < 1 {
		s.attempts = 3
	}
	if s.retryBackoff <= 0 {
		s.retryBackoff = 500 * time.Millisecond
	}
	if s.revokeRetry <= 0 {
		s.revokeRetry = 10 * time.Second
	}
	if s.revokeRetryMax <= 0 {
		s.revokeRetryMax = 10 * time.Minute
	}
	if s.callTimeout <= 0 {
		s.callTimeout = 5 * time.Minute
	}
	s.idle = sync.NewCond(&s.mu)
	s.policy.Store(cfg.Policy)
	return s
}

// Policy returns the policy in force.
func (s *Service) Policy() *Policy { return s.policy.Load() }

// Wait blocks until no background work is running, including work that
// starts while it waits.
func (s *Service) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.running > 0 {
		s.idle.Wait()
	}
}

// Shutdown stops accepting background work and waits for what is running.
// Work already running may still start its follow-ups (an early revoke
// asked for again), so nothing it began is left half done.
func (s *Service) Shutdown() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.Wait()
}

// background runs fn off the caller's path. The context keeps the caller's
// values but not its cancellation: an HTTP request that has been answered
// must not cancel the grant it caused.
func (s *Service) background(ctx context.Context, fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && s.running == 0 {
		s.log.Warn("shutting down; background work not started")
		return
	}
	s.running++
	go func() {
		defer func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running--; s.running == 0 {
				s.idle.Broadcast()
			}
		}()
		fn(context.WithoutCancel(ctx))
	}()
}

// track counts work started outside background (a revoke of the timer or
// a sweep) as running, for Wait, until the function it returns is called.
func (s *Service) track() func() {
	s.mu.Lock()
	s.running++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.running--; s.running == 0 {
			s.idle.Broadcast()
		}
	}
}

// NewID returns a new request ID: short enough to type in
// "/access revoke ID", random enough not to be guessed.
func NewID() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("approvals: crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ar-" + string(b)
}

// mayAsk checks that actor may ask for res (its requesters, user groups
// resolved) and returns actor's account at its provider. Errors: EINVALID
// (no account), EFORBIDDEN (not among the requesters).
func (s *Service) mayAsk(ctx context.Context, p *Policy, res Resource, actor string) (string, error) {
	if len(res.Requesters) > 0 {
		ro := s.resolve(ctx, false, res.Requesters)
		if !ro.mayRequest(res, actor) {
			return "", ro.notIn(res.Requesters, "requesters of "+res.Name,
				fmt.Sprintf("%s can be requested only by %s; ask an admin if you need it", res.Name, mentions(res.Requesters)))
		}
	}
	identity, ok := p.IdentityFor(actor, res)
	if !ok {
		key := res.IdentityKey
		if key == "" {
			key = res.Provider
		}
		return "", Errorf(EINVALID, "you have no %s account in the policy, so %s cannot be granted to you; ask an admin to add you under identities", key, res.Name)
	}
	return identity, nil
}

// Submit files a pending request for resource on behalf of actor. It
// validates everything it can without asking the provider, commits the
// request with its "requested" event, and returns it. Asking the provider
// whether the access is already held and posting the approval messages
// happen in the background. Errors: EINVALID for bad input, ECONFLICT when
// the actor already has this resource pending or active.
func (s *Service) Submit(ctx context.Context, actor, resource string, d time.Duration, reason string) (*Request, error) {
	p := s.Policy()
	res, ok := p.Resource(resource)
	if !ok {
		return nil, unknownResource(resource, s.Requestable(ctx, actor))
	}
	identity, err := s.mayAsk(ctx, p, res, actor)
	if err != nil {
		return nil, err
	}
	switch {
	case d <= 0:
		return nil, Errorf(EINVALID, "duration must be positive, e.g. 1h")
	case d > res.MaxDuration:
		return nil, Errorf(EINVALID, "%s is longer than the maximum of %s for %s; ask for %s or less", FormatDuration(d), FormatDuration(res.MaxDuration), res.Name, FormatDuration(res.MaxDuration))
	case res.MinDuration > 0 && d < res.MinDuration:
		return nil, Errorf(EINVALID, "%s is shorter than the minimum of %s for %s", FormatDuration(d), FormatDuration(res.MinDuration), res.Name)
	}
	if reason == "" {
		return nil, Errorf(EINVALID, "a reason is required: /access request %s %s REASON…", res.Name, FormatDuration(d))
	}
	if err := checkReasonLength(reason); err != nil {
		return nil, err
	}
	if err := CheckReason(res, reason); err != nil {
		return nil, err
	}
	if _, ok := s.providers[res.Provider]; !ok {
		return nil, Errorf(EINVALID, "%s cannot be granted: its provider %q is not configured on this server; tell an admin", res.Name, res.Provider)
	}
	now := s.now()
	r := &Request{
		ID:        NewID(),
		Requester: actor,
		Resource:  res.Name,
		Provider:  res.Provider,
		System:    res.System,
		Identity:  identity,
		Duration:  d,
		Reason:    reason,
		Settings:  append([]byte(nil), res.Settings...),
		Required:  res.Required(),
		Status:    StatusPending,
		CreatedAt: now,
	}
	ev := s.event(r, ActionRequested, actor, now)
	if err := s.store.CreateRequest(ctx, r, ev, tell(ev, false)); err != nil {
		return nil, err
	}
	s.log.Info("request filed", "request_id", r.ID, "resource", r.Resource, "requester", actor)
	s.background(ctx, func(ctx context.Context) { s.ask(ctx, r.ID) })
	return r.Clone(), nil
}

// MaxReasonLength is the longest reason accepted, in characters: enough
// for a ticket, an incident and a sentence, short enough that every
// message showing it (approval messages, the audit channel, DMs) stays
// readable and within the chat's limits.
const MaxReasonLength = 500

// checkReasonLength refuses a reason longer than MaxReasonLength, saying
// the limit and how long it is.
func checkReasonLength(reason string) error {
	if n := utf8.RuneCountInString(reason); n > MaxReasonLength {
		return Errorf(EINVALID, "the reason is %d characters long; the limit is %d: shorten it (a ticket or incident link and a sentence are enough)", n, MaxReasonLength)
	}
	return nil
}

// unknownResource is the error for a resource name that matches none,
// with the closest name the user may request when one is close.
func unknownResource(name string, requestable []Resource) error {
	names := make([]string, len(requestable))
	for i, r := range requestable {
		names[i] = r.Name
	}
	if best := Closest(name, names); best != "" {
		return Errorf(EINVALID, "unknown resource %q; did you mean %s? `/access resources` lists what you can request", name, best)
	}
	return Errorf(EINVALID, "unknown resource %q; `/access resources` lists what you can request", name)
}

// ask closes a new request as "already held" when the provider says the
// requester has the access already, and otherwise queues its approval
// message for the approvers.
func (s *Service) ask(ctx context.Context, id string) {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		s.log.Error("load request", "request_id", id, "err", err)
		return
	}
	if r.Status != StatusPending {
		return
	}
	held, err := s.holds(ctx, r)
	if err != nil {
		// Not fatal: the provider is asked again just before granting.
		s.log.Warn("could not check whether access is already held; asking approvers anyway", "request_id", id, "err", err)
	}
	if held {
		s.closeHeld(ctx, id, StatusPending)
		return
	}
	if s.autoApprove(ctx, r) {
		return
	}
	now := s.now()
	ro := s.approversOf(ctx, id, false)
	_, err = s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != StatusPending || len(r.Asked) > 0 || len(r.Messages) > 0 {
			return Change{}, errNoChange
		}
		res, ok := s.Policy().Resource(r.Resource)
		var targets []string
		if ok {
			targets = askTargets(r, res, ro)
		}
		if len(targets) == 0 {
			// Nobody can decide: close it rather than leave it waiting.
			why := "resource " + r.Resource + " left the policy before its approvers were asked"
			if ok {
				why = "resource " + r.Resource + " has no approver other than the requester and no approval channel"
			}
			r.Status, r.EndedAt, r.LastError, r.Explanation = StatusFailed, now, why, why
			ev := s.event(r, ActionGrantFailed, SystemActor, now)
			ev.Outcome, ev.Detail = string(StatusFailed), why
			return told(ev, true), nil
		}
		r.Asked = targets
		return Change{Notices: []Notice{{At: now, RequestID: r.ID, Ask: targets}}}, nil
	})
	if err != nil {
		s.logUpdate("queue approval messages", id, err)
	}
}

// closeHeld records that the requester already holds the access, if the
// request is still in state from, and tells them.
func (s *Service) closeHeld(ctx context.Context, id string, from Status) {
	now := s.now()
	_, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if r.Status != from {
			return Change{}, errNoChange
		}
		r.Status = StatusAlreadyHeld
		r.EndedAt = now
		ev := s.event(r, ActionAlreadyHeld, SystemActor, now)
		ev.Detail = "the provider reports the access is already held outside accessbot; nothing granted, nothing will be revoked"
		return told(ev, true), nil
	})
	if err != nil {
		s.logUpdate("close as already held", id, err)
	}
}

// errNoChange tells Transition callers that the request had already moved
// on, so there is nothing to write and nothing to announce.
var errNoChange = errors.New("request already moved on")

func isNoChange(err error) bool { return errors.Is(err, errNoChange) }

func (s *Service) logUpdate(what, id string, err error) {
	if isNoChange(err) {
		return
	}
	s.log.Error(what, "request_id", id, "err", err)
}

// event returns the audit event for an action on r, stamped with the hash of
// the policy in force.
func (s *Service) event(r *Request, action, actor string, now time.Time) Event {
	ev := eventFor(r, action, actor, now)
	if p := s.Policy(); p != nil {
		ev.PolicyHash = p.Hash
	}
	return ev
}

// Approve records actor's approval of request id. When the request reaches
// its required number of distinct approvals it becomes approved, and the
// grant runs in the background; exactly one call can make that transition,
// however many clicks arrive at once. Errors: ENOTFOUND, EFORBIDDEN (not an
// approver, own request), ECONFLICT (already decided, already approved by
// actor).
func (s *Service) Approve(ctx context.Context, actor, id string) (*Request, error) {
	return s.approve(ctx, actor, id, MessageRef{})
}

// ApproveFrom is Approve for a click on the approval message msg: a click
// on the message of one approval round (the request, or one extension)
// never decides another round, whose duration and reason the clicker may
// not have seen.
func (s *Service) ApproveFrom(ctx context.Context, actor, id string, msg MessageRef) (*Request, error) {
	return s.approve(ctx, actor, id, msg)
}

func (s *Service) approve(ctx context.Context, actor, id string, msg MessageRef) (*Request, error) {
	ro := s.approversOf(ctx, id, true)
	now := s.now()
	decided, extension := false, false
	var changed string // how the policy changed since r was filed
	step, err := s.stepUpCheck(ctx, actor, id, msg)
	if err != nil {
		return nil, err
	}
	r, err := s.store.Transition(ctx, id, step.mark(actor, func(r *Request) (Change, error) {
		if err := clickedRound(r, msg); err != nil {
			return Change{}, err
		}
		if extension = r.Status == StatusActive && len(r.Extensions) > 0; extension {
			evs, done, err := s.decideExtension(r, actor, true, ro)
			decided = done
			return extensionChange(evs), err
		}
		if err := s.mayDecide(r, actor, ro); err != nil {
			return Change{}, err
		}
		if r.HasApproved(actor) {
			return Change{}, Errorf(ECONFLICT, "you already approved %s; it needs %s, each from a different approver", r.ID, Count(r.Required-len(r.Approvals), "more approval"))
		}
		res, _ := s.Policy().Resource(r.Resource) // mayDecide found it
		if changed = s.changedSinceFiled(r, res); changed != "" {
			// Approvers saw the request as filed; granting it under other
			// rules would grant what nobody approved.
			r.Status = StatusFailed
			r.EndedAt = now
			r.LastError = "the policy changed since the request was filed (" + changed + "); nothing was granted, file a new request"
			r.Explanation = r.LastError
			ev := s.event(r, ActionGrantFailed, SystemActor, now)
			ev.Outcome = string(StatusFailed)
			ev.Detail = r.LastError
			return told(ev, true), nil
		}
		r.Approvals = append(r.Approvals, Approval{Approver: actor, At: now})
		// A threshold raised since filing applies; earlier approvals count
		// only while their approvers may still approve.
		r.Required = max(r.Required, res.Required())
		if countingApprovals(r.Approvals, r.Requester, res, ro) < r.Required {
			return told(s.event(r, ActionApproval, actor, now), false), nil
		}
		decided = true
		r.Status = StatusApproved
		r.DecidedBy = actor
		r.DecidedAt = now
		return told(s.event(r, ActionApproved, actor, now), false), nil
	}))
	if err != nil {
		return nil, err
	}
	if changed != "" {
		s.log.Warn("approval refused: the policy changed since the request was filed", "request_id", id, "change", changed)
		return nil, Errorf(ECONFLICT, "%s can no longer be approved: the policy changed since it was filed (%s). It is closed; <@%s> can file a new request.", r.ID, changed, r.Requester)
	}
	if extension {
		if decided {
			s.dueChanged() // the expiry moved
		}
		s.log.Info("extension approval", "request_id", r.ID, "by", actor, "decided", decided, "expires_at", r.ExpiresAt)
		return r, nil
	}
	if decided {
		s.log.Info("request approved", "request_id", id, "approvers", r.Approvers())
		s.background(ctx, func(ctx context.Context) { s.grant(ctx, id) })
	}
	return r, nil
}

// Deny records actor's refusal; one approver's no ends the request. On an
// active grant with a pending extension, Approve and Deny decide the
// extension instead (see Extend): a denied extension leaves the grant as it
// was.
func (s *Service) Deny(ctx context.Context, actor, id string) (*Request, error) {
	return s.deny(ctx, actor, id, MessageRef{})
}

// DenyFrom is Deny for a click on the approval message msg (see
// ApproveFrom).
func (s *Service) DenyFrom(ctx context.Context, actor, id string, msg MessageRef) (*Request, error) {
	return s.deny(ctx, actor, id, msg)
}

func (s *Service) deny(ctx context.Context, actor, id string, msg MessageRef) (*Request, error) {
	ro := s.approversOf(ctx, id, true)
	now := s.now()
	extension := false
	r, err := s.store.Transition(ctx, id, func(r *Request) (Change, error) {
		if err := clickedRound(r, msg); err != nil {
			return Change{}, err
		}
		if extension = r.Status == StatusActive && len(r.Extensions) > 0; extension {
			evs, _, err := s.decideExtension(r, actor, false, ro)
			return extensionChange(evs), err
		}
		if err := s.mayDecide(r, actor, ro); err != nil {
			return Change{}, err
		}
		r.Status = StatusDenied
		r.DecidedBy = actor
		r.DecidedAt = now
		r.EndedAt = now
		return told(s.event(r, ActionDenied, actor, now), true), nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("request denied", "request_id", id, "by", actor, "extension", extension)
	return r, nil
}

// mayDecide checks that actor may approve or deny r now. Approvers are read
// from the policy in force, so removing someone from a resource's approvers
// takes effect at once, also for requests already pending; so does
// removing them from a user group among the approvers, since ro is read
// from Slack at the click.
func (s *Service) mayDecide(r *Request, actor string, ro roster) error {
	if r.Status != StatusPending {
		return Errorf(ECONFLICT, "%s is already %s", r.ID, describeDecision(r))
	}
	res, ok := s.Policy().Resource(r.Resource)
	if !ok {
		return Errorf(ECONFLICT, "%s can no longer be decided: resource %s is not in the policy any more", r.ID, r.Resource)
	}
	if !ro.in(res.Approvers, actor) {
		return ro.notIn(res.Approvers, "approvers of "+res.Name,
			fmt.Sprintf("you are not an approver of %s; its approvers are %s", res.Name, mentions(res.Approvers)))
	}
	if actor == r.Requester && !res.AllowSelfApproval {
		return Errorf(EFORBIDDEN, "you cannot approve or deny your own request; another approver of %s must decide", res.Name)
	}
	return nil
}

// clickedRound refuses a click on an approval message of a round other
// than the one waiting for a decision. A message that is not on record
// (posted but not yet recorded, or msg unset) is judged by the request
// alone.
func clickedRound(r *Request, msg MessageRef) error {
	if msg == (MessageRef{}) {
		return nil
	}
	pending := r.PendingExtension()
	if pending != nil && slices.Contains(r.Messages, msg) {
		// The extension's reason is not quoted: it is the requester's text,
		// and an error reaches the clicker as the chat's markup.
		return Errorf(ECONFLICT, "this message is the original request %s, decided already; its extension (%s more, asked by %s) has its own approval message", r.ID, FormatDuration(pending.Duration), mentionActor(r.Requester))
	}
	for i := range r.Extensions {
		e := &r.Extensions[i]
		if e != pending && slices.Contains(e.Messages, msg) {
			return Errorf(ECONFLICT, "this message is an earlier extension of %s, which is %s; it cannot decide anything now", r.ID, e.Status)
		}
	}
	return nil
}

// changedSinceFiled says how the policy in force differs, for r, from the
// one r was filed under ("" when it does not): the provider, its settings,
// the requester's account, or duration limits that r no longer meets.
func (s *Service) changedSinceFiled(r *Request, res Resource) string {
	switch {
	case res.Provider != r.Provider:
		return fmt.Sprintf("%s now uses provider %s", res.Name, res.Provider)
	case !sameJSON(res.Settings, r.Settings):
		return fmt.Sprintf("the %s settings of %s changed", res.Provider, res.Name)
	}
	identity, ok := s.Policy().IdentityFor(r.Requester, res)
	switch {
	case !ok:
		return fmt.Sprintf("<@%s> has no %s account in the policy any more", r.Requester, res.Provider)
	case identity != r.Identity:
		return fmt.Sprintf("<@%s>'s %s account changed", r.Requester, res.Provider)
	case res.MaxDuration > 0 && r.Duration > res.MaxDuration:
		return fmt.Sprintf("the maximum duration of %s is now %s", res.Name, FormatDuration(res.MaxDuration))
	case r.Duration < res.MinDuration:
		return fmt.Sprintf("the minimum duration of %s is now %s", res.Name, FormatDuration(res.MinDuration))
	}
	return ""
}

// sameJSON reports whether two JSON documents are equal up to layout.
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// countingApprovals returns how many approvals count under res as it is
// now: those of people who are still its approvers (named, or members of
// an approver group as ro found it), and the requester's own only while
// self-approval is allowed.
func countingApprovals(approvals []Approval, requester string, res Resource, ro roster) int {
	n := 0
	for _, a := range approvals {
		if ro.in(res.Approvers, a.Approver) && (a.Approver != requester || res.AllowSelfApproval) {
			n++
		}
	}
	return n
}

func describeDecision(r *Request) string {
	switch {
	case r.DecidedBy != "":
		return fmt.Sprintf("%s by %s", r.Status, mentionActor(r.DecidedBy))
	case r.EndedBy != "":
		return fmt.Sprintf("%s by %s", r.Status, mentionActor(r.EndedBy))
	}
	return string(r.Status)
}

// mentionActor renders an actor in a chat reply: a Slack user as a
// mention, accessbot itself and an operator by name, since Slack would
// show a mention of them as a broken link.
func mentionActor(actor string) string {
	if actor == SystemActor || IsOperator(actor) {
		return actor
	}
	return "<@" + actor + ">"
}

// mentions renders member and user group IDs as Slack mentions.
func mentions(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		if IsGroup(id) {
			out += "<!subteam^" + id + ">"
		} else {
			out += "<@" + id + ">"
		}
	}
	return out
}

// provider returns the provider that serves r.
func (s *Service) provider(r *Request) (Provider, error) {
	p, ok := s.providers[r.Provider]
	if !ok {
		return nil, fmt.Errorf("provider %q is not configured", r.Provider)
	}
	return p, nil
}

// holds asks the provider whether r's identity holds the access now.
func (s *Service) holds(ctx context.Context, r *Request) (bool, error) {
	p, err := s.provider(r)
	if err != nil {
		return false, err
	}
	var held bool
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		held, err = p.Holds(ctx, HoldsRequest{
			Resource: r.Resource, Identity: r.Identity, RequestID: r.ID, Requester: r.Requester,
			Approvers: r.Approvers(), Reason: r.Reason, Duration: r.Duration, Settings: r.Settings,
		})
		return err
	})
	return held, err
}

// retry calls fn until it succeeds, fails permanently, or the attempts are
// used up, backing off between transient failures.
func (s *Service) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	wait := s.retryBackoff
	var err error
	for attempt := 1; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, s.callTimeout)
		err = fn(callCtx)
		timedOut := callCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil && timedOut && !Retryable(err) {
			err = Transient(fmt.Errorf("no answer within %s: %w", s.callTimeout, err))
		}
		if err == nil || !Retryable(err) || attempt >= s.attempts {
			return err
		}
		var t *TransientError
		if errors.As(err, &t) && t.RetryAfter > wait {
			if t.RetryAfter > time.Minute {
				return err // a long rate limit: let a later sweep take it
			}
			wait = t.RetryAfter
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}
