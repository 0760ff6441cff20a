package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Outbox is what the Deliverer reads and records; the store implements it.
type Outbox interface {
	// Notices returns up to limit undelivered notices after seq after, in
	// commit order.
	Notices(ctx context.Context, after uint64, limit int) ([]approvals.Notice, error)
	// RecordDeliveries records deliveries made, in one commit.
	RecordDeliveries(ctx context.Context, ds []approvals.Delivery) error
	// Request returns a request as stored now, or ENOTFOUND.
	Request(ctx context.Context, id string) (*approvals.Request, error)
	// OutboxSignal receives after notices are committed.
	OutboxSignal() <-chan struct{}
}

// Delivery defaults. Slack asks for a deadline on every call; its
// rate-limited answers say how long to wait, and anything else that
// retrying can fix (a 5xx, a 429 without Retry-After, a timeout) backs off
// exponentially up to a minute.
const (
	DefaultCallTimeout = 10 * time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Minute
	// maxInFlight bounds the notices held in memory at once, so a long
	// outage's backlog is read as it drains, not all at start.
	maxInFlight = 1024
	// maxCached bounds the remembered message references; past it they are
	// read back from the store.
	maxCached = 16384
)

// DelivererConfig holds what a Deliverer is built from.
type DelivererConfig struct {
	// Client talks to Slack's Web API. Required.
	Client *slack.Client
	// Outbox is where notices wait. Required.
	Outbox Outbox
	// AuditChannel is the channel ID that gets every audit event; empty
	// means no audit channel posts.
	AuditChannel string
	// Undeliverable records a message Slack refused for good
	// (approvals.Service.Undeliverable). Required.
	Undeliverable func(ctx context.Context, u approvals.Undelivered) error
	Logger        *slog.Logger
	// CallTimeout bounds each Slack call (default 10s); MinBackoff and
	// MaxBackoff bound the exponential backoff (defaults 1s and 60s).
	CallTimeout, MinBackoff, MaxBackoff time.Duration
	// Observe, when set, is told of every Slack call: the method and the
	// error code ("" for success, "timeout", "http_503", "ratelimited", a
	// Slack error code).
	Observe func(method, code string)
	// OnNotice, when set, is told of each notice when it is first taken
	// from the outbox.
	OnNotice func(n approvals.Notice)
	// OnDelivered, when set, is told of each notice once all its
	// deliveries are made (or given up), from the sender that finished
	// the last one; it must return quickly. The App Home refreshes from
	// it.
	OnDelivered func(n approvals.Notice)
	// Policy, when set, returns the policy in force: approval messages
	// count approvals as it does (approvals.Policy.Counted), so a removed
	// approver's approval is not shown as counting.
	Policy func() *approvals.Policy
	// After is the timer of retries (default time.After); tests replace it
	// to see the waits asked for without spending them.
	After func(d time.Duration) <-chan time.Time
	// RecordEach has each conversation's sender wait, before its next
	// message, until what it delivered is recorded: if the process dies,
	// the next deliverer posts again only the one message that was in
	// flight in each conversation. Without it, deliveries are recorded in
	// batches (at most 100 ms apart), so a crash may repeat the posts of
	// the last batch, and a burst costs far fewer commits. Replicas on
	// PostgreSQL set it: a failover is routine there, and a record is a
	// round trip, not an fsync of the local disk.
	RecordEach bool
}

// Deliverer is the delivery worker of the outbox: it turns each committed
// approvals.Notice into Slack calls and records what was delivered, so a
// restart neither loses nor repeats a message.
//
// Delivery is a pipeline. Each notice is expanded into deliveries, one
// per conversation it touches (an approval channel, an approver's or the
// requester's DM, the audit channel). Each conversation has one sender,
// which takes its deliveries in commit order, so Slack sees a thread's
// parent before its replies and a message's rewrites in order; a rate
// limit or an outage in one conversation holds up only that one. A sender
// retries a delivery until Slack accepts it or answers with an error that
// retrying cannot fix; that error is recorded through Undeliverable, which
// tells the people concerned. What was delivered is recorded in batches,
// and the message references Slack hands back are recorded with them;
// with RecordEach, a sender's delivery before its next one.
type Deliverer struct {
	cfg   DelivererConfig
	api   *slackAPI
	log   *slog.Logger
	audit string

	mu       sync.Mutex
	convs    map[string]*conversation
	inFlight map[uint64]*pending // notice seq -> its deliveries outstanding
	lastSeq  uint64              // the last notice taken from the outbox
	marks    []approvals.Delivery
	refs     map[refKey]approvals.MessageRef
	threads  map[string]approvals.MessageRef // request ID -> audit thread
	running  int                             // conversation senders running
	changed  *sync.Cond                      // signalled (with mu) when deliveries finish or are recorded
	wake     chan struct{}                   // a notice finished: room to read more
	marked   chan struct{}                   // deliveries wait to be recorded
	flushNow chan struct{}                   // a sender waits for its delivery to be recorded
	// markCount counts the marks ever appended, and recordedUpTo how many
	// of them are recorded: marks are recorded in the order they came.
	markCount, recordedUpTo uint64
	// unrecorded holds, with RecordEach, the markCount after each
	// conversation's last delivery while that is not recorded yet; it
	// outlives the conversation's sender.
	unrecorded map[string]uint64
}

// pending is a notice being delivered.
type pending struct {
	left int
	// parentPosted is set when this notice's audit post opened the
	// request's thread, so the parent needs no rewrite.
	parentPosted bool
}

// conversation is the queue of one sender.
type conversation struct {
	key   string
	queue []*delivery
}

// refKey names an approval message: request, round and conversation.
type refKey struct {
	request string
	round   int
	conv    string
}

// deliveryKind is what a delivery does.
type deliveryKind int

const (
	kindAsk         deliveryKind = iota // post an approval message
	kindUpdate                          // rewrite an approval message
	kindDM                              // tell the requester
	kindAudit                           // post the event to the audit channel
	kindAuditParent                     // rewrite the parent of the request's audit thread
	kindSummary                         // post the periodic summary
	kindAnchor                          // post the audit log's head
	kindRemind                          // remind approvers in the thread of an approval message
	kindWarn                            // warn the holder that the grant ends soon
)

// delivery is one Slack effect of a notice in one conversation.
type delivery struct {
	notice *approvals.Notice
	kind   deliveryKind
	key    string // approvals.Delivery.Key
	conv   string // the conversation: a channel ID, or "@" and a user ID for a DM
	target string // the channel or user ID of an approval message
	round  int
}

// NewDeliverer returns a Deliverer; Run starts it.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("bot: deliverer needs a slack client")
	case cfg.Outbox == nil:
		return nil, errors.New("bot: deliverer needs an outbox")
	case cfg.Undeliverable == nil:
		return nil, errors.New("bot: deliverer needs an Undeliverable callback")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	d := &Deliverer{
		cfg:        cfg,
		api:        newSlackAPI(cfg.Client, cfg.Logger),
		log:        cfg.Logger,
		audit:      cfg.AuditChannel,
		convs:      map[string]*conversation{},
		inFlight:   map[uint64]*pending{},
		refs:       map[refKey]approvals.MessageRef{},
		threads:    map[string]approvals.MessageRef{},
		unrecorded: map[string]uint64{},
		wake:       make(chan struct{}, 1),
		marked:     make(chan struct{}, 1),
		flushNow:   make(chan struct{}, 1),
	}
	d.api.retries = 0 // a sender retries, in its conversation's order
	d.api.callTimeout = cfg.CallTimeout
	d.api.observe = cfg.Observe
	d.changed = sync.NewCond(&d.mu)
	return d, nil
}

// Run delivers notices until ctx is cancelled, then records what was
// delivered and returns. Calls under way are abandoned at once: what they
// were delivering stays in the outbox, for the next start.
func (d *Deliverer) Run(ctx context.Context) {
	var rec sync.WaitGroup
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	rec.Go(func() { d.recordLoop(recCtx) })
	for ctx.Err() == nil {
		if err := d.fill(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("read the outbox", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-d.cfg.Outbox.OutboxSignal():
		case <-d.wake:
		case <-time.After(5 * time.Second):
		}
	}
	d.mu.Lock()
	for d.running > 0 {
		d.changed.Wait()
	}
	d.mu.Unlock()
	stopRec()
	rec.Wait()
	// What the senders finished since the last batch is recorded now, so
	// the next start does not post it again.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	d.record(flushCtx)
}

// Idle waits until every notice committed so far has been delivered (or
// given up) and recorded, or ctx ends.
func (d *Deliverer) Idle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.changed.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	for {
		ns, err := d.cfg.Outbox.Notices(ctx, 0, 1)
		if err != nil {
			return err
		}
		if len(ns) == 0 {
			return nil
		}
		d.kick()
		d.mu.Lock()
		if ctx.Err() == nil {
			// Woken by a finished delivery, a recorded batch or ctx; the
			// timer covers a notice committed after the check above.
			t := time.AfterFunc(20*time.Millisecond, func() {
				d.mu.Lock()
				d.changed.Broadcast()
				d.mu.Unlock()
			})
			d.changed.Wait()
			t.Stop()
		}
		d.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (d *Deliverer) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// fill reads the notices committed since the last read, while there is
// room, and hands their deliveries to the senders.
func (d *Deliverer) fill(ctx context.Context) error {
	for {
		d.mu.Lock()
		room, after := maxInFlight-len(d.inFlight), d.lastSeq
		d.mu.Unlock()
		if room <= 0 {
			return nil
		}
		ns, err := d.cfg.Outbox.Notices(ctx, after, min(room, 256))
		if err != nil || len(ns) == 0 {
			return err
		}
		for i := range ns {
			if d.cfg.OnNotice != nil && len(ns[i].Done) == 0 {
				d.cfg.OnNotice(ns[i])
			}
			d.dispatch(ctx, &ns[i])
		}
	}
}

// dispatch queues the deliveries of n not yet made.
func (d *Deliverer) dispatch(ctx context.Context, n *approvals.Notice) {
	var todo []*delivery
	for _, dl := range d.expand(n) {
		if !containsString(n.Done, dl.key) {
			todo = append(todo, dl)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSeq = max(d.lastSeq, n.Seq)
	if len(todo) == 0 {
		d.marks = append(d.marks, approvals.Delivery{Seq: n.Seq, Key: "none", Last: true})
		d.signalMarked()
		if d.cfg.OnDelivered != nil {
			go d.cfg.OnDelivered(*n)
		}
		return
	}
	d.inFlight[n.Seq] = &pending{left: len(todo)}
	for _, dl := range todo {
		c, ok := d.convs[dl.conv]
		if !ok {
			c = &conversation{key: dl.conv}
			d.convs[dl.conv] = c
			d.running++
			go d.send(ctx, c)
		}
		c.queue = append(c.queue, dl)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// convOf returns the conversation of a target: a channel is its own, a
// user's is the DM with them.
func convOf(target string) string {
	if strings.HasPrefix(target, "U") || strings.HasPrefix(target, "W") {
		return "@" + target
	}
	return target
}

// expand lists the deliveries of n, each under a key that stays the same
// across restarts.
func (d *Deliverer) expand(n *approvals.Notice) []*delivery {
	var out []*delivery
	add := func(kind deliveryKind, key, conv, target string, round int) {
		out = append(out, &delivery{notice: n, kind: kind, key: key, conv: conv, target: target, round: round})
	}
	r := n.Request
	for _, t := range n.Ask {
		add(kindAsk, fmt.Sprintf("ask:%d:%s", n.Round, t), convOf(t), t, n.Round)
	}
	out = append(out, d.expandPaths(n)...)
	if n.Update && r != nil {
		for _, t := range updateTargets(r.Asked, r.Messages) {
			add(kindUpdate, "update:0:"+t, convOf(t), t, 0)
		}
		if e := r.LastExtension(); e != nil {
			round := len(r.Extensions)
			for _, t := range updateTargets(e.Asked, e.Messages) {
				add(kindUpdate, fmt.Sprintf("update:%d:%s", round, t), convOf(t), t, round)
			}
		}
	}
	if n.TellRequester && r != nil && n.Event != nil {
		add(kindDM, "dm", convOf(r.Requester), r.Requester, 0)
	}
	if n.Remind && r != nil {
		for _, t := range updateTargets(r.Asked, r.Messages) {
			if !r.HasApproved(t) {
				add(kindRemind, "remind:"+t, convOf(t), t, 0)
			}
		}
	}
	if n.WarnExpiry && r != nil {
		add(kindWarn, "warn", convOf(r.Requester), r.Requester, 0)
	}
	if d.audit == "" {
		return out
	}
	if n.Event != nil {
		add(kindAudit, "audit", d.audit, d.audit, 0)
		if r != nil {
			add(kindAuditParent, "audit:parent", d.audit, d.audit, 0)
		}
	}
	if n.Summary != nil {
		add(kindSummary, "summary", d.audit, d.audit, 0)
	}
	if n.Anchor != nil {
		add(kindAnchor, "anchor", d.audit, d.audit, 0)
	}
	return out
}

// updateTargets returns the conversations whose approval messages a
// rewrite must reach: those asked, or, for a request filed before the
// targets were kept, the channels of the messages on record.
func updateTargets(asked []string, msgs []approvals.MessageRef) []string {
	if len(asked) > 0 {
		return asked
	}
	var out []string
	for _, m := range msgs {
		if !containsString(out, m.ChannelID) {
			out = append(out, m.ChannelID)
		}
	}
	return out
}

// send is the sender of conversation c: it delivers c's queue in order
// and ends when the queue is empty or ctx is cancelled.
func (d *Deliverer) send(ctx context.Context, c *conversation) {
	defer func() {
		d.mu.Lock()
		d.running--
		d.changed.Broadcast()
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		if len(c.queue) == 0 || ctx.Err() != nil {
			if d.convs[c.key] == c {
				delete(d.convs, c.key)
			}
			d.mu.Unlock()
			return
		}
		dl := c.queue[0]
		mark, waits := d.unrecorded[c.key]
		d.mu.Unlock()
		if waits && !d.awaitRecorded(ctx, mark) {
			continue // cancelled: the loop ends above
		}
		if !d.deliver(ctx, dl) {
			continue
		}
		d.mu.Lock()
		c.queue = c.queue[1:]
		if d.cfg.RecordEach {
			d.unrecorded[c.key] = d.markCount
		}
		d.mu.Unlock()
	}
}

// awaitRecorded waits until the first mark deliveries are recorded, and
// reports false when ctx ended first. With RecordEach a sender waits so
// before each message while its conversation's last one is not recorded
// yet: should the process die, what it posted is recorded, but for the
// one message in flight, and the next start (or the next leader) posts
// only that one again. Records from several conversations still share a
// commit.
func (d *Deliverer) awaitRecorded(ctx context.Context, mark uint64) bool {
	select {
	case d.flushNow <- struct{}{}:
	default:
	}
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.changed.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.recordedUpTo < mark && ctx.Err() == nil {
		d.changed.Wait()
	}
	return d.recordedUpTo >= mark
}

// deliver makes dl, retrying until Slack accepts it or refuses for good,
// and reports false when ctx ended first.
func (d *Deliverer) deliver(ctx context.Context, dl *delivery) bool {
	backoff := d.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		rec, err := d.attempt(ctx, dl)
		if err == nil {
			d.finish(dl, rec)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait, permanent := classify(err)
		if permanent {
			d.giveUp(ctx, dl, err)
			d.finish(dl, nil)
			return true
		}
		if wait <= 0 {
			wait, backoff = backoff, min(backoff*2, d.cfg.MaxBackoff)
		}
		d.log.Warn("slack delivery failed; retrying", "request_id", dl.notice.RequestID, "delivery", dl.key,
			"attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-d.cfg.After(wait):
		}
	}
}

// finish notes dl as made; rec, when set, is a message reference to keep.
func (d *Deliverer) finish(dl *delivery, rec *approvals.Delivery) {
	d.mu.Lock()
	last := d.finishLocked(dl, rec)
	d.mu.Unlock()
	if last && d.cfg.OnDelivered != nil {
		d.cfg.OnDelivered(*dl.notice)
	}
}

// finishLocked is finish with mu held; it reports whether dl was the
// notice's last delivery.
func (d *Deliverer) finishLocked(dl *delivery, rec *approvals.Delivery) bool {
	mark := approvals.Delivery{Seq: dl.notice.Seq, Key: dl.key}
	if rec != nil {
		mark.RequestID, mark.Round, mark.Ref, mark.AuditThread = rec.RequestID, rec.Round, rec.Ref, rec.AuditThread
	}
	if p := d.inFlight[dl.notice.Seq]; p != nil {
		if p.left--; p.left == 0 {
			mark.Last = true
			delete(d.inFlight, dl.notice.Seq)
			d.kick()
		}
	}
	d.marks = append(d.marks, mark)
	d.markCount++
	d.signalMarked()
	d.changed.Broadcast()
	return mark.Last
}

func (d *Deliverer) signalMarked() {
	select {
	case d.marked <- struct{}{}:
	default:
	}
}

// Recording deliveries matters only to a restart, which must not post
// again what was delivered; it must not cost the writes that requests and
// decisions wait for. So finished deliveries are recorded together, once
// recordBatch of them are waiting or recordDelay after the first.
const (
	recordBatch = 128
	recordDelay = 100 * time.Millisecond
)

// recordLoop records finished deliveries in batches; at once when a
// sender waits for its delivery to be recorded.
func (d *Deliverer) recordLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.flushNow:
			d.record(ctx)
			continue
		case <-d.marked:
		}
		deadline := time.NewTimer(recordDelay)
	gather:
		for {
			d.mu.Lock()
			n := len(d.marks)
			d.mu.Unlock()
			if n >= recordBatch {
				break
			}
			select {
			case <-ctx.Done():
				deadline.Stop()
				return
			case <-deadline.C:
				break gather
			case <-d.flushNow:
				break gather
			case <-d.marked:
			}
		}
		deadline.Stop()
		d.record(ctx)
	}
}

// record commits the deliveries finished so far. A failed commit keeps
// them for the next try: until recorded, a restart would make them again.
func (d *Deliverer) record(ctx context.Context) {
	d.mu.Lock()
	batch := d.marks
	d.marks = nil
	upTo := d.markCount
	if len(batch) == 0 {
		// Nothing waits: every mark so far is recorded.
		d.recordedLocked(upTo)
	}
	d.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := d.cfg.Outbox.RecordDeliveries(ctx, batch); err != nil {
		d.log.Error("record deliveries; will retry", "deliveries", len(batch), "err", err)
		d.mu.Lock()
		d.marks = append(batch, d.marks...)
		d.mu.Unlock()
		time.AfterFunc(time.Second, d.signalMarked)
		return
	}
	d.mu.Lock()
	d.recordedLocked(upTo)
	d.mu.Unlock()
}

// recordedLocked notes, with mu held, that the first upTo marks are
// recorded.
func (d *Deliverer) recordedLocked(upTo uint64) {
	d.recordedUpTo = max(d.recordedUpTo, upTo)
	for conv, mark := range d.unrecorded {
		if mark <= d.recordedUpTo {
			delete(d.unrecorded, conv)
		}
	}
	d.changed.Broadcast()
}

// giveUp records a delivery Slack refused for good.
func (d *Deliverer) giveUp(ctx context.Context, dl *delivery, err error) {
	code := errorCode(err)
	u := approvals.Undelivered{RequestID: dl.notice.RequestID, Round: dl.round, Target: dl.target, Why: explainCode(code)}
	switch dl.kind {
	case kindAsk:
		u.Ask = true
		u.Fix = fixFor(code, dl.target)
	case kindUpdate:
		if code == "message_not_found" || code == "cant_update_message" || code == "edit_window_closed" {
			d.log.Warn("approval message could not be rewritten", "request_id", u.RequestID, "target", dl.target, "code", code)
			return
		}
		u.Fix = fixFor(code, dl.target)
	default:
		u.Fix = fixFor(code, dl.target)
	}
	d.log.Error("slack refused a message for good", "request_id", u.RequestID, "delivery", dl.key, "code", code, "fix", u.Fix)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.cfg.Undeliverable(rctx, u); err != nil {
		d.log.Error("record undeliverable message", "request_id", u.RequestID, "err", err)
	}
}

// classify says how to retry err: after wait (0: back off exponentially),
// or not at all when permanent.
func classify(err error) (wait time.Duration, permanent bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, false
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return 0, !(sc.Code == 429 || sc.Code >= 500)
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return 0, !transientCodes[se.Err]
	}
	// Timeouts, refused connections, answers cut short: Slack or the way
	// to it is having trouble, which passes.
	return 0, false
}

// transientCodes are Slack error codes that retrying can fix.
var transientCodes = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "timeout": true,
}

// errorCode is the short name of a Slack call's failure, for logs,
// metrics and the audit log.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &rl):
		return "ratelimited"
	case errors.As(err, &sc):
		return "http_" + strconv.Itoa(sc.Code)
	case errors.As(err, &se):
		return se.Err
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// explainCode says in words what a Slack error code means for a message.
func explainCode(code string) string {
	switch code {
	case "not_in_channel":
		return "the bot is not a member of the channel (not_in_channel)"
	case "channel_not_found":
		return "the channel does not exist or the bot cannot see it (channel_not_found)"
	case "is_archived":
		return "the channel is archived (is_archived)"
	case "user_not_found", "users_not_found":
		return "there is no such Slack user (" + code + ")"
	case "user_disabled", "account_inactive":
		return "the account is deactivated (" + code + ")"
	case "cannot_dm_bot":
		return "the user is a bot, which cannot be sent a direct message (cannot_dm_bot)"
	case "invalid_auth", "not_authed", "token_revoked", "token_expired":
		return "Slack refused the bot token (" + code + ")"
	case "missing_scope":
		return "the bot token lacks a scope this call needs (missing_scope)"
	}
	return "Slack answered " + code
}

// fixFor says what an admin can do about code for target.
func fixFor(code, target string) string {
	switch code {
	case "not_in_channel":
		return "invite @accessbot to the channel " + target + " (in Slack: /invite @accessbot)"
	case "channel_not_found":
		return "check approval_channel " + target + " in the policy; a private channel needs @accessbot invited"
	case "is_archived":
		return "unarchive " + target + " or set another approval_channel in the policy"
	case "user_not_found", "users_not_found", "user_disabled", "account_inactive", "cannot_dm_bot":
		return "update the approvers in the policy: " + target + " cannot receive messages"
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "missing_scope":
		return "check ACCESSBOT_SLACK_BOT_TOKEN and the app's scopes, then restart accessbot"
	}
	return ""
}
