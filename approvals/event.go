package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Audit actions. Each state change appends one event with one of these.
const (
	ActionRequested    = "requested"
	ActionApproval     = "approval" // one approver's yes, before the threshold
	ActionApproved     = "approved"
	ActionDenied       = "denied"
	ActionCancelled    = "cancelled"
	ActionAlreadyHeld  = "already_held"
	ActionGranting     = "granting"
	ActionGranted      = "granted"
	ActionGrantFailed  = "grant_failed"
	ActionRevokeAsked  = "revoke_requested"
	ActionRevoked      = "revoked"
	ActionExpired      = "expired"
	ActionRevokeFailed = "revoke_failed"
	ActionPolicyLoaded = "policy_loaded"
	ActionDrift        = "drift"
)

// Event is one record of the append-only audit log. The store assigns Seq,
// PrevHash and Hash when it appends the event in the same transaction as the
// state change it records.
type Event struct {
	Seq       uint64        `json:"seq"`
	Time      time.Time     `json:"time"`
	Action    string        `json:"action"`
	Actor     string        `json:"actor"` // Slack user ID, or "accessbot" for the system
	RequestID string        `json:"request_id,omitempty"`
	Resource  string        `json:"resource,omitempty"`
	Provider  string        `json:"provider,omitempty"`
	Requester string        `json:"requester,omitempty"`
	Identity  string        `json:"identity,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	ExpiresAt time.Time     `json:"expires_at,omitzero"`
	Reason    string        `json:"reason,omitempty"`
	Approvers []string      `json:"approvers,omitempty"`
	// Outcome is the resulting request status, or a short result word.
	Outcome string `json:"outcome,omitempty"`
	// Detail is free text: an error, a provider message, a policy diff.
	Detail     string `json:"detail,omitempty"`
	PolicyHash string `json:"policy_hash,omitempty"`
	PrevHash   string `json:"prev_hash"`
	Hash       string `json:"hash"`
}

// SystemActor is the actor of events no person caused (expiry, restart).
const SystemActor = "accessbot"

// OperatorActor is the actor of the operator CLI (`accessbot grants
// revoke`), run by someone with access to the server and its database. It
// can never collide with a Slack user ID, which is upper-case.
const OperatorActor = "operator"

// OperatorAs returns the actor of an operator command run by a known
// operating system user, such as "operator:alice (uid 1000)", so that the
// audit log names who ran it. who is empty when the user is not known.
func OperatorAs(who string) string {
	if who == "" {
		return OperatorActor
	}
	return OperatorActor + ":" + who
}

// IsOperator reports whether actor is the operator CLI, named or not.
func IsOperator(actor string) bool {
	return actor == OperatorActor || strings.HasPrefix(actor, OperatorActor+":")
}

// ChainHash returns the hash event e must carry given the hash of the event
// before it: SHA-256 over the previous hash and the canonical JSON of e with
// its own Hash field empty. Every field, Seq included, is covered, so a
// changed, removed, inserted or reordered record breaks the chain.
func (e Event) ChainHash(prev string) string {
	e.PrevHash = prev
	e.Hash = ""
	e.Time = e.Time.UTC()
	e.ExpiresAt = e.ExpiresAt.UTC()
	body, err := json.Marshal(e)
	if err != nil {
		// Event holds only plain values; Marshal cannot fail.
		panic("approvals: marshal event: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// eventFor returns an event about r with the request's fields filled in.
func eventFor(r *Request, action, actor string, now time.Time) Event {
	return Event{
		Time:      now,
		Action:    action,
		Actor:     actor,
		RequestID: r.ID,
		Resource:  r.Resource,
		Provider:  r.Provider,
		Requester: r.Requester,
		Identity:  r.Identity,
		Duration:  r.Duration,
		ExpiresAt: r.ExpiresAt,
		Reason:    r.Reason,
		Approvers: r.Approvers(),
		Outcome:   string(r.Status),
	}
}
