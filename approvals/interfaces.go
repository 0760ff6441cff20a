package approvals

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps requests and the audit log. Every method that changes state
// appends its audit events in the same transaction, so the log and the
// state never disagree.
type Store interface {
	// CreateRequest stores a new request and appends ev. It returns
	// ECONFLICT when the requester already has an open request (pending,
	// approved, granting or active) for the same resource.
	CreateRequest(ctx context.Context, r *Request, ev Event) error
	// UpdateRequest re-reads request id inside a write transaction and calls
	// fn with it. If fn returns an error nothing is written and the error is
	// returned; otherwise the changed request and the events fn returns
	// (none, for a change that is not audited, such as a message reference)
	// are committed together, and the stored request is returned. ENOTFOUND when
	// there is no such request.
	UpdateRequest(ctx context.Context, id string, fn func(r *Request) ([]Event, error)) (*Request, error)
	// Request returns request id, or ENOTFOUND.
	Request(ctx context.Context, id string) (*Request, error)
	// OpenRequests returns open requests (see Status.Open), all of them when
	// requester is empty, oldest first.
	OpenRequests(ctx context.Context, requester string) ([]*Request, error)
	// DueRevokes returns active requests whose RevokeDueAt is at or before
	// now, read from an index by time so the cost follows what is due.
	DueRevokes(ctx context.Context, now time.Time) ([]*Request, error)
	// AppendEvent appends an event that changes no request (a policy load,
	// a drift finding).
	AppendEvent(ctx context.Context, ev Event) error
}

// Provider grants and revokes access in one system. Providers classify
// failures: a retryable failure is wrapped with Transient, anything else is
// permanent. Every call must stop when ctx is cancelled.
type Provider interface {
	// Grant gives req.Identity the access described by req.Settings. Granting
	// access already there succeeds (grants are retried after timeouts).
	Grant(ctx context.Context, req GrantRequest) (GrantResult, error)
	// Revoke removes the access. Revoking access that is already gone
	// succeeds (a 404, an absent membership): revokes are retried until
	// they succeed.
	Revoke(ctx context.Context, req RevokeRequest) error
	// Holds reports whether the identity has the access right now.
	Holds(ctx context.Context, req HoldsRequest) (bool, error)
}

// HolderLister is implemented by providers that can list everyone who holds
// a resource (team members, role members), for drift detection.
type HolderLister interface {
	Holders(ctx context.Context, req HoldersRequest) ([]string, error)
}

// GrantRequest asks a provider to grant access. Fields may be added; a
// provider ignores what it does not use.
type GrantRequest struct {
	RequestID string
	Resource  string
	Identity  string
	Requester string
	Approvers []string
	Reason    string
	Duration  time.Duration
	// ExpiresAt lets a system that can enforce expiry natively do so as
	// defence in depth; the active revoke is what ends access.
	ExpiresAt time.Time
	Settings  json.RawMessage
}

// GrantResult is what a provider says about a successful grant.
type GrantResult struct {
	// Message is shown to the requester and kept in the log (for example
	// "invitation sent; access starts once accepted").
	Message string
}

// RevokeRequest asks a provider to remove access. The fields after
// Identity describe the request the grant came from; they are empty when
// no request is involved (a drift revoke of standing access).
type RevokeRequest struct {
	RequestID string
	Resource  string
	Identity  string
	Requester string
	Approvers []string
	Reason    string
	Duration  time.Duration
	ExpiresAt time.Time
	Settings  json.RawMessage
}

// HoldsRequest asks whether an identity holds access. The fields after
// Identity describe the request being checked for; they are empty when no
// request is involved.
type HoldsRequest struct {
	Resource  string
	Identity  string
	RequestID string
	Requester string
	Approvers []string
	Reason    string
	Duration  time.Duration
	Settings  json.RawMessage
}

// HoldersRequest asks for every identity that holds access.
type HoldersRequest struct {
	Resource string
	Settings json.RawMessage
}

// Notifier is the chat side: it renders and posts what happened. Failures
// are logged by the caller and never undo a committed state change.
type Notifier interface {
	// PostApprovalRequest posts the approval message with Approve and Deny
	// buttons to the resource's approval channel, or to each approver by
	// DM, and returns the posted messages.
	PostApprovalRequest(ctx context.Context, r *Request, res Resource) ([]MessageRef, error)
	// UpdateApprovalMessages rewrites every approval message of r to show
	// its current state (buttons gone once decided).
	UpdateApprovalMessages(ctx context.Context, r *Request) error
	// NotifyRequester tells the requester, by DM, what ev means for them.
	NotifyRequester(ctx context.Context, r *Request, ev Event) error
	// PostAudit posts ev to the audit channel, if one is configured. The
	// posts about one request form a thread; PostAudit returns the message
	// that opens it (r.AuditThread, or the one just posted), for the
	// caller to record on the request, and a zero MessageRef when ev is
	// about no request or nothing was posted.
	PostAudit(ctx context.Context, r *Request, ev Event) (MessageRef, error)
}
