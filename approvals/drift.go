package approvals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DriftFinding is an identity holding a resource with no active grant:
// standing access that least privilege says should not exist.
type DriftFinding struct {
	Resource string
	Identity string
	// Revoked is true when the resource is declared JIT-only (drift:
	// revoke) and the standing access was removed.
	Revoked bool
	// CoveredBy is set when, just before removing the access, an open
	// request was found to grant it (approved or granted while the holders
	// were being listed): the access was left alone.
	CoveredBy string
	// Error is set when removing it failed.
	Error string
}

// DetectDrift asks every provider that can list holders who holds each
// resource, and reports holders that have no open grant and are not on
// the resource's standing allow-list. For resources with drift: revoke the
// standing access is removed, unless an open request turns out to grant
// it when the open requests are read again just before the revoke. Every
// finding is appended to the audit log.
func (s *Service) DetectDrift(ctx context.Context) ([]DriftFinding, error) {
	p := s.Policy()
	granted, err := s.openGrants(ctx)
	if err != nil {
		return nil, err
	}
	var findings []DriftFinding
	var errs []error
	for _, res := range p.Resources {
		lister, ok := s.providers[res.Provider].(HolderLister)
		if !ok {
			continue
		}
		holders, err := lister.Holders(ctx, HoldersRequest{Resource: res.Name, Settings: res.Settings})
		if err != nil {
			errs = append(errs, fmt.Errorf("list holders of %s: %w", res.Name, err))
			continue
		}
		for _, identity := range holders {
			if _, ok := granted.covering(res, identity); ok || slices.ContainsFunc(res.Standing, func(s string) bool { return strings.EqualFold(s, identity) }) {
				continue
			}
			f := DriftFinding{Resource: res.Name, Identity: identity}
			if res.Drift == DriftRevoke {
				s.removeDrift(ctx, res, &f)
			}
			findings = append(findings, f)
			if err := s.store.AppendEvent(ctx, s.driftEvent(res, f)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return findings, errors.Join(errs...)
}

// removeDrift revokes f's standing access to res. The holders were listed
// after the open requests were read, and listing can be slow, so a request
// approved or granted in between would look like drift: the open requests
// are read again first, and access one of them grants is left alone. Should
// that read fail, nothing is removed.
func (s *Service) removeDrift(ctx context.Context, res Resource, f *DriftFinding) {
	now, err := s.openGrants(ctx)
	if err != nil {
		f.Error = fmt.Sprintf("could not read the open requests again, so it was left: %v", err)
		return
	}
	if id, ok := now.covering(res, f.Identity); ok {
		f.CoveredBy = id
		return
	}
	err = s.retry(ctx, func(ctx context.Context) error {
		return s.providers[res.Provider].Revoke(ctx, RevokeRequest{Resource: res.Name, Identity: f.Identity, Settings: res.Settings})
	})
	if err != nil {
		f.Error = err.Error()
	} else {
		f.Revoked = true
	}
}

// grantKey names the access a request gives: the provider, its settings in
// canonical form and the identity, lower-cased. It is built from the
// request's own snapshot, not from the policy, so a grant is still
// recognised after its resource is renamed.
type grantKey struct{ provider, settings, identity string }

// nameKey names a grant by provider, resource name and identity, so a grant
// is still recognised when its resource's settings are edited in ways that
// do not change who holds it (an exec timeout, a permission level).
type nameKey struct{ provider, resource, identity string }

// grantIndex holds the access that open requests give or are about to give,
// with the ID of a request giving each.
type grantIndex struct {
	bySettings map[grantKey]string
	byName     map[nameKey]string
}

// openGrants indexes the open requests whose access may be there now:
// approved (the grant is about to start), granting (the provider call is
// under way) and active.
func (s *Service) openGrants(ctx context.Context) (grantIndex, error) {
	open, err := s.store.OpenRequests(ctx, "")
	if err != nil {
		return grantIndex{}, err
	}
	g := grantIndex{bySettings: map[grantKey]string{}, byName: map[nameKey]string{}}
	for _, r := range open {
		switch r.Status {
		case StatusApproved, StatusGranting, StatusActive:
		default:
			continue
		}
		// Compared case-insensitively: GitHub logins are, and a missed
		// finding is better than revoking a granted holder.
		id := strings.ToLower(r.Identity)
		g.bySettings[grantKey{r.Provider, canonicalSettings(r.Settings), id}] = r.ID
		g.byName[nameKey{r.Provider, r.Resource, id}] = r.ID
	}
	return g, nil
}

// covering returns the ID of an open request that gives identity the
// access res describes: the same provider with equal settings, or the same
// provider and resource name.
func (g grantIndex) covering(res Resource, identity string) (string, bool) {
	id := strings.ToLower(identity)
	if r, ok := g.bySettings[grantKey{res.Provider, canonicalSettings(res.Settings), id}]; ok {
		return r, true
	}
	r, ok := g.byName[nameKey{res.Provider, res.Name, id}]
	return r, ok
}

// canonicalSettings renders provider settings so that equal settings
// compare equal whatever their spacing or key order: decoded (numbers kept
// as written) and encoded again, which sorts object keys. Absent settings
// and JSON null are the same. Settings that do not decode are compacted, or
// failing that kept as they are.
func canonicalSettings(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "null"
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil && !d.More() {
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err == nil {
		return b.String()
	}
	return string(raw)
}

func (s *Service) driftEvent(res Resource, f DriftFinding) Event {
	ev := Event{
		Time:       s.now(),
		Action:     ActionDrift,
		Actor:      SystemActor,
		Resource:   res.Name,
		Provider:   res.Provider,
		Identity:   f.Identity,
		Outcome:    "reported",
		Detail:     fmt.Sprintf("%s holds %s without an active grant", f.Identity, res.Name),
		PolicyHash: s.Policy().Hash,
	}
	switch {
	case f.Revoked:
		ev.Outcome = "revoked"
		ev.Detail += "; removed (drift: revoke)"
	case f.CoveredBy != "":
		ev.Detail += fmt.Sprintf("; not removed: request %s now grants it", f.CoveredBy)
	case f.Error != "":
		ev.Outcome = "failed"
		ev.Detail += "; removing it failed: " + f.Error
	}
	return ev
}
