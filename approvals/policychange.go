package approvals

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SetPolicy puts a newly loaded policy in force and appends a
// policy_loaded event naming what changed (resources added and removed,
// approvers, limits, provider settings, admins), so policy changes are part
// of the record. A policy with the same hash changes nothing. Grants
// already made keep the provider settings they were made with.
func (s *Service) SetPolicy(ctx context.Context, p *Policy) error {
	old := s.Policy()
	if old != nil && old.Hash == p.Hash {
		return nil
	}
	ev := Event{
		Time:       s.now(),
		Action:     ActionPolicyLoaded,
		Actor:      SystemActor,
		Outcome:    "loaded",
		Detail:     DiffPolicies(old, p),
		PolicyHash: p.Hash,
	}
	if err := s.store.AppendEvent(ctx, ev, tell(ev, false)); err != nil {
		return fmt.Errorf("record policy change: %w", err)
	}
	s.policy.Store(p)
	s.log.Info("policy loaded", "policy_hash", p.Hash, "changes", ev.Detail)
	return nil
}

// RecordPolicyAtStart appends a policy_loaded event when the policy in
// force differs from the one the last audit event was written under (the
// file changed while the bot was down), so no change goes unrecorded.
func (s *Service) RecordPolicyAtStart(ctx context.Context, lastPolicyHash string) error {
	p := s.Policy()
	if lastPolicyHash == p.Hash {
		return nil
	}
	detail := "first policy loaded"
	if lastPolicyHash != "" {
		detail = fmt.Sprintf("policy changed while accessbot was stopped (was %.12s); %d resources now: %s",
			lastPolicyHash, len(p.Resources), strings.Join(resourceNames(p), ", "))
	}
	ev := Event{
		Time: s.now(), Action: ActionPolicyLoaded, Actor: SystemActor, Outcome: "loaded",
		Detail: detail, PolicyHash: p.Hash,
	}
	return s.store.AppendEvent(ctx, ev, tell(ev, false))
}

func resourceNames(p *Policy) []string {
	var names []string
	for _, r := range p.Resources {
		names = append(names, r.Name)
	}
	return names
}

// DiffPolicies describes, in one line per change, how b differs from a.
// The result goes into the audit log, which can never be edited, and to
// the audit channel, so provider settings are described by the names of
// what changed and never by their values: an exec resource's env may hold
// a token.
func DiffPolicies(a, b *Policy) string {
	if a == nil {
		return fmt.Sprintf("first policy loaded: %d resources: %s", len(b.Resources), strings.Join(resourceNames(b), ", "))
	}
	var out []string
	if !slices.Equal(a.Admins, b.Admins) {
		out = append(out, fmt.Sprintf("admins changed: %v -> %v", a.Admins, b.Admins))
	}
	if !maps.EqualFunc(a.Identities, b.Identities, maps.Equal) {
		out = append(out, "identities changed")
	}
	for _, r := range b.Resources {
		old, ok := a.Resource(r.Name)
		if !ok {
			out = append(out, "resource added: "+r.Name)
			continue
		}
		if !slices.Equal(old.Approvers, r.Approvers) {
			out = append(out, fmt.Sprintf("%s approvers: %v -> %v", r.Name, old.Approvers, r.Approvers))
		}
		if !slices.Equal(old.Requesters, r.Requesters) {
			out = append(out, fmt.Sprintf("%s requesters: %v -> %v", r.Name, old.Requesters, r.Requesters))
		}
		if old.Name != r.Name {
			out = append(out, fmt.Sprintf("resource renamed: %s -> %s", old.Name, r.Name))
		}
		if old.ReasonPattern != r.ReasonPattern {
			out = append(out, fmt.Sprintf("%s reason_pattern: %q -> %q", r.Name, old.ReasonPattern, r.ReasonPattern))
		}
		if old.PendingTimeout != r.PendingTimeout || old.RemindAfter != r.RemindAfter {
			out = append(out, fmt.Sprintf("%s pending_timeout, remind_after: %s, %s -> %s, %s", r.Name,
				FormatDuration(old.PendingTimeout), FormatDuration(old.RemindAfter), FormatDuration(r.PendingTimeout), FormatDuration(r.RemindAfter)))
		}
		if old.System != r.System {
			out = append(out, fmt.Sprintf("%s system: %q -> %q", r.Name, old.System, r.System))
		}
		if old.Required() != r.Required() {
			out = append(out, fmt.Sprintf("%s approvals_required: %d -> %d", r.Name, old.Required(), r.Required()))
		}
		if old.MaxDuration != r.MaxDuration || old.MinDuration != r.MinDuration {
			out = append(out, fmt.Sprintf("%s duration limits: %s..%s -> %s..%s", r.Name,
				FormatDuration(old.MinDuration), FormatDuration(old.MaxDuration), FormatDuration(r.MinDuration), FormatDuration(r.MaxDuration)))
		}
		if old.AllowSelfApproval != r.AllowSelfApproval {
			out = append(out, fmt.Sprintf("%s allow_self_approval: %v -> %v", r.Name, old.AllowSelfApproval, r.AllowSelfApproval))
		}
		if old.Provider != r.Provider {
			out = append(out, fmt.Sprintf("%s provider: %s -> %s", r.Name, old.Provider, r.Provider))
		}
		if canonicalSettings(old.Settings) != canonicalSettings(r.Settings) {
			out = append(out, fmt.Sprintf("%s provider settings changed (values not shown): %s", r.Name, settingsChanges(old.Settings, r.Settings)))
		}
		if old.Drift != r.Drift || !slices.Equal(old.Standing, r.Standing) {
			out = append(out, fmt.Sprintf("%s drift: %s %v -> %s %v", r.Name, old.Drift, old.Standing, r.Drift, r.Standing))
		}
		out = append(out, pathChanges(old, r)...)
	}
	for _, r := range a.Resources {
		if _, ok := b.Resource(r.Name); !ok {
			out = append(out, "resource removed: "+r.Name)
		}
	}
	if len(out) == 0 {
		return "policy file changed; no change to admins or resources"
	}
	return strings.Join(out, "; ")
}

// settingsChanges names what differs between two provider settings
// objects: the top-level keys added, removed or changed and, for a key
// holding an object (an exec resource's env), the names inside it that
// were added, removed or changed. It never shows a value.
func settingsChanges(a, b json.RawMessage) string {
	am, aok := settingsObject(a)
	bm, bok := settingsObject(b)
	if !aok || !bok {
		return "replaced"
	}
	var parts []string
	for _, k := range unionKeys(am, bm) {
		av, inA := am[k]
		bv, inB := bm[k]
		if inA && inB && canonicalSettings(av) == canonicalSettings(bv) {
			continue
		}
		part := k
		switch {
		case !inA:
			part += " added"
		case !inB:
			part += " removed"
		}
		if sub := nestedChanges(av, bv); sub != "" {
			part += " (" + sub + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "replaced"
	}
	return strings.Join(parts, ", ")
}

// nestedChanges names the keys added, removed and changed between two
// JSON objects, either of which may be absent; "" when either is something
// other than an object.
func nestedChanges(a, b json.RawMessage) string {
	am, aok := settingsObject(a)
	bm, bok := settingsObject(b)
	if !aok || !bok {
		return ""
	}
	var added, removed, changed []string
	for _, k := range unionKeys(am, bm) {
		av, inA := am[k]
		bv, inB := bm[k]
		switch {
		case !inA:
			added = append(added, k)
		case !inB:
			removed = append(removed, k)
		case canonicalSettings(av) != canonicalSettings(bv):
			changed = append(changed, k)
		}
	}
	var out []string
	for _, l := range []struct {
		what  string
		names []string
	}{{"added", added}, {"removed", removed}, {"changed", changed}} {
		if len(l.names) > 0 {
			out = append(out, l.what+" "+strings.Join(l.names, " "))
		}
	}
	return strings.Join(out, "; ")
}

// settingsObject decodes raw as a JSON object; absent settings and null
// are an empty object. It returns false for anything else.
func settingsObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]json.RawMessage{}, true
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

func unionKeys(a, b map[string]json.RawMessage) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
