package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// logEvent moves request_log for ev, appended as record seq, inside tx.
func logEvent(tx *bbolt.Tx, seq uint64, ev approvals.Event) error {
	if ev.RequestID == "" {
		return nil
	}
	b := tx.Bucket(bucketRequestLog)
	id := []byte(ev.RequestID)
	prev, _ := decodeLogState(b.Get(id))
	if err := b.Put(id, encodeLogState(prev.next(seq, ev))); err != nil {
		return fmt.Errorf("request log index: %w", err)
	}
	return nil
}

// setIndex is an index holding the ID of each request for which holds is
// true, with no value: a start or a sweep reads those requests without
// reading the others.
type setIndex struct {
	name   string
	bucket []byte
	holds  func(r *approvals.Request) bool
	// waiting says, of a request the index lacks, what it is waiting for.
	waiting string
}

// setIndexes are the set indexes, each written with the record.
var setIndexes = [...]setIndex{
	{name: "resume", bucket: bucketResume, holds: (*approvals.Request).NeedsResume, waiting: "waiting to be taken up at start"},
	{name: "pending", bucket: bucketPending, holds: isPending, waiting: "waiting for a decision"},
}

func isPending(r *approvals.Request) bool { return r.Status == approvals.StatusPending }

// setIndexNamed returns the set index called name.
func setIndexNamed(name string) (setIndex, bool) {
	for _, ix := range setIndexes {
		if ix.name == name {
			return ix, true
		}
	}
	return setIndex{}, false
}

// reindexSets keeps cur in each set index while the index holds it.
func reindexSets(tx *bbolt.Tx, old, cur *approvals.Request) error {
	for _, ix := range setIndexes {
		was := old != nil && ix.holds(old)
		is := ix.holds(cur)
		if was == is {
			continue
		}
		b := tx.Bucket(ix.bucket)
		var err error
		if is {
			err = b.Put([]byte(cur.ID), []byte{})
		} else {
			err = b.Delete([]byte(cur.ID))
		}
		if err != nil {
			return fmt.Errorf("%s index: %w", ix.name, err)
		}
	}
	return nil
}

// reindexProvider counts cur among the open requests of its provider
// while it is open.
func reindexProvider(tx *bbolt.Tx, old, cur *approvals.Request) error {
	wasOpen := old != nil && old.Status.Open()
	isOpen := cur.Status.Open()
	if wasOpen == isOpen && (!isOpen || old.Provider == cur.Provider) {
		return nil
	}
	if wasOpen {
		if err := addProvider(tx, old.Provider, -1); err != nil {
			return err
		}
	}
	if isOpen {
		return addProvider(tx, cur.Provider, 1)
	}
	return nil
}

// addProvider adds delta to the count of open requests of provider,
// removing the key at zero.
func addProvider(tx *bbolt.Tx, provider string, delta int64) error {
	b := tx.Bucket(bucketProviders)
	k := []byte(provider)
	var n int64
	if v := b.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	var err error
	if n <= 0 {
		err = b.Delete(k)
	} else {
		err = b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	if err != nil {
		return fmt.Errorf("providers index: %w", err)
	}
	return nil
}

// NeedingResume returns the requests a start must take up again
// (approvals.Request.NeedsResume), ordered by ID. It reads the resume
// index, so its cost follows the number of such requests, not the number
// of grants in force.
func (db *DB) NeedingResume(ctx context.Context) ([]*approvals.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*approvals.Request
	err := db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketResume)
		if b == nil {
			return fmt.Errorf("the resume index is missing (a schema %s file opened read-only)", schemaVersion)
		}
		return b.ForEach(func(k, _ []byte) error {
			r, err := getRequest(tx, string(k))
			if err != nil {
				return fmt.Errorf("resume index: %w", err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// ProvidersInUse returns the number of open requests (pending, approved,
// granting or active) of each provider. It reads one key per provider.
func (db *DB) ProvidersInUse(ctx context.Context) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string]int{}
	err := db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketProviders)
		if b == nil {
			return fmt.Errorf("the providers_in_use index is missing (a file of an older schema opened read-only)")
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("providers_in_use/%s: %d bytes, want 8", k, len(v))
			}
			out[string(k)] = int(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	return out, err
}

// migrate builds the indexes a file of schema from lacks, in Open's
// transaction: for schema 1 or 2, request_log from one pass over the audit
// log, providers_in_use and resume from the open requests; for schema 1
// to 3, pending from the open requests.
func migrate(tx *bbolt.Tx, from string) error {
	if from == "3" {
		return eachOpen(tx, func(r *approvals.Request) error {
			if isPending(r) {
				return tx.Bucket(bucketPending).Put([]byte(r.ID), []byte{})
			}
			return nil
		})
	}
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			continue // Verify's to report
		}
		rec, err := splitRecord(v)
		if err != nil {
			continue
		}
		ev, err := viewEvent(rec.body)
		if err != nil {
			continue
		}
		ev.ev.RequestID = ev.requestID
		if err := logEvent(tx, binary.BigEndian.Uint64(k), ev.ev); err != nil {
			return err
		}
	}
	return eachOpen(tx, func(r *approvals.Request) error {
		if err := reindexSets(tx, nil, r); err != nil {
			return err
		}
		return reindexProvider(tx, nil, r)
	})
}

// eachOpen calls fn with each request the open index names, in ID order.
// A request that cannot be read is skipped: the state check reports it.
// The pages read are unmapped as it goes (releasePages): a migration is
// written from the heap, never through the file's mapping.
func eachOpen(tx *bbolt.Tx, fn func(r *approvals.Request) error) error {
	var ids []string
	if err := tx.Bucket(bucketOpen).ForEach(func(_, v []byte) error {
		if ids = append(ids, string(v)); len(ids)%checkBatch == 0 {
			releasePages(tx)
		}
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(ids)
	for i, id := range ids {
		if i%checkBatch == checkBatch-1 {
			releasePages(tx)
		}
		r, err := getRequest(tx, id)
		if err != nil {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
