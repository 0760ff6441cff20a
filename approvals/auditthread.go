package approvals

import "context"

// recordAuditThread keeps on request r the audit channel message that opens
// its thread, so that events announced after a restart reply in the same
// thread. A thread already recorded in the same channel stays: the
// notifier serialises the posts of one request, so a different one there
// could only come from a snapshot older than the record. A thread in
// another channel (the audit channel was changed) replaces it. A failure
// is logged; the events are posted already.
func (s *Service) recordAuditThread(ctx context.Context, r *Request, thread MessageRef) {
	if thread == (MessageRef{}) || r == nil || r.AuditThread == thread {
		return
	}
	_, err := s.store.UpdateRequest(ctx, r.ID, func(r *Request) ([]Event, error) {
		if r.AuditThread.TS != "" && r.AuditThread.ChannelID == thread.ChannelID {
			return nil, errNoChange
		}
		r.AuditThread = thread
		return nil, nil
	})
	if err != nil {
		s.logUpdate("record audit thread", r.ID, err)
	}
}
