package approvals

// Counted returns a copy of r as p counts its open approval rounds, for
// showing "N of M approvals": a pending request, and a pending extension,
// keep only the approvals that count under the resource as it is now
// (their approver is still an approver; the requester's own only while
// self-approval is allowed), and need at least the resource's
// approvals_required. That is what Approve decides with, so what people
// read agrees with what the next click does. Decided rounds are history
// and stay as recorded; so does everything when the resource has left the
// policy.
func (p *Policy) Counted(r *Request) *Request {
	c := r.Clone()
	if p == nil {
		return c
	}
	res, ok := p.Resource(r.Resource)
	if !ok {
		return c
	}
	if c.Status == StatusPending {
		c.Approvals = counting(c.Approvals, c.Requester, res)
		c.Required = max(c.Required, res.Required())
	}
	if e := c.PendingExtension(); e != nil && c.Status == StatusActive {
		e.Approvals = counting(e.Approvals, c.Requester, res)
		e.Required = max(e.Required, res.Required())
	}
	return c
}

// counting returns the approvals that count under res (see
// countingApprovals).
func counting(as []Approval, requester string, res Resource) []Approval {
	var out []Approval
	for _, a := range as {
		if res.IsApprover(a.Approver) && (a.Approver != requester || res.AllowSelfApproval) {
			out = append(out, a)
		}
	}
	return out
}
