package approvals

import (
	"context"
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
	// Error is set when removing it failed.
	Error string
}

// DetectDrift asks every provider that can list holders who holds each
// resource, and reports holders that have no active grant and are not on
// the resource's standing allow-list. For resources with drift: revoke the
// standing access is removed. Every finding is appended to the audit log.
func (s *Service) DetectDrift(ctx context.Context) ([]DriftFinding, error) {
	p := s.Policy()
	open, err := s.store.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	granted := map[string]map[string]bool{} // resource -> identity -> held through accessbot
	for _, r := range open {
		// A grant under way counts too: its access may already be there.
		if r.Status == StatusActive || r.Status == StatusGranting {
			if granted[r.Resource] == nil {
				granted[r.Resource] = map[string]bool{}
			}
			granted[r.Resource][strings.ToLower(r.Identity)] = true
		}
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
			// Compared case-insensitively: GitHub logins are, and a
			// missed finding is better than revoking a granted holder.
			if granted[res.Name][strings.ToLower(identity)] || slices.ContainsFunc(res.Standing, func(s string) bool { return strings.EqualFold(s, identity) }) {
				continue
			}
			f := DriftFinding{Resource: res.Name, Identity: identity}
			if res.Drift == DriftRevoke {
				err := s.retry(ctx, func(ctx context.Context) error {
					return s.providers[res.Provider].Revoke(ctx, RevokeRequest{Resource: res.Name, Identity: identity, Settings: res.Settings})
				})
				if err != nil {
					f.Error = err.Error()
				} else {
					f.Revoked = true
				}
			}
			findings = append(findings, f)
			if err := s.store.AppendEvent(ctx, s.driftEvent(res, f)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return findings, errors.Join(errs...)
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
	case f.Error != "":
		ev.Outcome = "failed"
		ev.Detail += "; removing it failed: " + f.Error
	}
	return ev
}
