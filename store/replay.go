package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// states maps request IDs to their state in the log, compactly: a log of
// millions of events holds hundreds of thousands of requests. An ID of up
// to 15 bytes (accessbot's are 11) is held in the key itself, with its
// length, so an entry is 32 bytes and no allocation; longer IDs go to a
// map of strings. A state is packed into two words: the expiry, and the
// sequence number (up to 2^56) with the status's code on top.
type states struct {
	short map[[16]byte]packed
	long  map[string]packed
}

type packed struct {
	expiry    uint64
	seqStatus uint64
}

// statusCodes numbers the statuses for packing; 0 is the empty status.
var statusCodes = []approvals.Status{"",
	approvals.StatusPending, approvals.StatusApproved, approvals.StatusGranting, approvals.StatusActive,
	approvals.StatusExpired, approvals.StatusRevoked, approvals.StatusDenied, approvals.StatusCancelled,
	approvals.StatusAlreadyHeld, approvals.StatusFailed}

const seqBits = 56

func pack(s logState) packed {
	code := 0
	for i, st := range statusCodes {
		if st == s.status {
			code = i
		}
	}
	return packed{expiry: s.expiry, seqStatus: uint64(code)<<seqBits | s.seq&(1<<seqBits-1)}
}

func (p packed) unpack() logState {
	return logState{seq: p.seqStatus & (1<<seqBits - 1), expiry: p.expiry, status: statusCodes[p.seqStatus>>seqBits]}
}

func newStates() *states {
	return &states{short: map[[16]byte]packed{}, long: map[string]packed{}}
}

func shortKey(id []byte) ([16]byte, bool) {
	var k [16]byte
	if len(id) > 15 {
		return k, false
	}
	k[0] = byte(len(id))
	copy(k[1:], id)
	return k, true
}

func (m *states) get(id []byte) logState {
	if k, ok := shortKey(id); ok {
		return m.short[k].unpack()
	}
	return m.long[string(id)].unpack()
}

func (m *states) set(id []byte, s logState) {
	if k, ok := shortKey(id); ok {
		m.short[k] = pack(s)
		return
	}
	m.long[string(id)] = pack(s)
}

// take returns and forgets the state of id.
func (m *states) take(id string) (logState, bool) {
	if k, ok := shortKey([]byte(id)); ok {
		p, found := m.short[k]
		delete(m.short, k)
		return p.unpack(), found
	}
	p, found := m.long[id]
	delete(m.long, id)
	return p.unpack(), found
}

func (m *states) each(fn func(id string, s logState)) {
	for k, p := range m.short {
		fn(string(k[1:1+k[0]]), p.unpack())
	}
	for id, p := range m.long {
		fn(id, p.unpack())
	}
}

// replay reads the audit log once, in order, and returns each request's
// state after its last event, and the number of the last event read. It
// reads only the fields of each record that tell the state
// (approvals.StatusAfter), and does not verify the chain.
func (db *DB) replay(ctx context.Context) (*states, uint64, error) {
	m := newStates()
	var last uint64
	err := db.scanAudit(ctx, func(k, v []byte) error {
		if len(k) != 8 {
			return nil // Verify's to report
		}
		rec, err := splitRecord(v)
		if err != nil {
			return fmt.Errorf("audit record %s: %w", recordName(k), err)
		}
		ev, err := viewEvent(rec.body)
		if err != nil {
			return fmt.Errorf("audit record %s: %w", recordName(k), err)
		}
		if ev.requestID == "" {
			return nil
		}
		last = binary.BigEndian.Uint64(k)
		id := []byte(ev.requestID)
		m.set(id, m.get(id).next(last, ev.ev))
		return nil
	}, nil, nil)
	return m, last, err
}

// scanBucket calls fn with every key and value of a top-level bucket, in
// order, inside read transactions of batchSize keys each (see scanAudit);
// k and v are valid only during the call.
func (db *DB) scanBucket(ctx context.Context, name []byte, fn func(tx *bbolt.Tx, k, v []byte) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		err := db.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(name).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; k != nil && n < batchSize; k, v = c.Next() {
				if err := fn(tx, k, v); err != nil {
					return err
				}
				after = append(after[:0], k...)
				n++
			}
			done = k == nil
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}
