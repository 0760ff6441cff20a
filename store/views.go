package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// indexedRequest reads from a stored request what its index entries
// depend on, without decoding the rest: the request it returns has those
// fields only (and Asked or Messages holding one empty element when the
// record has some), which is enough for Status.Open, RevokeDueAt and
// NeedsResume. Extensions are decoded only when the record has some.
func indexedRequest(id, v []byte) (*approvals.Request, error) {
	r := &approvals.Request{}
	if err := readIndexed(r, string(id), v, jsonString); err != nil {
		return nil, err
	}
	return r, nil
}

// readIndexed is indexedRequest into r, which it resets first; name reads
// the resource, provider and status strings, which repeat from record to
// record.
func readIndexed(r *approvals.Request, id string, v []byte, name func(raw []byte) (string, error)) error {
	*r = approvals.Request{ID: id}
	var err error
	set := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	str := func(raw []byte) string { s, e := name(raw); set(e); return s }
	requester := func(raw []byte) string { s, e := jsonString(raw); set(e); return s }
	tm := func(raw []byte) time.Time { t, e := jsonTime(raw); set(e); return t }
	perr := eachMember(v, func(name, raw []byte) {
		switch string(name) {
		case "requester":
			r.Requester = requester(raw)
		case "resource":
			r.Resource = str(raw)
		case "provider":
			r.Provider = str(raw)
		case "status":
			r.Status = approvals.Status(str(raw))
		case "granted_at":
			r.GrantedAt = tm(raw)
		case "expires_at":
			r.ExpiresAt = tm(raw)
		case "revoke_requested_at":
			r.RevokeRequestedAt = tm(raw)
		case "revoke_retry_at":
			r.RevokeRetryAt = tm(raw)
		case "ended_at":
			r.EndedAt = tm(raw)
		case "asked":
			if nonEmpty(raw) {
				r.Asked = someAsked
			}
		case "messages":
			if nonEmpty(raw) {
				r.Messages = someMessages
			}
		case "extensions":
			if nonEmpty(raw) {
				set(json.Unmarshal(raw, &r.Extensions))
			}
		}
	})
	if perr != nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("decode request %s: %w", id, err)
	}
	return nil
}

// someAsked and someMessages stand, in a request readIndexed reads, for a
// record's non-empty Asked and Messages: only their length is read. Their
// capacity is their length, so an append copies them.
var (
	someAsked    = []string{""}
	someMessages = []approvals.MessageRef{{}}
)

// names keeps one copy of each string it is asked for: the check of
// every open request reads the same few resource, provider and status
// names, and its requesters, over and over.
type names map[string]string

// read is jsonString, returning the copy kept.
func (n names) read(raw []byte) (string, error) {
	if s, ok := n[string(raw)]; ok {
		return s, nil
	}
	s, err := jsonString(raw)
	if err == nil && len(n) < maxNames {
		n[string(raw)] = s
	}
	return s, err
}

// raw returns b as a string, the copy kept.
func (n names) raw(b []byte) string {
	if s, ok := n[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(n) < maxNames {
		n[s] = s
	}
	return s
}

// maxNames bounds a names.
const maxNames = 4096

// eventView is what the state checks read of an audit event.
type eventView struct {
	requestID string
	ev        approvals.Event // Action, Outcome, ExpiresAt and Detail only
}

// viewEvent reads the fields of an audit record's body that tell a
// request's state.
func viewEvent(body []byte) (eventView, error) {
	var out eventView
	var err error
	set := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	perr := eachMember(body, func(name, raw []byte) {
		switch string(name) {
		case "request_id":
			s, e := jsonString(raw)
			set(e)
			out.requestID = s
		case "action":
			s, e := jsonString(raw)
			set(e)
			out.ev.Action = s
		case "outcome":
			s, e := jsonString(raw)
			set(e)
			out.ev.Outcome = s
		case "expires_at":
			t, e := jsonTime(raw)
			set(e)
			out.ev.ExpiresAt = t
		case "detail":
			s, e := jsonString(raw)
			set(e)
			out.ev.Detail = s
		}
	})
	if perr != nil {
		err = perr
	}
	return out, err
}

// logState is a request's state as its audit events tell it: the status
// after its last event, the expiry that event carries, and its number.
// Every event about a request is made from the request as changed
// (approvals.Service.event), so its ExpiresAt is the expiry after it.
type logState struct {
	seq    uint64
	expiry uint64 // Unix nanoseconds, 0 for none
	status approvals.Status
}

// next returns the state after event seq, which ev describes.
func (s logState) next(seq uint64, ev approvals.Event) logState {
	return logState{seq: seq, expiry: nanos(ev.ExpiresAt), status: approvals.StatusAfter(ev, s.status)}
}

// encodeLogState is the request_log value of s: <8B BE seq><8B BE expiry>
// <status>.
func encodeLogState(s logState) []byte {
	v := make([]byte, 16, 16+len(s.status))
	binary.BigEndian.PutUint64(v, s.seq)
	binary.BigEndian.PutUint64(v[8:], s.expiry)
	return append(v, s.status...)
}

func decodeLogState(v []byte) (logState, bool) {
	return decodeLogStateWith(v, func(b []byte) string { return string(b) })
}

// decodeLogStateWith is decodeLogState with status making the status's
// string from its bytes.
func decodeLogStateWith(v []byte, status func([]byte) string) (logState, bool) {
	if len(v) < 16 {
		return logState{}, false
	}
	return logState{seq: binary.BigEndian.Uint64(v), expiry: binary.BigEndian.Uint64(v[8:]), status: approvals.Status(status(v[16:]))}, true
}

// expiryText prints an expiry in nanoseconds for a disagreement.
func expiryText(n uint64) string {
	if n == 0 {
		return "none"
	}
	return time.Unix(0, int64(n)).UTC().Format(time.RFC3339Nano)
}
