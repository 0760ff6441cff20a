package approvals

import "context"

// Awaiting returns the open requests actor may decide now, oldest first:
// pending requests, and active grants whose extension waits, of resources
// actor approves (directly or through a user group), leaving out actor's
// own unless the resource allows self-approval. It reads the open
// requests only, never the history, so it costs what is open. Approving
// one of them (Approve, Deny) applies the rules of a click on its
// approval message.
func (s *Service) Awaiting(ctx context.Context, actor string) ([]*Request, error) {
	open, err := s.store.OpenRequests(ctx, "")
	if err != nil {
		return nil, err
	}
	p := s.Policy()
	var lists [][]string
	for _, res := range p.Resources {
		lists = append(lists, res.Approvers)
	}
	ro := s.resolve(ctx, false, lists...)
	now := s.now()
	var out []*Request
	for _, r := range open {
		var err error
		switch {
		case r.Status == StatusPending:
			err = s.mayDecide(r, actor, ro)
		case r.Status == StatusActive && r.PendingExtension() != nil:
			_, _, err = s.mayDecideExtension(r, actor, now, ro)
		default:
			continue
		}
		if err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
