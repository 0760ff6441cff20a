package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

var (
	_ approvals.Store       = (*DB)(nil)
	_ approvals.AuditLog    = (*DB)(nil)
	_ approvals.HolderIndex = (*DB)(nil)
)

// batchSize is how many records a long read decodes per read transaction.
// Short transactions keep a reader from holding up a writer that must grow
// the file while the caller works through the records.
const batchSize = 1024

// CreateRequest stores the new request r with its indexes, appends ev and
// queues notices (filled in with r), in one transaction. It returns ECONFLICT when r.Requester already has an
// open request for r.Resource, and EINVALID when a requester or resource
// contains a NUL byte (the index separator).
func (db *DB) CreateRequest(ctx context.Context, r *approvals.Request, ev approvals.Event, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(r); err != nil {
		return err
	}
	err := db.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketRequests).Get([]byte(r.ID)) != nil {
			return fmt.Errorf("create request %s: the id is taken", r.ID)
		}
		if err := putRequest(tx, r); err != nil {
			return err
		}
		if err := reindex(tx, nil, r); err != nil {
			return err
		}
		if err := db.appendEvents(tx, ev); err != nil {
			return err
		}
		return queueNotices(tx, r, notices)
	})
	if err == nil && len(notices) > 0 {
		db.wakeOutbox()
	}
	return err
}

// UpdateRequest re-reads request id inside a write transaction and calls fn
// with a copy of it. If fn returns an error nothing is written and the error
// is returned as it is. Otherwise the changed request, its index entries and
// the events fn returns are committed together and the stored request is
// returned. Errors: ENOTFOUND when there is no request id, ECONFLICT when
// the change would open a second request for the same user and resource,
// EINVALID for a NUL byte in requester or resource; fn may not change the ID.
//
// fn may run more than once: concurrent writes share a transaction, and
// when another write in it fails the rest run again (see DB.update). Each
// run gets a fresh copy of the stored request and only the last run's
// events count, so fn must not act outside the request it is given.
func (db *DB) UpdateRequest(ctx context.Context, id string, fn func(r *approvals.Request) ([]approvals.Event, error)) (*approvals.Request, error) {
	return db.Transition(ctx, id, func(r *approvals.Request) (approvals.Change, error) {
		evs, err := fn(r)
		return approvals.Change{Events: evs}, err
	})
}

// Transition is UpdateRequest for a change that also queues notices: the
// request, its index entries, the events and the notices (each filled in
// with the request as committed) are committed together.
func (db *DB) Transition(ctx context.Context, id string, fn func(r *approvals.Request) (approvals.Change, error)) (*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *approvals.Request
	queued := false
	err := db.update(func(tx *bbolt.Tx) error {
		old, err := getRequest(tx, id)
		if err != nil {
			return err
		}
		r := old.Clone()
		change, err := fn(r)
		if err != nil {
			return err
		}
		if r.ID != id {
			return fmt.Errorf("update request %s: the update changed its id to %q", id, r.ID)
		}
		if err := validate(r); err != nil {
			return err
		}
		if err := putRequest(tx, r); err != nil {
			return err
		}
		if err := reindex(tx, old, r); err != nil {
			return err
		}
		if err := db.appendEvents(tx, change.Events...); err != nil {
			return err
		}
		if err := queueNotices(tx, r, change.Notices); err != nil {
			return err
		}
		queued = len(change.Notices) > 0
		out = r.Clone()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if queued {
		db.wakeOutbox()
	}
	return out, nil
}

// Request returns request id, or ENOTFOUND.
func (db *DB) Request(ctx context.Context, id string) (*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var r *approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		r, err = getRequest(tx, id)
		return err
	})
	return r, err
}

// OpenRequests returns open requests (see approvals.Status.Open), all of
// them when requester is empty, oldest first. It reads the open index, so
// its cost follows the number of open requests, not the history.
func (db *DB) OpenRequests(ctx context.Context, requester string) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var prefix []byte
	if requester != "" {
		prefix = append([]byte(requester), 0)
	}
	var out []*approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		defer releasePages(tx)
		c := tx.Bucket(bucketOpen).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			r, err := getRequest(tx, string(v))
			if err != nil {
				return fmt.Errorf("open index %q: %w", k, err)
			}
			// Thousands of records read in requester order fault in
			// pages all over the file: unmap them as it goes.
			if out = append(out, r); len(out)%checkBatch == 0 {
				releasePages(tx)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *approvals.Request) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DueRevokes returns active requests whose revoke is due at or before now,
// earliest first. It walks the revokes_by_time index from its start and
// stops at the first key after now, so the cost follows what is due, not
// the number of grants.
func (db *DB) DueRevokes(ctx context.Context, now time.Time) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nowKey := timeKey(now)
	var out []*approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		requests := tx.Bucket(bucketRequests)
		c := tx.Bucket(bucketRevokes).Cursor()
		for k, _ := c.First(); k != nil && len(k) >= 8 && bytes.Compare(k[:8], nowKey) <= 0; k, _ = c.Next() {
			v := requests.Get(k[8:])
			if v == nil {
				// The index is written with the record, so this means a
				// hand-edited file. Skipping is the safe side: failing here
				// would stop every other due revoke.
				continue
			}
			r, err := decodeRequest(k[8:], v)
			if err != nil {
				return err
			}
			if due, ok := r.RevokeDueAt(); ok && !due.After(now) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendEvent appends an event that changes no request (a policy load, a
// drift finding) and queues notices.
func (db *DB) AppendEvent(ctx context.Context, ev approvals.Event, notices ...approvals.Notice) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.update(func(tx *bbolt.Tx) error {
		if err := db.appendEvents(tx, ev); err != nil {
			return err
		}
		return queueNotices(tx, nil, notices)
	})
	if err == nil && len(notices) > 0 {
		db.wakeOutbox()
	}
	return err
}

// AllRequests calls fn with every request, ordered by ID, for summaries and
// listings. fn runs outside any transaction and may take its time; the
// requests are read in batches, so one changed meanwhile is seen either
// before or after the change. An error from fn stops the walk and is
// returned.
func (db *DB) AllRequests(ctx context.Context, fn func(*approvals.Request) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []*approvals.Request
		err := db.view(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketRequests).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(batch) < batchSize; k, v = c.Next() {
				r, err := decodeRequest(k, v)
				if err != nil {
					return err
				}
				batch = append(batch, r)
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(batch) < batchSize {
			return nil
		}
	}
}

// HoldersAt returns the requests whose grant of resource was in force at
// instant at (approvals.Request.ActiveAt), in the order they were granted.
// It seeks to the resource in the grants_by_resource index and reads only
// grants made at or before at; of those it loads only the ones that had
// not ended by then.
func (db *DB) HoldersAt(ctx context.Context, resource string, at time.Time) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := grantPrefix(resource)
	atNanos := nanos(at)
	var out []*approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketGrants).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest := k[len(prefix):]
			if len(rest) < 8 {
				continue
			}
			if binary.BigEndian.Uint64(rest) > atNanos {
				break // granted after at, and so is every later key
			}
			if len(v) == 8 && binary.BigEndian.Uint64(v) <= atNanos {
				continue // ended at or before at
			}
			r, err := getRequest(tx, string(rest[8:]))
			if err != nil {
				return fmt.Errorf("grant index %q: %w", k, err)
			}
			if r.ActiveAt(at) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// validate refuses what the key encodings cannot represent.
func validate(r *approvals.Request) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("store request: empty id")
	case strings.IndexByte(r.Requester, 0) >= 0:
		return approvals.Errorf(approvals.EINVALID, "a user ID may not contain a NUL byte")
	case strings.IndexByte(r.Resource, 0) >= 0:
		return approvals.Errorf(approvals.EINVALID, "a resource name may not contain a NUL byte")
	}
	return nil
}

// getRequest reads and decodes request id. The result shares no memory
// with the transaction.
func getRequest(tx *bbolt.Tx, id string) (*approvals.Request, error) {
	v := tx.Bucket(bucketRequests).Get([]byte(id))
	if v == nil {
		return nil, approvals.Errorf(approvals.ENOTFOUND, "there is no request %s", id)
	}
	return decodeRequest([]byte(id), v)
}

// decodeRequest decodes a stored request. json.Unmarshal copies strings and
// RawMessage, so nothing of the result points into bbolt's memory map.
func decodeRequest(id, v []byte) (*approvals.Request, error) {
	var r approvals.Request
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode request %s: %w", id, err)
	}
	if string(r.Settings) == "null" {
		r.Settings = nil // what was stored, rather than the JSON for it
	}
	return &r, nil
}

func putRequest(tx *bbolt.Tx, r *approvals.Request) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode request %s: %w", r.ID, err)
	}
	if err := tx.Bucket(bucketRequests).Put([]byte(r.ID), v); err != nil {
		return fmt.Errorf("put request %s: %w", r.ID, err)
	}
	return nil
}

// reindex moves r's index entries from what old (nil for a new request)
// implied to what cur implies. Only entries that change are written.
func reindex(tx *bbolt.Tx, old, cur *approvals.Request) error {
	if err := reindexOpen(tx, old, cur); err != nil {
		return err
	}
	if err := reindexRevoke(tx, old, cur); err != nil {
		return err
	}
	if err := reindexSets(tx, old, cur); err != nil {
		return err
	}
	if err := reindexProvider(tx, old, cur); err != nil {
		return err
	}
	return reindexGrant(tx, old, cur)
}

func reindexOpen(tx *bbolt.Tx, old, cur *approvals.Request) error {
	b := tx.Bucket(bucketOpen)
	var oldKey, newKey []byte
	if old != nil && old.Status.Open() {
		oldKey = openKey(old.Requester, old.Resource)
	}
	if cur.Status.Open() {
		newKey = openKey(cur.Requester, cur.Resource)
	}
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	if oldKey != nil && string(b.Get(oldKey)) == cur.ID {
		if err := b.Delete(oldKey); err != nil {
			return fmt.Errorf("open index: %w", err)
		}
	}
	if newKey == nil {
		return nil
	}
	if other := b.Get(newKey); other != nil && string(other) != cur.ID {
		return conflict(tx, string(other))
	}
	if err := b.Put(newKey, []byte(cur.ID)); err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	return nil
}

// conflict explains which open request is in the way.
func conflict(tx *bbolt.Tx, id string) error {
	o, err := getRequest(tx, id)
	if err != nil {
		return fmt.Errorf("open index names %s: %w", id, err)
	}
	state := string(o.Status)
	if o.Status == approvals.StatusActive {
		state += " until " + o.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return approvals.Errorf(approvals.ECONFLICT, "you already have request %s open for %s (%s); wait for it or revoke it", o.ID, o.Resource, state)
}

func reindexRevoke(tx *bbolt.Tx, old, cur *approvals.Request) error {
	b := tx.Bucket(bucketRevokes)
	var oldKey, newKey []byte
	if old != nil {
		if due, ok := old.RevokeDueAt(); ok {
			oldKey = revokeKey(due, old.ID)
		}
	}
	if due, ok := cur.RevokeDueAt(); ok {
		newKey = revokeKey(due, cur.ID)
	}
	if bytes.Equal(oldKey, newKey) {
		return nil
	}
	if oldKey != nil {
		if err := b.Delete(oldKey); err != nil {
			return fmt.Errorf("revoke index: %w", err)
		}
	}
	if newKey != nil {
		if err := b.Put(newKey, []byte{}); err != nil {
			return fmt.Errorf("revoke index: %w", err)
		}
	}
	return nil
}

func reindexGrant(tx *bbolt.Tx, old, cur *approvals.Request) error {
	b := tx.Bucket(bucketGrants)
	var oldKey, oldVal, newKey, newVal []byte
	if old != nil && !old.GrantedAt.IsZero() {
		oldKey, oldVal = grantKey(old.Resource, old.GrantedAt, old.ID), grantValue(old)
	}
	if !cur.GrantedAt.IsZero() {
		newKey, newVal = grantKey(cur.Resource, cur.GrantedAt, cur.ID), grantValue(cur)
	}
	if bytes.Equal(oldKey, newKey) && bytes.Equal(oldVal, newVal) {
		return nil
	}
	if oldKey != nil && !bytes.Equal(oldKey, newKey) {
		if err := b.Delete(oldKey); err != nil {
			return fmt.Errorf("grant index: %w", err)
		}
	}
	if newKey != nil {
		if err := b.Put(newKey, newVal); err != nil {
			return fmt.Errorf("grant index: %w", err)
		}
	}
	return nil
}

// grantValue is the grants_by_resource value of r: empty while the grant
// lasts, the end instant once it has ended.
func grantValue(r *approvals.Request) []byte {
	return appendGrantValue([]byte{}, r)
}

func appendGrantValue(dst []byte, r *approvals.Request) []byte {
	if r.EndedAt.IsZero() {
		return dst
	}
	return binary.BigEndian.AppendUint64(dst, nanos(r.EndedAt))
}
