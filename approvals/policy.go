package approvals

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Policy says who may request what, who approves it and for how long. It is
// loaded from the policy file by package policy; this package only reads it.
type Policy struct {
	// Admins may revoke any grant and see every holder.
	Admins []string
	// Identities maps a Slack user ID to the account name at each provider
	// (keyed by provider name, or by a resource's Identity key).
	Identities map[string]map[string]string
	Resources  []Resource
	// Hash is the SHA-256 (hex) of the policy file's bytes; every audit event
	// carries the hash of the policy in force when it was written.
	Hash string
}

// Resource is one thing that can be requested.
type Resource struct {
	Name        string
	Description string
	// Provider names the plugin that grants it: github, postgres, exec.
	Provider string
	// System, when set, is what people call the system the access is to
	// ("Payroll"), shown in messages instead of the provider's name.
	System string
	// IdentityKey is the key looked up in Policy.Identities; default Provider.
	IdentityKey string
	// Settings is the provider block of the policy (for example
	// {"org":"acme","team":"payments-admins"}), opaque to this package. A
	// copy travels with every request so that a grant is revoked with the
	// settings it was made with, whatever the policy says later.
	Settings json.RawMessage
	// Approvers decide requests; Requesters, when set, are the only ones
	// who may request the resource (otherwise anyone with an identity
	// for it). Both hold member IDs and user group IDs (S…).
	Approvers         []string
	Requesters        []string
	ApprovalChannel   string
	ApprovalsRequired int
	MaxDuration       time.Duration
	MinDuration       time.Duration
	// PendingTimeout closes a request nobody decided within it (0: the
	// default, DefaultPendingTimeout); RemindAfter, when set, reminds the
	// approvers once a request has waited that long.
	PendingTimeout time.Duration
	RemindAfter    time.Duration
	// ReasonPattern, when set, is a regular expression (Go syntax) the
	// reason of a request must contain a match of ("INC-[0-9]+", or
	// anchored with ^…$ for the whole reason); ReasonHint says in words
	// what it wants, for the refusal.
	ReasonPattern     string
	ReasonHint        string
	AllowSelfApproval bool
	// Drift is "report" (default) or "revoke"; Standing lists identities
	// allowed to hold the access outside accessbot (break-glass accounts).
	Drift    string
	Standing []string
	// BreakGlass lets a requester grant themselves the resource at once,
	// for at most BreakGlassMax (default MaxDuration); AutoApprove and
	// StepUp are described with their types.
	BreakGlass    bool
	BreakGlassMax time.Duration
	AutoApprove   *AutoApprove
	StepUp        string
}

// Drift modes of a resource.
const (
	DriftReport = "report"
	DriftRevoke = "revoke"
)

// Resource returns the resource called name. Case is ignored, since
// people type names as they remember them; the policy refuses two
// resources whose names differ only in case, so at most one matches.
func (p *Policy) Resource(name string) (Resource, bool) {
	for _, r := range p.Resources {
		if r.Name == name {
			return r, true
		}
	}
	for _, r := range p.Resources {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Resource{}, false
}

// SystemName returns what messages call the system behind the resource:
// its System, or else its provider's name.
func (r Resource) SystemName() string {
	if r.System != "" {
		return r.System
	}
	return r.Provider
}

// IsAdmin reports whether the Slack user is named an admin. Admins named
// through a user group are found by the Service, which resolves groups.
func (p *Policy) IsAdmin(user string) bool { return slices.Contains(p.Admins, user) }

// IsApprover reports whether the Slack user is named an approver of the
// resource. Approvers named through a user group are found by the
// Service, which resolves groups.
func (r Resource) IsApprover(user string) bool { return slices.Contains(r.Approvers, user) }

// Required returns the number of distinct approvals the resource needs.
func (r Resource) Required() int {
	if r.ApprovalsRequired < 1 {
		return 1
	}
	return r.ApprovalsRequired
}

// IdentityFor returns the requester's account for the resource's provider.
func (p *Policy) IdentityFor(user string, r Resource) (string, bool) {
	key := r.IdentityKey
	if key == "" {
		key = r.Provider
	}
	id, ok := p.Identities[user][key]
	return id, ok && id != ""
}

// Requestable returns the resources the user may request as far as the
// policy alone tells: those for which the user has an identity at the
// provider and, where the resource names its requesters, is named among
// them. Membership of user groups is not known here, so a resource open
// only to a group is left out; Service.Requestable resolves groups.
func (p *Policy) Requestable(user string) []Resource {
	var out []Resource
	for _, r := range p.Resources {
		if _, ok := p.IdentityFor(user, r); ok && (len(r.Requesters) == 0 || slices.Contains(r.Requesters, user)) {
			out = append(out, r)
		}
	}
	return out
}
