package approvals

import (
	"context"
	"encoding/json"
	"time"
)

// Store keeps requests, the audit log and the outbox of chat notices.
// Every method that changes state appends its audit events and queues its
// notices in the same transaction, so the log, the state and what people
// are told never disagree.
type Store interface {
	// CreateRequest stores a new request, appends ev and queues notices
	// (each filled in with r). It returns ECONFLICT when the requester
	// already has an open request (pending, approved, granting or active)
	// for the same resource.
	CreateRequest(ctx context.Context, r *Request, ev Event, notices ...Notice) error
	// Transition re-reads request id inside a write transaction and calls
	// fn with it. If fn returns an error nothing is written and the error is
	// returned; otherwise the changed request, the events fn returns (none,
	// for a change that is not audited) and its notices (each filled in
	// with the request as committed) are committed together, and the
	// stored request is returned. fn may run more than once (concurrent
	// commits share one transaction, which is retried without a failing
	// fn), so it must only change r and its own results. ENOTFOUND when
	// there is no such request.
	Transition(ctx context.Context, id string, fn func(r *Request) (Change, error)) (*Request, error)
	// Request returns request id, or ENOTFOUND.
	Request(ctx context.Context, id string) (*Request, error)
	// OpenRequests returns open requests (see Status.Open), all of them when
	// requester is empty, oldest first.
	OpenRequests(ctx context.Context, requester string) ([]*Request, error)
	// NeedingResume returns the requests for which Request.NeedsResume is
	// true, read from an index so that a start with many grants in force
	// reads only these.
	NeedingResume(ctx context.Context) ([]*Request, error)
	// DueRevokes returns active requests whose RevokeDueAt is at or before
	// now, read from an index by time so the cost follows what is due.
	DueRevokes(ctx context.Context, now time.Time) ([]*Request, error)
	// NextRevokeDue returns the earliest RevokeDueAt of any request, and
	// false when no revoke is due at any time, read from the same index as
	// DueRevokes without reading a request.
	NextRevokeDue(ctx context.Context) (time.Time, bool, error)
	// AppendEvent appends an event that changes no request (a policy load,
	// a drift finding) and queues notices.
	AppendEvent(ctx context.Context, ev Event, notices ...Notice) error
	// Enqueue queues notices that go with no state change (a summary).
	Enqueue(ctx context.Context, notices ...Notice) error
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
