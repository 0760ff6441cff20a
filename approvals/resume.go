package approvals

// NeedsResume reports whether a crash may have interrupted r's next step,
// which Service.Resume takes up at start: an approved request not yet
// granted, a grant left "granting", a pending request whose approval
// messages were never queued, and an active grant whose pending extension
// was never asked for. The store keeps an index of such requests, so a
// start reads them and not every open request.
func (r *Request) NeedsResume() bool {
	switch r.Status {
	case StatusApproved, StatusGranting:
		return true
	case StatusPending:
		return len(r.Asked) == 0 && len(r.Messages) == 0
	case StatusActive:
		e := r.PendingExtension()
		return e != nil && len(e.Asked) == 0 && len(e.Messages) == 0
	}
	return false
}
