package approvals

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// HolderIndex answers "who holds RESOURCE at T" from an index, so the
// cost follows the grants of that resource. The store implements it; a
// Store that does not is read through its open requests instead.
type HolderIndex interface {
	// HoldersAt returns the requests whose grant of resource was in force
	// at instant at (Request.ActiveAt), in the order they were granted.
	HoldersAt(ctx context.Context, resource string, at time.Time) ([]*Request, error)
}

// Who returns the current holders of resource, in the order they were
// granted, for actor: an approver of the resource or an admin. A grant
// past its expiry whose revoke has not yet succeeded is still held and is
// listed. An admin may ask about a resource no longer in the policy while
// someone still holds it. Errors: EINVALID (unknown resource), EFORBIDDEN.
func (s *Service) Who(ctx context.Context, actor, resource string) ([]*Request, error) {
	return s.WhoAt(ctx, actor, resource, time.Time{})
}

// WhoAt is Who at instant at (now when zero), read from the store's
// holders-at index: everyone whose grant of resource was in force then,
// including grants that have ended since. The same people may ask.
// Errors: EINVALID (unknown resource, a time in the future), EFORBIDDEN.
func (s *Service) WhoAt(ctx context.Context, actor, resource string, at time.Time) ([]*Request, error) {
	now := s.now()
	switch {
	case at.IsZero():
		at = now
	case at.After(now):
		return nil, Errorf(EINVALID, "%s is in the future; ask about now or the past", utc(at))
	}
	p := s.Policy()
	res, known := p.Resource(resource)
	var approvers []string
	if known {
		approvers = res.Approvers
	}
	ro := s.resolve(ctx, true, p.Admins, approvers)
	admin := ro.in(p.Admins, actor)
	var visible []Resource // what actor may ask about, for "did you mean"
	if !known {
		for _, r := range p.Resources {
			if admin || slices.Contains(r.Approvers, actor) {
				visible = append(visible, r)
			}
		}
	}
	unknown := unknownResource(resource, visible)
	switch {
	case !known && !admin:
		return nil, unknown
	case known && !admin && !ro.in(res.Approvers, actor):
		if both := slices.Concat(p.Admins, res.Approvers); len(ro.unresolved(both)) > 0 {
			return nil, ro.notIn(both, "approvers of "+res.Name+" or admins", "")
		}
		return nil, Errorf(EFORBIDDEN, "only the approvers of %s (%s) and admins can see who holds it", res.Name, mentions(res.Approvers))
	}
	if known {
		resource = res.Name // as stored on its requests, whatever the case typed
	}
	holders, err := s.holdersAt(ctx, resource, at)
	if err != nil {
		return nil, fmt.Errorf("read holders of %s: %w", resource, err)
	}
	if !known && len(holders) == 0 {
		return nil, unknown
	}
	return holders, nil
}

// holdersAt reads the holders of resource at through the store's index
// when it has one.
func (s *Service) holdersAt(ctx context.Context, resource string, at time.Time) ([]*Request, error) {
	if idx, ok := s.store.(HolderIndex); ok {
		return idx.HoldersAt(ctx, resource, at)
	}
	open, err := s.store.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, r := range open {
		if r.Resource == resource && r.ActiveAt(at) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Now returns the Service's clock reading, so that the chat side counts
// "2 hours ago" from the same clock the records are written with.
func (s *Service) Now() time.Time { return s.now() }
