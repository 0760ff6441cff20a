package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"runtime"
	"slices"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// CheckOpen is the check of CheckState that a start can afford: it reads
// the requests the open, revokes_by_time and set indexes name (open
// requests, grants in force, requests to resume), compares each with the
// log's state of it kept in request_log, checks their index entries and
// the stray keys of those indexes, and the providers_in_use counts. Its
// cost follows the number of open requests, not the history. Grants that
// ended, and a request that the record and its indexes all show as
// closed, are left to CheckState.
//
// It reads the file's pages with pread (pageFile), not through bbolt's
// memory map, so that the pages it reads do not stay resident; and every
// bucket in key order, so that each page is read once: the records and
// request_log in ID order, split between the cores, which also decode the
// records; the open, revokes_by_time and set indexes walked once each and
// matched with hashes of the entries the records imply; the grant keys
// looked up sorted. What it holds for a whole check is small and without
// pointers but for the IDs: the hashes and the grant keys.
func (db *DB) CheckOpen(ctx context.Context, fn func(Disagreement)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(func(tx *bbolt.Tx) error {
		c := newChecker(tx, fn)
		if !c.v3 {
			return errors.New("check open requests: the file has schema 1 or 2 (opened read-only); open it for writing to migrate it")
		}
		pf, err := openPageFile(db.path, tx)
		if err != nil {
			return fmt.Errorf("check open requests: %w", err)
		}
		defer pf.Close()
		ids, err := namedIDs(pf)
		if err != nil {
			return err
		}

		// Each core reads and decodes a run of the IDs. The hashes of the
		// open and revokes_by_time entries go to one place per ID, so
		// that nothing is copied to gather them.
		seed := maphash.MakeSeed()
		wantOpen, wantRevoke := noHashes(len(ids)), noHashes(len(ids))
		parts := make([]*checkPart, max(1, min(runtime.GOMAXPROCS(0), len(ids)/checkBatch)))
		var wg sync.WaitGroup
		for w := range parts {
			p := &checkPart{seed: seed, providers: map[string]int{}, open: wantOpen, revoke: wantRevoke}
			parts[w] = p
			lo, hi := w*len(ids)/len(parts), (w+1)*len(ids)/len(parts)
			wg.Go(func() { p.err = p.run(ctx, pf.reader(), ids, lo, hi) })
		}
		wg.Wait()
		var wants [2 + len(setIndexes)][]hashed
		wants[0], wants[1] = slices.DeleteFunc(wantOpen, none), slices.DeleteFunc(wantRevoke, none)
		var grants grantKeys
		for _, p := range parts {
			if p.err != nil {
				return p.err
			}
			for _, d := range p.found {
				c.report(d)
			}
			for name, n := range p.providers {
				c.providers[name] += n
			}
			for j, w := range p.sets {
				wants[2+j] = append(wants[2+j], w...)
			}
			grants.add(&p.grants)
			p.sets = [len(setIndexes)][]hashed{}
		}

		// The grant keys are looked up while the indexes are walked, one
		// per core at a time; what they found is reported here, in order.
		walks := []*indexWalk{{name: "open", bucket: bucketOpen, wants: wants[0]}, {name: "revokes_by_time", bucket: bucketRevokes, wants: wants[1]}}
		for j, ix := range setIndexes {
			if tx.Bucket(ix.bucket) != nil { // a file of an older schema, opened read-only, lacks it
				walks = append(walks, &indexWalk{name: ix.name, bucket: ix.bucket, wants: wants[2+j]})
			}
		}
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		var unmatched []uint32
		var grantsErr error
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			unmatched, grantsErr = matchGrants(pf.reader(), &grants)
		})
		for _, w := range walks {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				w.err = w.match(pf.reader(), seed)
			})
		}
		wg.Wait()
		if grantsErr != nil {
			return grantsErr
		}
		grants = grantKeys{}
		for _, n := range unmatched {
			if rq, err := getRequest(tx, ids[n]); err == nil {
				c.checkGrant(tx, rq, expect(rq))
			}
		}
		for _, w := range walks {
			if w.err != nil {
				return w.err
			}
			for _, st := range w.stray {
				c.addStray(st.id, w.name, st.key)
			}
		}
		for _, w := range walks {
			for _, h := range w.missing {
				if err := c.missingEntry(tx, w.name, ids[h.n]); err != nil {
					return err
				}
			}
		}
		c.reportStray(tx)
		return c.checkProviders(tx)
	})
}

// checkBatch is how many records a core of CheckOpen reads and decodes
// at a time.
const checkBatch = 1024

// checkPart is what one core of CheckOpen found in its run of IDs: the
// disagreements of records with the log, the open requests per provider,
// the hashes of the open, revokes_by_time and set index entries the
// records imply, and their grant keys.
type checkPart struct {
	seed      maphash.Seed
	err       error
	found     []Disagreement
	providers map[string]int
	// open and revoke are the hashes of the open and revokes_by_time
	// entries, shared by the parts, at each ID's place; sets are those
	// of the set indexes.
	open, revoke []hashed
	sets         [len(setIndexes)][]hashed
	grants       grantKeys
	// scratch holds the index keys of the record being checked.
	scratch []byte
}

// grantKeys are grants_by_resource entries records imply, each key then
// value in a few buffers, without a pointer per entry.
type grantKeys struct {
	bufs    [][]byte
	entries []grantEntry
}

// grantEntry is an entry of grantKeys: where its key and value lie, and
// the record, by its place among the IDs.
type grantEntry struct {
	buf, at    int
	klen, vlen uint32
	n          uint32
}

func (g *grantKeys) put(k, v []byte, n uint32) {
	if len(g.bufs) == 0 {
		g.bufs = [][]byte{nil}
	}
	b := &g.bufs[len(g.bufs)-1]
	g.entries = append(g.entries, grantEntry{buf: len(g.bufs) - 1, at: len(*b), klen: uint32(len(k)), vlen: uint32(len(v)), n: n})
	*b = append(append(*b, k...), v...)
}

// add moves the entries of o into g, keeping o's buffers.
func (g *grantKeys) add(o *grantKeys) {
	g.entries = slices.Grow(g.entries, len(o.entries))
	for _, e := range o.entries {
		e.buf += len(g.bufs)
		g.entries = append(g.entries, e)
	}
	g.bufs = append(g.bufs, o.bufs...)
	*o = grantKeys{}
}

func (g *grantKeys) entry(e grantEntry) (k, v []byte) {
	b := g.bufs[e.buf]
	end := e.at + int(e.klen)
	return b[e.at:end], b[end : end+int(e.vlen)]
}

func (g *grantKeys) key(i int) []byte { k, _ := g.entry(g.entries[i]); return k }
func (g *grantKeys) val(i int) []byte { _, v := g.entry(g.entries[i]); return v }

// run checks the records of ids[lo:hi], a batch at a time: the
// request_log states of the batch, then its records, each decoded and
// compared as it is read.
func (p *checkPart) run(ctx context.Context, r *pageReader, ids []string, lo, hi int) error {
	keys := make([][]byte, 0, checkBatch)
	var idBytes []byte
	states := make([]logState, checkBatch)
	logged := make([]bool, checkBatch)
	report := func(d Disagreement) { p.found = append(p.found, d) }
	var rq approvals.Request
	known, statuses := names{}, names{}
	for at := lo; at < hi; at += checkBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := ids[at:min(at+checkBatch, hi)]
		// The batch's IDs as bytes, in one buffer.
		idBytes, keys = idBytes[:0], keys[:0]
		for _, id := range batch {
			idBytes = append(idBytes, id...)
		}
		at0 := 0
		for _, id := range batch {
			keys = append(keys, idBytes[at0:at0+len(id):at0+len(id)])
			at0 += len(id)
		}
		key := func(i int) []byte { return keys[i] }
		clear(logged)
		if err := r.lookup(bucketRequestLog, len(keys), key, func(i int, v []byte) error {
			states[i], logged[i] = decodeLogStateWith(v, statuses.raw)
			return nil
		}); err != nil {
			return err
		}
		err := r.lookup(bucketRequests, len(keys), key, func(i int, v []byte) error {
			if err := readIndexed(&rq, batch[i], v, known.read); err != nil {
				return err
			}
			if logged[i] {
				compareLog(&rq, states[i], report)
			} else {
				report(Disagreement{RequestID: rq.ID, Index: "request_log",
					Text: fmt.Sprintf("request %s: no state in request_log, the log's view of each request (run accessbot audit verify)", rq.ID)})
			}
			if rq.Status.Open() {
				p.providers[rq.Provider]++
			}
			p.want(&rq, keys[i], uint32(at+i))
			return nil
		})
		if err != nil {
			return err
		}
		// A request named by an index but without a record is not
		// decoded: its keys are found stray by the walks.
	}
	return nil
}

// want records the index entries rq's record implies.
func (p *checkPart) want(rq *approvals.Request, id []byte, n uint32) {
	e := expectIn(rq, p.scratch)
	p.scratch = e.buf
	if e.open != nil {
		p.open[n] = hashed{entryHash(p.seed, e.open, id), n}
	}
	if e.revoke != nil {
		p.revoke[n] = hashed{entryHash(p.seed, e.revoke, nil), n}
	}
	for j, in := range e.sets {
		if in {
			p.sets[j] = append(p.sets[j], hashed{entryHash(p.seed, id, nil), n})
		}
	}
	if e.grant != nil {
		p.grants.put(e.grant, e.gval, n)
	}
}

// matchGrants looks up the grant keys the records imply, in key order,
// and returns the records (by their place among the IDs) whose entry is
// missing or differs, to be checked against the record again.
func matchGrants(r *pageReader, grants *grantKeys) ([]uint32, error) {
	slices.SortFunc(grants.entries, func(a, b grantEntry) int {
		ka, _ := grants.entry(a)
		kb, _ := grants.entry(b)
		return bytes.Compare(ka, kb)
	})
	matched := make([]bool, len(grants.entries))
	if err := r.lookup(bucketGrants, len(grants.entries), grants.key, func(i int, v []byte) error {
		matched[i] = bytes.Equal(v, grants.val(i))
		return nil
	}); err != nil {
		return nil, err
	}
	var unmatched []uint32
	for i, ok := range matched {
		if !ok {
			unmatched = append(unmatched, grants.entries[i].n)
		}
	}
	return unmatched, nil
}

// hashed is an index entry a record implies, by the hash of its key and
// value, and the record, by its place among the IDs read.
type hashed struct {
	hash uint64
	n    uint32
}

// noHashes returns n hashed entries that stand for none (none reports
// them), to be filled in at the places of the IDs that have one.
func noHashes(n int) []hashed {
	h := make([]hashed, n)
	for i := range h {
		h[i].n = math.MaxUint32
	}
	return h
}

func none(h hashed) bool { return h.n == math.MaxUint32 }

// entryHash hashes an index key and its value, unambiguously.
func entryHash(seed maphash.Seed, k, v []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(k)))
	h.Write(n[:])
	h.Write(k)
	h.Write(v)
	return h.Sum64()
}

// indexWalk is the walk of one index of CheckOpen: the hashes of the
// entries the records imply, and what the walk found: the entries no
// record implies (stray) and the implied entries it lacks (missing).
type indexWalk struct {
	name    string
	bucket  []byte
	wants   []hashed
	stray   []strayEntry
	missing []hashed
	err     error
}

// strayEntry is an index key no record implies, and the request it names.
type strayEntry struct {
	id  string
	key []byte
}

// match walks the index once, matching each entry with the hashes of the
// entries the records imply. The value of an index entry is part of its
// hash only in open, which names the request.
func (w *indexWalk) match(r *pageReader, seed maphash.Seed) error {
	wants := newHashIndex(w.wants)
	err := r.each(w.bucket, func(k, v []byte) error {
		var h uint64
		if w.name == "open" {
			h = entryHash(seed, k, v)
		} else {
			h = entryHash(seed, k, nil)
		}
		if !wants.take(h) {
			w.stray = append(w.stray, strayEntry{keyID(w.name, k, v), bytes.Clone(k)})
		}
		return nil
	})
	w.missing = wants.left()
	w.wants = nil
	return err
}

// hashIndex finds the entries of a set of hashed by their hash, each once:
// an open-addressing table of their places, twice their number in size,
// without a pointer.
type hashIndex struct {
	entries []hashed
	taken   []bool
	slots   []int32 // 1 + the place of an entry, 0 for none
	mask    uint64
}

func newHashIndex(entries []hashed) *hashIndex {
	size := 16
	for size < 2*len(entries) {
		size *= 2
	}
	x := &hashIndex{entries: entries, taken: make([]bool, len(entries)), slots: make([]int32, size), mask: uint64(size - 1)}
	for i, e := range entries {
		j := e.hash & x.mask
		for x.slots[j] != 0 {
			j = (j + 1) & x.mask
		}
		x.slots[j] = int32(i + 1)
	}
	return x
}

// take marks an entry of hash h as found, and reports false when every
// entry of that hash was found already, or there is none.
func (x *hashIndex) take(h uint64) bool {
	for j := h & x.mask; x.slots[j] != 0; j = (j + 1) & x.mask {
		if i := x.slots[j] - 1; x.entries[i].hash == h && !x.taken[i] {
			x.taken[i] = true
			return true
		}
	}
	return false
}

// left returns the entries not taken.
func (x *hashIndex) left() []hashed {
	var out []hashed
	for i, e := range x.entries {
		if !x.taken[i] {
			out = append(out, e)
		}
	}
	return out
}

// missingEntry reports that the index entry of request id in index is
// not there, reading the record again for the report.
func (c *checker) missingEntry(tx *bbolt.Tx, index, id string) error {
	rq, err := getRequest(tx, id)
	if err != nil {
		return err
	}
	e := expect(rq)
	key := []byte(id) // a set index
	switch index {
	case "open":
		key = e.open
	case "revokes_by_time":
		key = e.revoke
	}
	c.missing(tx, index, want{key, id, rq.Status})
	return nil
}

// namedIDs returns the IDs of the requests the open, revokes_by_time and
// set indexes name, sorted, each once.
//
// The open index names nearly all of them: it is walked on one core while
// the others are read on another, then looked up among its IDs and kept
// when they are not there.
func namedIDs(pf *pageFile) ([]string, error) {
	var ids, others []string
	var openErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		openErr = pf.reader().each(bucketOpen, func(_, v []byte) error { ids = append(ids, string(v)); return nil })
		slices.Sort(ids)
		ids = slices.Compact(ids)
	})
	r := pf.reader()
	err := r.each(bucketRevokes, func(k, _ []byte) error {
		if len(k) >= 8 {
			others = append(others, string(k[8:]))
		}
		return nil
	})
	for _, ix := range setIndexes {
		if err == nil && pf.bucket(ix.bucket) != nil {
			err = r.each(ix.bucket, func(k, _ []byte) error { others = append(others, string(k)); return nil })
		}
	}
	wg.Wait()
	if err := errors.Join(openErr, err); err != nil {
		return nil, err
	}
	var more []string
	for _, id := range others {
		if _, found := slices.BinarySearch(ids, id); !found {
			more = append(more, id)
		}
	}
	if len(more) == 0 {
		return ids, nil
	}
	ids = append(ids, more...)
	slices.Sort(ids)
	return slices.Clip(slices.Compact(ids)), nil
}
