package bot

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// attempt makes one try of dl. It returns the message reference to record,
// if any.
func (d *Deliverer) attempt(ctx context.Context, dl *delivery) (*approvals.Delivery, error) {
	n := dl.notice
	switch dl.kind {
	case kindAsk:
		return d.ask(ctx, dl)
	case kindUpdate:
		return nil, d.rewrite(ctx, dl)
	case kindDM:
		text := cut(requesterText(n.Request, *n.Event), maxSectionText)
		_, err := d.api.dm(ctx, n.Request.Requester, text, []slack.Block{section("message", text)})
		return nil, err
	case kindAudit:
		return d.postAudit(ctx, dl)
	case kindRemind:
		return nil, d.remind(ctx, dl)
	case kindWarn:
		_, err := d.api.dm(ctx, n.Request.Requester, warningText(n.Request), warningBlocks(n.Request))
		return nil, err
	case kindAuditParent:
		return nil, d.rewriteParent(ctx, dl)
	case kindSummary:
		_, err := d.api.post(ctx, d.audit, summaryText(n.Summary), summaryBlocks(n.Summary))
		return nil, err
	case kindAlert, kindReview:
		return d.attemptPaths(ctx, dl)
	case kindAnchor:
		text := anchorText(*n.Anchor)
		_, err := d.api.post(ctx, d.audit, text, []slack.Block{section(blockAnchor, text)})
		return nil, err
	}
	return nil, fmt.Errorf("unknown delivery %q", dl.key)
}

// current returns request id as stored now: approval messages and the
// audit thread's parent show where a request stands, which may be further
// than the notice being delivered (its snapshot says what happened then).
func (d *Deliverer) current(ctx context.Context, n *approvals.Notice) (*approvals.Request, error) {
	r, err := d.cfg.Outbox.Request(ctx, n.RequestID)
	if approvals.ErrorCode(err) == approvals.ENOTFOUND && n.Request != nil {
		r, err = n.Request, nil
	}
	if err == nil && d.cfg.Policy != nil {
		r = d.cfg.Policy().Counted(r)
	}
	return r, err
}

// roundMessage renders the approval message of round of r: the request's
// own, or that of its extension.
func roundMessage(r *approvals.Request, round int) (string, []slack.Block) {
	if round == 0 && r.BreakGlass {
		return reviewText(r), reviewBlocks(r)
	}
	if round > 0 && round <= len(r.Extensions) {
		e := &r.Extensions[round-1]
		return extensionText(r, e), extensionBlocks(r, e)
	}
	return approvalText(r), approvalBlocks(r)
}

// ask posts the approval message of dl's round to its target: the approval
// channel, or the approver's DM.
func (d *Deliverer) ask(ctx context.Context, dl *delivery) (*approvals.Delivery, error) {
	r, err := d.current(ctx, dl.notice)
	if err != nil {
		return nil, err
	}
	text, blocks := roundMessage(r, dl.round)
	channel := dl.target
	if dl.conv != dl.target {
		if channel, err = d.api.dmChannel(ctx, dl.target); err != nil {
			return nil, err
		}
	}
	ref, err := d.api.post(ctx, channel, text, blocks)
	if err != nil {
		return nil, err
	}
	d.remember(refKey{r.ID, dl.round, dl.conv}, ref)
	return &approvals.Delivery{RequestID: r.ID, Round: dl.round, Ref: ref}, nil
}

// rewrite updates the approval message of dl's round in its conversation
// to show the request as it stands. A message that was never posted (its
// target could not be reached) has nothing to rewrite.
func (d *Deliverer) rewrite(ctx context.Context, dl *delivery) error {
	r, err := d.current(ctx, dl.notice)
	if err != nil {
		return err
	}
	ref, ok, err := d.messageRef(ctx, r, dl)
	if err != nil || !ok {
		return err
	}
	text, blocks := roundMessage(r, dl.round)
	return d.api.update(ctx, ref, text, blocks)
}

// remind replies in the thread of the approval message in dl's
// conversation, if the request still waits: a reminder that arrives after
// a decision would only confuse. A message that was never posted has no
// thread to remind in.
func (d *Deliverer) remind(ctx context.Context, dl *delivery) error {
	r, err := d.current(ctx, dl.notice)
	if err != nil || r.Status != approvals.StatusPending {
		return err
	}
	ref, ok, err := d.messageRef(ctx, r, dl)
	if err != nil || !ok {
		return err
	}
	text := reminderText(r)
	_, err = d.api.reply(ctx, ref, text, []slack.Block{section(blockReminder, text)})
	return err
}

// messageRef finds the approval message of dl's round in dl's
// conversation: remembered from posting it, or on record on the request.
func (d *Deliverer) messageRef(ctx context.Context, r *approvals.Request, dl *delivery) (approvals.MessageRef, bool, error) {
	key := refKey{r.ID, dl.round, dl.conv}
	d.mu.Lock()
	ref, ok := d.refs[key]
	d.mu.Unlock()
	if ok {
		return ref, true, nil
	}
	msgs := r.Messages
	if dl.round > 0 && dl.round <= len(r.Extensions) {
		msgs = r.Extensions[dl.round-1].Messages
	}
	if len(msgs) == 0 {
		return approvals.MessageRef{}, false, nil
	}
	channel := dl.target
	if dl.conv != dl.target {
		var err error
		if channel, err = d.api.dmChannel(ctx, dl.target); err != nil {
			return approvals.MessageRef{}, false, err
		}
	}
	for _, m := range msgs {
		if m.ChannelID == channel {
			d.remember(key, m)
			return m, true, nil
		}
	}
	return approvals.MessageRef{}, false, nil
}

// remember keeps a message reference for the rewrites that follow; the
// store has it too, so forgetting everything when the map is full only
// costs reads.
func (d *Deliverer) remember(key refKey, ref approvals.MessageRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.refs) >= maxCached {
		clear(d.refs)
	}
	d.refs[key] = ref
}

// thread returns the parent of request r's audit thread, if it has one.
func (d *Deliverer) thread(r *approvals.Request) (approvals.MessageRef, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.threads[r.ID]; ok {
		return t, true
	}
	if r.AuditThread.TS != "" && r.AuditThread.ChannelID == d.audit {
		return r.AuditThread, true
	}
	return approvals.MessageRef{}, false
}

// postAudit posts dl's event to the audit channel: an event about no
// request at the top level; the first event of a request as the parent of
// its thread, showing where it stands; later ones as replies in it.
func (d *Deliverer) postAudit(ctx context.Context, dl *delivery) (*approvals.Delivery, error) {
	n := dl.notice
	ev := *n.Event
	if n.Request == nil {
		text := cut(auditText(nil, ev), maxSectionText)
		_, err := d.api.post(ctx, d.audit, text, []slack.Block{section(blockAudit, text)})
		return nil, err
	}
	r, err := d.current(ctx, n)
	if err != nil {
		return nil, err
	}
	if parent, ok := d.thread(r); ok {
		text := cut(auditText(n.Request, ev), maxSectionText)
		_, err := d.api.reply(ctx, parent, text, []slack.Block{section(blockAudit, text)})
		return nil, err
	}
	ref, err := d.api.post(ctx, d.audit, auditParentText(r, ev), auditParentBlocks(r, ev))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if len(d.threads) >= maxCached {
		clear(d.threads)
	}
	d.threads[r.ID] = ref
	if p := d.inFlight[n.Seq]; p != nil {
		p.parentPosted = true
	}
	d.mu.Unlock()
	return &approvals.Delivery{RequestID: r.ID, Ref: ref, AuditThread: true}, nil
}

// rewriteParent updates the parent of the request's audit thread to show
// where the request stands, unless this notice's post just opened it.
func (d *Deliverer) rewriteParent(ctx context.Context, dl *delivery) error {
	n := dl.notice
	d.mu.Lock()
	p := d.inFlight[n.Seq]
	posted := p != nil && p.parentPosted
	d.mu.Unlock()
	if posted {
		return nil
	}
	r, err := d.current(ctx, n)
	if err != nil {
		return err
	}
	parent, ok := d.thread(r)
	if !ok {
		return nil // the post that would open it was refused
	}
	return d.api.update(ctx, parent, auditParentText(r, *n.Event), auditParentBlocks(r, *n.Event))
}

// blockAnchor is the block of an anchor post.
const blockAnchor = "audit_anchor"

// anchorText publishes the audit log's head outside the database file,
// with the command that checks the log against it.
func anchorText(a approvals.Anchor) string {
	return fmt.Sprintf(":anchor: *Audit log anchor* `%s` (%d events). Check the log has not been rewritten since: `accessbot audit verify --expect-head %s`",
		a.String(), a.Count, a.String())
}
