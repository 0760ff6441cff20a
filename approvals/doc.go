// Package approvals is the domain of accessbot: requests, approvals, grants,
// the policy that governs them, and the audit events that record them.
//
// It imports only the standard library. It declares the small interfaces it
// consumes (Store, Provider, Notifier) and adapters in other packages
// implement them: store (bbolt), providers/* (GitHub, PostgreSQL, exec) and
// bot (Slack). The dependency arrow always points into this package.
//
// One ID names a request for its whole life and the grant that follows from
// it. A request moves through these stored states:
//
//	pending ──approve×N──▶ approved ──▶ granting ──▶ active ──▶ expired | revoked
//	   │                      │            │                 (revoke retried until it succeeds)
//	   ├──deny──▶ denied      ├─held──▶ already_held
//	   ├──cancel─▶ cancelled  └─────────────┴──error──▶ failed
//	   ├──no decision within pending_timeout (Service.Nudge)──▶ timed_out
//	   └─held (checked before approvers are asked)──▶ already_held
//
// An active grant may be extended (Service.Extend): a new approval round
// under the same ID, kept in Request.Extensions, that moves ExpiresAt when
// approved and is closed, never applied, when the grant ends first:
//
//	extension pending ──approve×N──▶ approved (ExpiresAt moved)
//	         ├──deny──▶ denied (grant unchanged)
//	         └──grant expired, revoked or being revoked──▶ closed
//
// Two ways reach "approved" without an approver's click, and both then
// follow the usual grant path: Service.BreakGlass files a request already
// approved by its requester (approvers review it afterwards, and a flag
// revokes it), and a resource's auto_approve rule approves a pending
// request whose requester is on call. A resource's step_up makes each
// approver's click count only once the step-up method confirms it.
//
// "granting" is written before the provider is called, so a crash between
// the provider call and the record of its result is completed on restart
// (grants are idempotent) rather than mistaken for access held outside
// accessbot.
package approvals
