package approvals

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Directory resolves Slack user groups (IDs S…), which a policy may name
// among admins, approvers and requesters. The chat side implements it,
// with a cache, so that this package stays free of Slack.
type Directory interface {
	// Members returns the member IDs of user group group. With fresh the
	// answer comes from Slack now, not from a cache: a click is judged by
	// the group as it is at that moment, so someone just removed from it
	// no longer counts.
	Members(ctx context.Context, group string, fresh bool) ([]string, error)
}

// IsGroup reports whether a policy entry names a user group rather than
// a member.
func IsGroup(id string) bool { return strings.HasPrefix(id, "S") }

// roster is what is known of the user groups a check needs, resolved
// before the store transaction the check runs in: nothing waits for Slack
// inside a transaction. A group that could not be resolved counts as
// having no members, so every check fails closed.
type roster struct {
	members map[string][]string // group -> members
	failed  map[string]error    // groups that could not be resolved
}

// resolve reads the members of every user group named in lists. It asks
// nothing when the lists name no group.
func (s *Service) resolve(ctx context.Context, fresh bool, lists ...[]string) roster {
	var ro roster
	for _, list := range lists {
		for _, id := range list {
			if !IsGroup(id) || ro.members[id] != nil || ro.failed[id] != nil {
				continue
			}
			var members []string
			err := fmt.Errorf("no user group directory is configured")
			if s.directory != nil {
				members, err = s.directory.Members(ctx, id, fresh)
			}
			if err != nil {
				s.log.Warn("could not resolve a user group; its members do not count", "group", id, "err", err)
				if ro.failed == nil {
					ro.failed = map[string]error{}
				}
				ro.failed[id] = err
				continue
			}
			if ro.members == nil {
				ro.members = map[string][]string{}
			}
			ro.members[id] = append([]string{}, members...)
		}
	}
	return ro
}

// in reports whether user is in list: named, or a member of a group it
// names.
func (ro roster) in(list []string, user string) bool {
	for _, id := range list {
		if id == user || (IsGroup(id) && slices.Contains(ro.members[id], user)) {
			return true
		}
	}
	return false
}

// expand returns the members list stands for: its members and the
// members of its groups, each once, in order.
func (ro roster) expand(list []string) []string {
	var out []string
	add := func(u string) {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	for _, id := range list {
		if !IsGroup(id) {
			add(id)
			continue
		}
		for _, m := range ro.members[id] {
			add(m)
		}
	}
	return out
}

// unresolved returns the groups of list that could not be resolved.
func (ro roster) unresolved(list []string) []string {
	var out []string
	for _, id := range list {
		if ro.failed[id] != nil {
			out = append(out, id)
		}
	}
	return out
}

// notIn is the error for user not found in list (the approvers, the
// requesters) of what: when a group of list could not be resolved, it
// says so, since the user may well be in it.
func (ro roster) notIn(list []string, what, refusal string) error {
	if groups := ro.unresolved(list); len(groups) > 0 {
		return Errorf(EFORBIDDEN, "accessbot could not read the members of %s from Slack just now, so it cannot tell whether you are among the %s; nothing was changed, try again in a minute (an admin can see why in the log)", mentions(groups), what)
	}
	return Errorf(EFORBIDDEN, "%s", refusal)
}

// mayRequest reports whether user may request res: anyone with an
// identity when the resource names no requesters.
func (ro roster) mayRequest(res Resource, user string) bool {
	return len(res.Requesters) == 0 || ro.in(res.Requesters, user)
}

// Requestable returns the resources actor may request: those they have
// an identity for and, where a resource names its requesters, are among
// them, directly or through a user group.
func (s *Service) Requestable(ctx context.Context, actor string) []Resource {
	p := s.Policy()
	var lists [][]string
	for _, r := range p.Resources {
		if len(r.Requesters) > 0 && !slices.Contains(r.Requesters, actor) {
			lists = append(lists, r.Requesters)
		}
	}
	ro := s.resolve(ctx, false, lists...)
	var out []Resource
	for _, r := range p.Resources {
		if _, ok := p.IdentityFor(actor, r); ok && ro.mayRequest(r, actor) {
			out = append(out, r)
		}
	}
	return out
}

// approversOf resolves the user groups among the approvers of request
// id's resource, before a transaction on it. fresh is for clicks. A
// request or resource that cannot be found yields an empty roster: the
// transaction then finds what is wrong itself.
func (s *Service) approversOf(ctx context.Context, id string, fresh bool) roster {
	r, err := s.store.Request(ctx, id)
	if err != nil {
		return roster{}
	}
	res, ok := s.Policy().Resource(r.Resource)
	if !ok {
		return roster{}
	}
	return s.resolve(ctx, fresh, res.Approvers)
}
