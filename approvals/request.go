package approvals

import (
	"encoding/json"
	"time"
)

// Status is the stored state of a request. See the package doc for the
// transitions.
type Status string

// Request states.
const (
	StatusPending     Status = "pending"      // waiting for approvals
	StatusApproved    Status = "approved"     // enough approvals; grant not started
	StatusGranting    Status = "granting"     // provider grant call under way
	StatusActive      Status = "active"       // granted, until ExpiresAt
	StatusExpired     Status = "expired"      // revoked at expiry
	StatusRevoked     Status = "revoked"      // revoked early by a person
	StatusDenied      Status = "denied"       // an approver said no
	StatusCancelled   Status = "cancelled"    // withdrawn by the requester before a decision
	StatusAlreadyHeld Status = "already_held" // the user held the access outside accessbot
	StatusFailed      Status = "failed"       // the grant failed permanently
)

// Open reports whether the request still counts against "one open request
// per user and resource": pending, being granted, or active.
func (s Status) Open() bool {
	switch s {
	case StatusPending, StatusApproved, StatusGranting, StatusActive:
		return true
	}
	return false
}

// Final reports whether no further transition is possible.
func (s Status) Final() bool { return !s.Open() }

// Approval is one approver's yes.
type Approval struct {
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
}

// MessageRef points at a posted chat message so it can be updated later.
type MessageRef struct {
	ChannelID string `json:"channel_id"`
	TS        string `json:"ts"`
}

// Request is a request for access and, once granted, the grant itself.
type Request struct {
	ID        string `json:"id"`
	Requester string `json:"requester"` // Slack user ID
	Resource  string `json:"resource"`
	Provider  string `json:"provider"`
	// System is the resource's System when filed, for messages.
	System   string        `json:"system,omitempty"`
	Identity string        `json:"identity"` // account at the provider
	Duration time.Duration `json:"duration"`
	Reason   string        `json:"reason"`
	// Settings is the snapshot of the resource's provider settings.
	Settings json.RawMessage `json:"settings"`
	// Required is the number of distinct approvals needed, fixed at submit.
	Required int `json:"required"`

	Status    Status     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	Approvals []Approval `json:"approvals,omitempty"`
	// DecidedBy is the approver whose click decided (approved or denied).
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`

	// GrantStartedAt is when the grant went to the provider (the
	// "granting" record). The expiry counts from it, so a grant completed
	// after a crash does not get a fresh full duration.
	GrantStartedAt time.Time `json:"grant_started_at,omitzero"`
	GrantedAt      time.Time `json:"granted_at,omitzero"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
	// GrantNote is what the provider said on grant (for example "invitation
	// sent: access starts when accepted").
	GrantNote string `json:"grant_note,omitempty"`

	// GrantUncertain is set when the grant failed after the provider was
	// called and undoing it failed too: the access may be in place, so the
	// request is kept as a grant whose revoke is due until it succeeds.
	GrantUncertain bool `json:"grant_uncertain,omitempty"`

	// RevokeRequestedBy is set when a person ends the grant early; the
	// revoke is then due at once.
	RevokeRequestedBy string    `json:"revoke_requested_by,omitempty"`
	RevokeRequestedAt time.Time `json:"revoke_requested_at,omitzero"`
	// RevokeRetryAt, when set, is when a failed revoke is next tried.
	RevokeRetryAt  time.Time `json:"revoke_retry_at,omitzero"`
	RevokeFailures int       `json:"revoke_failures,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	// Explanation, when set, says why the request failed in words the
	// requester may read. It is empty when the cause is a provider's
	// error, whose detail (an API answer, a program's output) goes to the
	// audit channel and the log only.
	Explanation string `json:"explanation,omitempty"`

	// RemindedAt is when the approvers were reminded of the pending
	// request; ExpiryWarnedFor the expiry the holder was last warned of
	// (an extension moves the expiry, and the warning comes again).
	RemindedAt      time.Time `json:"reminded_at,omitzero"`
	ExpiryWarnedFor time.Time `json:"expiry_warned_for,omitzero"`

	EndedAt time.Time `json:"ended_at,omitzero"`
	EndedBy string    `json:"ended_by,omitempty"`

	// Asked are the approval channel or the approvers the approval message
	// was sent to; Unreachable those of them the chat refused for good.
	Asked       []string      `json:"asked,omitempty"`
	Unreachable []Unreachable `json:"unreachable,omitempty"`
	// Messages are the approval messages posted for this request.
	Messages []MessageRef `json:"messages,omitempty"`
	// AuditThread is the audit channel message that opens this request's
	// thread: later audit posts reply to it, and it is rewritten to show
	// the current state. Kept so that a restart continues the thread.
	AuditThread MessageRef `json:"audit_thread,omitzero"`
	// Extensions are the rounds of "/access extend" on this grant, oldest
	// first; only the last can be pending. ExpiresAt already includes every
	// approved one; Duration stays what was asked for at submit.
	Extensions []Extension `json:"extensions,omitempty"`

	// BreakGlass is set on a request granted at once by its requester
	// (see Service.BreakGlass); the approvers review it afterwards.
	BreakGlass bool `json:"break_glass,omitempty"`
	// ReviewedBy, ReviewedAt and ReviewConfirmed record that review: the
	// approver who confirmed or flagged the break-glass grant.
	ReviewedBy      string    `json:"reviewed_by,omitempty"`
	ReviewedAt      time.Time `json:"reviewed_at,omitzero"`
	ReviewConfirmed bool      `json:"review_confirmed,omitempty"`
	// AutoApprovedBy names the rule that approved the request without an
	// approver, such as "pagerduty:P123" (on call in that schedule).
	AutoApprovedBy string `json:"auto_approved_by,omitempty"`
}

// SystemName returns what messages call the system the access is to:
// the resource's System when it was filed, or else the provider's name.
func (r *Request) SystemName() string {
	if r.System != "" {
		return r.System
	}
	return r.Provider
}

// Approvers returns the Slack IDs of everyone who approved, in order.
func (r *Request) Approvers() []string {
	out := make([]string, 0, len(r.Approvals))
	for _, a := range r.Approvals {
		out = append(out, a.Approver)
	}
	return out
}

// HasApproved reports whether user already approved.
func (r *Request) HasApproved(user string) bool {
	for _, a := range r.Approvals {
		if a.Approver == user {
			return true
		}
	}
	return false
}

// RevokeDueAt returns when the provider revoke of this request is due, and
// false when none is (not granted, or already ended). The store indexes
// requests by this instant so an expiry sweep reads only what is due.
func (r *Request) RevokeDueAt() (time.Time, bool) {
	if r.Status != StatusActive {
		return time.Time{}, false
	}
	due := r.ExpiresAt
	if !r.RevokeRequestedAt.IsZero() && r.RevokeRequestedAt.Before(due) {
		due = r.RevokeRequestedAt
	}
	if !r.RevokeRetryAt.IsZero() {
		due = r.RevokeRetryAt
	}
	return due, true
}

// ActiveAt reports whether the grant was in force at t: granted at or
// before t and not ended by t.
func (r *Request) ActiveAt(t time.Time) bool {
	if r.GrantedAt.IsZero() || t.Before(r.GrantedAt) {
		return false
	}
	return r.EndedAt.IsZero() || t.Before(r.EndedAt)
}

// Clone returns a deep copy, so callers cannot alias stored slices.
func (r *Request) Clone() *Request {
	c := *r
	c.Settings = append(json.RawMessage(nil), r.Settings...)
	c.Approvals = append([]Approval(nil), r.Approvals...)
	c.Messages = append([]MessageRef(nil), r.Messages...)
	c.Asked = append([]string(nil), r.Asked...)
	c.Unreachable = append([]Unreachable(nil), r.Unreachable...)
	if r.Extensions != nil {
		c.Extensions = make([]Extension, len(r.Extensions))
		for i, e := range r.Extensions {
			c.Extensions[i] = e.clone()
		}
	}
	return &c
}
