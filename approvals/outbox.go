package approvals

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Notice is a chat effect of a state change: what people must be told
// because of it. Notices are written to the store's outbox in the same
// transaction as the change they describe, and delivered afterwards by the
// chat side, which retries until the chat accepts them or refuses for good.
// So a committed change is never left untold by a crash, a restart, an
// outage or a rate limit, and no grant, revoke or click waits for the chat.
//
// A notice says what to tell, not how: the chat side renders it from the
// request as committed with it.
type Notice struct {
	// Seq orders the outbox; the store assigns it.
	Seq uint64 `json:"-"`
	// At is when the change was committed.
	At time.Time `json:"at"`
	// RequestID is the request the notice is about; empty for an event
	// about no request (a policy change, drift) or a summary.
	RequestID string `json:"request_id,omitempty"`
	// Request is the request as committed with the notice; the store fills
	// it in.
	Request *Request `json:"request,omitempty"`
	// Event, when set, is posted to the audit channel, in the request's
	// thread.
	Event *Event `json:"event,omitempty"`
	// Ask, when set, are the approval channel or the approvers (Slack IDs)
	// who get the approval message of Round, with its buttons.
	Ask []string `json:"ask,omitempty"`
	// Round is the approval round: 0 for the request itself, n for its
	// n-th extension.
	Round int `json:"round,omitempty"`
	// Update asks for the approval messages posted so far (of the request
	// and of its latest extension) to be rewritten to show the request as
	// committed.
	Update bool `json:"update,omitempty"`
	// TellRequester sends the requester a DM about Event.
	TellRequester bool `json:"tell_requester,omitempty"`
	// Remind reminds the approvers who have not yet approved of the
	// pending request, on its approval messages.
	Remind bool `json:"remind,omitempty"`
	// WarnExpiry tells the holder that the grant ends soon, offering an
	// extension.
	WarnExpiry bool `json:"warn_expiry,omitempty"`
	// Alert, when set, are people (admins) told by DM that a break-glass
	// grant was made; Review are the approval channel or the approvers who
	// get its review message, with its buttons.
	Alert  []string `json:"alert,omitempty"`
	Review []string `json:"review,omitempty"`
	// Summary, when set, is the periodic summary for the audit channel.
	Summary *Summary `json:"summary,omitempty"`
	// Anchor, when set, is the audit log head to publish in the audit
	// channel.
	Anchor *Anchor `json:"anchor,omitempty"`
	// Done names the deliveries of this notice already made (see
	// Delivery.Key); the store keeps it.
	Done []string `json:"done,omitempty"`
}

// Change is what one transition of a request writes besides the request
// itself: its audit events and its notices, committed together.
type Change struct {
	Events  []Event
	Notices []Notice
}

// Delivery is the outcome of one delivery of a notice, recorded by the
// chat side. Recording every delivery of a notice removes it from the
// outbox; a delivery recorded before a restart is not made again.
type Delivery struct {
	// Seq is the notice.
	Seq uint64
	// Key names the delivery within the notice (for example "ask:C0APPR"
	// or "audit"), so that a notice delivered in part is finished, not
	// repeated, after a restart.
	Key string
	// Last is set when this was the notice's last delivery outstanding:
	// the notice leaves the outbox.
	Last bool
	// Ref, when set, is a message just posted for request RequestID: an
	// approval message of Round, or, when AuditThread, the audit channel
	// message that opens the request's thread. The store records it on the
	// request, without an audit event, so later rewrites and thread
	// replies find it after a restart.
	RequestID   string
	Round       int
	Ref         MessageRef
	AuditThread bool
}

// ActionUndeliverable records that the chat refused a message for good:
// an approval message that could not reach an approver (the bot is not in
// the channel, the user is gone), or a message to the requester or to the
// audit channel. Detail says why and what fixes it.
const ActionUndeliverable = "undeliverable"

// Undelivered describes a message the chat refused for good.
type Undelivered struct {
	RequestID string
	// Round is the approval round of an approval message (Ask).
	Round int
	// Target is the channel or user the message was for.
	Target string
	// Ask is set for an approval message: the approvers behind Target were
	// not asked.
	Ask bool
	// Why is the chat's answer in words, Fix what an admin can do about it.
	Why, Fix string
}

// Unreachable is an approval target that could not be asked.
type Unreachable struct {
	Target string `json:"target"`
	Why    string `json:"why"`
}

// askTargets returns where the approval message of r goes under res: the
// approval channel, or else every approver but the requester (unless the
// resource allows self-approval), each member of an approver group asked
// by DM.
func askTargets(r *Request, res Resource, ro roster) []string {
	if res.ApprovalChannel != "" {
		return []string{res.ApprovalChannel}
	}
	var out []string
	for _, a := range ro.expand(res.Approvers) {
		if a == r.Requester && !res.AllowSelfApproval {
			continue
		}
		out = append(out, a)
	}
	return out
}

// tell returns the notice that announces ev: the audit channel gets it,
// the approval messages are rewritten (unless it is the request being
// filed), and the requester is told when tellRequester.
func tell(ev Event, tellRequester bool) Notice {
	e := ev
	return Notice{
		At:            ev.Time,
		RequestID:     ev.RequestID,
		Event:         &e,
		Update:        ev.RequestID != "" && ev.Action != ActionRequested && ev.Action != ActionExtensionRequested,
		TellRequester: tellRequester,
	}
}

// told returns the change that appends ev and announces it.
func told(ev Event, tellRequester bool) Change {
	return Change{Events: []Event{ev}, Notices: []Notice{tell(ev, tellRequester)}}
}

// Undeliverable records that the chat refused a message for good. For an
// approval message, the requester is told that those approvers could not
// be reached, why, and what fixes it; the other approvers were still
// asked. When no approver of the round could be reached, the round is
// closed rather than left looking in progress: a pending request fails,
// a pending extension is closed. Other messages (a DM to the requester, an
// audit channel post) are recorded in the audit log only, since the chat
// refuses them. Recording the same target twice changes nothing.
func (s *Service) Undeliverable(ctx context.Context, u Undelivered) error {
	now := s.now()
	detail := fmt.Sprintf("message to %s not delivered: %s", u.Target, u.Why)
	if u.Fix != "" {
		detail += "; " + u.Fix
	}
	if u.RequestID == "" {
		ev := Event{Time: now, Action: ActionUndeliverable, Actor: SystemActor, Outcome: "failed", Detail: detail}
		if p := s.Policy(); p != nil {
			ev.PolicyHash = p.Hash
		}
		return s.store.AppendEvent(ctx, ev)
	}
	_, err := s.store.Transition(ctx, u.RequestID, func(r *Request) (Change, error) {
		ev := s.event(r, ActionUndeliverable, SystemActor, now)
		ev.Outcome = "failed"
		ev.Detail = detail
		if !u.Ask {
			return Change{Events: []Event{ev}}, nil
		}
		asked, unreachable := r.roundTargets(u.Round)
		if asked == nil {
			return Change{}, errNoChange
		}
		for _, x := range *unreachable {
			if x.Target == u.Target {
				return Change{}, errNoChange
			}
		}
		*unreachable = append(*unreachable, Unreachable{Target: u.Target, Why: u.Why + fixSuffix(u.Fix)})
		ev.Detail = "approvers not asked: " + detail
		if len(*unreachable) < len(*asked) {
			ev.Outcome = string(r.Status)
			return told(ev, true), nil
		}
		// Nobody could be asked: close the round so it does not look as
		// if someone were deciding.
		why := "none of its approvers could be reached: " + describeUnreachable(*unreachable)
		if u.Round == 0 {
			if r.Status != StatusPending {
				return told(ev, true), nil
			}
			r.Status = StatusFailed
			r.EndedAt = now
			r.LastError, r.Explanation = why, why
			ev.Outcome = string(StatusFailed)
			ev.Detail = undeliverableFailed + why
			return told(ev, true), nil
		}
		e := &r.Extensions[u.Round-1]
		if e.Status == ExtensionPending {
			e.Status = ExtensionClosed
			e.DecidedAt = now
			ev.Detail = "extension failed: " + why
		}
		return told(ev, true), nil
	})
	if err != nil && !isNoChange(err) {
		return err
	}
	return nil
}

func fixSuffix(fix string) string {
	if fix == "" {
		return ""
	}
	return " (" + fix + ")"
}

func describeUnreachable(us []Unreachable) string {
	parts := make([]string, 0, len(us))
	for _, u := range us {
		parts = append(parts, u.Target+": "+u.Why)
	}
	return strings.Join(parts, "; ")
}

// roundTargets returns the targets asked in round and those that could
// not be reached, for changing in place; nil when the round does not
// exist or asked nobody yet.
func (r *Request) roundTargets(round int) (*[]string, *[]Unreachable) {
	if round == 0 {
		if len(r.Asked) == 0 {
			return nil, nil
		}
		return &r.Asked, &r.Unreachable
	}
	if round > len(r.Extensions) || len(r.Extensions[round-1].Asked) == 0 {
		return nil, nil
	}
	e := &r.Extensions[round-1]
	return &e.Asked, &e.Unreachable
}

// DeliveryBatch is a batch of deliveries grouped the way a store records
// them: each notice once (deleted when its last delivery is in the batch,
// otherwise given the keys it does not have yet), each request whose
// messages were posted rewritten once. Notices are in sequence order and
// requests in ID order, so concurrent recorders lock rows in one order.
type DeliveryBatch struct {
	Notices []NoticeDeliveries
	Refs    []RequestRefs
}

// NoticeDeliveries are the deliveries of one notice in a batch.
type NoticeDeliveries struct {
	Seq  uint64
	Keys []string
	Last bool
}

// RequestRefs are the messages posted for one request in a batch.
type RequestRefs struct {
	RequestID  string
	Deliveries []Delivery
}

// GroupDeliveries groups ds for recording (see DeliveryBatch).
func GroupDeliveries(ds []Delivery) DeliveryBatch {
	notices := map[uint64]*NoticeDeliveries{}
	refs := map[string]*RequestRefs{}
	for _, d := range ds {
		n := notices[d.Seq]
		if n == nil {
			n = &NoticeDeliveries{Seq: d.Seq}
			notices[d.Seq] = n
		}
		if !slices.Contains(n.Keys, d.Key) {
			n.Keys = append(n.Keys, d.Key)
		}
		n.Last = n.Last || d.Last
		if d.Ref != (MessageRef{}) && d.RequestID != "" {
			r := refs[d.RequestID]
			if r == nil {
				r = &RequestRefs{RequestID: d.RequestID}
				refs[d.RequestID] = r
			}
			r.Deliveries = append(r.Deliveries, d)
		}
	}
	var b DeliveryBatch
	for _, n := range notices {
		b.Notices = append(b.Notices, *n)
	}
	for _, r := range refs {
		b.Refs = append(b.Refs, *r)
	}
	slices.SortFunc(b.Notices, func(x, y NoticeDeliveries) int { return cmp.Compare(x.Seq, y.Seq) })
	slices.SortFunc(b.Refs, func(x, y RequestRefs) int { return strings.Compare(x.RequestID, y.RequestID) })
	return b
}

// KeepRefs records on r the messages ds posted for it (an approval message
// of its round, or the message that opens its audit thread), and reports
// whether r changed. Recording a reference twice changes nothing.
func (r *Request) KeepRefs(ds []Delivery) bool {
	changed := false
	for _, d := range ds {
		switch {
		case d.AuditThread:
			if r.AuditThread != d.Ref {
				r.AuditThread, changed = d.Ref, true
			}
		case d.Round == 0:
			if !slices.Contains(r.Messages, d.Ref) {
				r.Messages, changed = append(r.Messages, d.Ref), true
			}
		case d.Round <= len(r.Extensions):
			e := &r.Extensions[d.Round-1]
			if !slices.Contains(e.Messages, d.Ref) {
				e.Messages, changed = append(e.Messages, d.Ref), true
			}
		}
	}
	return changed
}
