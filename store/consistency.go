package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/accessbot/accessbot/approvals"
)

// Disagreement is one place where the store's state does not agree with
// what it must agree with: a request's record with its audit events (the
// log), or an index entry with the record it was written from.
type Disagreement struct {
	// RequestID is the request concerned; empty for a count of no one
	// request (providers_in_use).
	RequestID string
	// Index is the index that disagrees with the record ("open",
	// "revokes_by_time", "grants_by_resource", "resume", "pending",
	// "providers_in_use", "request_log"); empty when the record itself
	// disagrees with the log, which no repair may paper over.
	Index string
	// Seq is the audit record the log's side comes from, when there is one.
	Seq uint64
	// Text says what differs, naming the request.
	Text string

	// repair mends an index disagreement from the record (nil for the
	// others). It runs in the write transaction of RepairIndexes.
	repair func(tx *bbolt.Tx) error
}

func (d Disagreement) String() string { return d.Text }

// Repairable reports whether RepairIndexes can mend d: an index entry,
// rewritten from the record. A record that disagrees with the log is not.
func (d Disagreement) Repairable() bool { return d.repair != nil }

// expected are the index entries a request's record implies.
type expected struct {
	open   []byte // key in open, nil when not open
	revoke []byte // key in revokes_by_time, nil when no revoke is due
	grant  []byte // key in grants_by_resource, nil when never granted
	gval   []byte // its value
	// sets says, for each of setIndexes in order, whether it holds the
	// request.
	sets [len(setIndexes)]bool
	// buf holds the keys.
	buf []byte
}

func expect(r *approvals.Request) expected { return expectIn(r, nil) }

// expectIn is expect writing the keys into buf, from its start, which
// it grows when it must: the keys are valid until buf is written again.
func expectIn(r *approvals.Request, buf []byte) expected {
	var e expected
	buf = buf[:0]
	var at [5]int // ends of open, revoke, grant and gval in buf, from 1
	if r.Status.Open() {
		buf = appendOpenKey(buf, r.Requester, r.Resource)
	}
	at[1] = len(buf)
	due, revoke := r.RevokeDueAt()
	if revoke {
		buf = appendRevokeKey(buf, due, r.ID)
	}
	at[2] = len(buf)
	granted := !r.GrantedAt.IsZero()
	if granted {
		buf = appendGrantKey(buf, r.Resource, r.GrantedAt, r.ID)
		at[3] = len(buf)
		buf = appendGrantValue(buf, r)
		at[4] = len(buf)
	}
	if r.Status.Open() {
		e.open = buf[:at[1]:at[1]]
	}
	if revoke {
		e.revoke = buf[at[1]:at[2]:at[2]]
	}
	if granted {
		e.grant, e.gval = buf[at[2]:at[3]:at[3]], buf[at[3]:at[4]:at[4]]
	}
	e.buf = buf
	for i, ix := range setIndexes {
		e.sets[i] = ix.holds(r)
	}
	return e
}

// checker holds what a state check found so far.
type checker struct {
	fn func(Disagreement)
	// stray are index keys whose request implies another key (or none),
	// by request ID and index, so that a key found missing where the
	// record puts it can be reported as moved instead of twice.
	stray map[string]map[string][]byte
	// providers counts open requests per provider, from the records.
	providers map[string]int
	// v3 is false for a file of schema 1 or 2 opened read-only, which has
	// none of the indexes schema 3 added.
	v3 bool
}

func newChecker(tx *bbolt.Tx, fn func(Disagreement)) *checker {
	return &checker{fn: fn, stray: map[string]map[string][]byte{}, providers: map[string]int{}, v3: tx.Bucket(bucketRequestLog) != nil}
}

func (c *checker) report(d Disagreement) { c.fn(d) }

// deleteKey returns a repair that deletes key from bucket.
func deleteKey(bucket, key []byte) func(tx *bbolt.Tx) error {
	key = bytes.Clone(key)
	return func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Delete(key) }
}

// rewrite returns a repair that writes every index entry request id's
// record implies. Writing an entry that is there already changes nothing.
func rewrite(id string) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		r, err := getRequest(tx, id)
		if err != nil {
			return err
		}
		e := expect(r)
		if e.open != nil {
			if other := tx.Bucket(bucketOpen).Get(e.open); other != nil && string(other) != id {
				return fmt.Errorf("open key of %s is held by %s", id, other)
			}
			if err := tx.Bucket(bucketOpen).Put(e.open, []byte(id)); err != nil {
				return err
			}
		}
		if e.revoke != nil {
			if err := tx.Bucket(bucketRevokes).Put(e.revoke, []byte{}); err != nil {
				return err
			}
		}
		if e.grant != nil {
			if err := tx.Bucket(bucketGrants).Put(e.grant, e.gval); err != nil {
				return err
			}
		}
		for i, ix := range setIndexes {
			if e.sets[i] {
				if err := tx.Bucket(ix.bucket).Put([]byte(id), []byte{}); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// strayKey checks an index key against its request's record, read in tx.
// id is the request the key names; index and key say which key it is.
// A key whose record implies it is fine; any other is remembered as
// stray, to be reported by request.
func (c *checker) strayKey(tx *bbolt.Tx, index string, key []byte, id string, want func(e expected) bool) error {
	v := tx.Bucket(bucketRequests).Get([]byte(id))
	if v != nil && want != nil {
		r, err := indexedRequest([]byte(id), v)
		if err != nil {
			return err
		}
		if want(expect(r)) {
			return nil
		}
	}
	c.addStray(id, index, key)
	return nil
}

// addStray remembers key of index, which names request id, as stray.
func (c *checker) addStray(id, index string, key []byte) {
	m := c.stray[id]
	if m == nil {
		m = map[string][]byte{}
		c.stray[id] = m
	}
	m[index] = bytes.Clone(key)
}

// strayIndexes walks the indexes that hold one key per open request,
// grant in force or request to resume (and, when all is set, the grant
// history), remembering keys the records do not imply.
func (c *checker) strayIndexes(tx *bbolt.Tx, all bool) error {
	if err := tx.Bucket(bucketOpen).ForEach(func(k, v []byte) error {
		return c.strayKey(tx, "open", k, string(v), func(e expected) bool { return bytes.Equal(e.open, k) })
	}); err != nil {
		return err
	}
	if err := tx.Bucket(bucketRevokes).ForEach(func(k, _ []byte) error {
		if len(k) < 8 {
			return c.strayKey(tx, "revokes_by_time", k, "", nil)
		}
		return c.strayKey(tx, "revokes_by_time", k, string(k[8:]), func(e expected) bool { return bytes.Equal(e.revoke, k) })
	}); err != nil {
		return err
	}
	for i, ix := range setIndexes {
		b := tx.Bucket(ix.bucket)
		if b == nil {
			continue // a file of an older schema, opened read-only
		}
		if err := b.ForEach(func(k, _ []byte) error {
			return c.strayKey(tx, ix.name, k, string(k), func(e expected) bool { return e.sets[i] })
		}); err != nil {
			return err
		}
	}
	if !all {
		return nil
	}
	return tx.Bucket(bucketGrants).ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) < i+1+8 {
			return c.strayKey(tx, "grants_by_resource", k, "", nil)
		}
		return c.strayKey(tx, "grants_by_resource", k, string(k[i+9:]), func(e expected) bool {
			return bytes.Equal(e.grant, k) && bytes.Equal(e.gval, v)
		})
	})
}

// checkIndexes checks that the index entries r's record implies are
// there, reporting each missing one (as moved, when a stray key of the
// same index names r).
func (c *checker) checkIndexes(tx *bbolt.Tx, r *approvals.Request) {
	e := expect(r)
	id := r.ID
	stray := c.stray[id]
	taken := func(index string) ([]byte, bool) {
		k, ok := stray[index]
		if ok {
			delete(stray, index)
		}
		return k, ok
	}
	if r.Status.Open() {
		c.providers[r.Provider]++
	}
	if e.open != nil && string(tx.Bucket(bucketOpen).Get(e.open)) != id {
		d := Disagreement{RequestID: id, Index: "open", repair: rewrite(id)}
		if k, ok := taken("open"); ok {
			d.Text = fmt.Sprintf("request %s: %s, but its open key is %q instead of %q (index moved)", id, r.Status, k, e.open)
			d.repair = both(deleteKey(bucketOpen, k), d.repair)
		} else if other := tx.Bucket(bucketOpen).Get(e.open); other != nil {
			d.Text = fmt.Sprintf("request %s: %s, but its open key names %s (index changed)", id, r.Status, other)
		} else {
			d.Text = fmt.Sprintf("request %s: %s, but no open key (index removed)", id, r.Status)
		}
		c.report(d)
	}
	if e.revoke != nil && tx.Bucket(bucketRevokes).Get(e.revoke) == nil {
		due := keyTimeText(e.revoke)
		d := Disagreement{RequestID: id, Index: "revokes_by_time", repair: rewrite(id)}
		if k, ok := taken("revokes_by_time"); ok {
			d.Text = fmt.Sprintf("request %s: revoke due at %s but its revokes_by_time key is at %s (index moved)", id, due, keyTimeText(k))
			d.repair = both(deleteKey(bucketRevokes, k), d.repair)
		} else {
			d.Text = fmt.Sprintf("request %s: revoke due at %s but no revokes_by_time key (index removed)", id, due)
		}
		c.report(d)
	}
	c.checkGrant(tx, r, e)
	for i, ix := range setIndexes {
		if b := tx.Bucket(ix.bucket); b != nil && e.sets[i] && b.Get([]byte(id)) == nil {
			c.report(missingFromSet(ix, id, r.Status))
		}
	}
	if len(stray) == 0 {
		delete(c.stray, id)
	}
}

// checkGrant checks r's grants_by_resource entry, e its expected keys.
func (c *checker) checkGrant(tx *bbolt.Tx, r *approvals.Request, e expected) {
	id := r.ID
	taken := func(index string) ([]byte, bool) {
		k, ok := c.stray[id][index]
		if ok {
			delete(c.stray[id], index)
		}
		return k, ok
	}
	if e.grant == nil {
		return
	}
	if v := tx.Bucket(bucketGrants).Get(e.grant); v == nil || !bytes.Equal(v, e.gval) {
		d := Disagreement{RequestID: id, Index: "grants_by_resource", repair: rewrite(id)}
		switch k, ok := taken("grants_by_resource"); {
		case ok && !bytes.Equal(k, e.grant):
			d.Text = fmt.Sprintf("request %s: granted at %s but its grants_by_resource key is %q (index moved)", id, r.GrantedAt.UTC().Format(time.RFC3339Nano), k)
			d.repair = both(deleteKey(bucketGrants, k), d.repair)
		case v != nil:
			d.Text = fmt.Sprintf("request %s: grant ends %s in the record, %s in grants_by_resource (index changed)", id, endText(e.gval), endText(v))
		default:
			d.Text = fmt.Sprintf("request %s: granted at %s but no grants_by_resource key (index removed)", id, r.GrantedAt.UTC().Format(time.RFC3339Nano))
		}
		c.report(d)
	}
}

// reportStray reports the stray keys no request's missing key accounted
// for: keys that point at no request, or at one that implies none.
func (c *checker) reportStray(tx *bbolt.Tx) {
	buckets := map[string][]byte{"open": bucketOpen, "revokes_by_time": bucketRevokes, "grants_by_resource": bucketGrants}
	for _, ix := range setIndexes {
		buckets[ix.name] = ix.bucket
	}
	for id, m := range c.stray {
		var r *approvals.Request
		if v := tx.Bucket(bucketRequests).Get([]byte(id)); v != nil {
			r, _ = indexedRequest([]byte(id), v)
		}
		for index, k := range m {
			if !c.stillStray(tx, buckets[index], k, r) {
				continue // changed since it was found (a running serve)
			}
			what := "points at no request"
			if r != nil {
				what = fmt.Sprintf("does not match request %s (%s)", id, r.Status)
				switch index {
				case "revokes_by_time":
					if _, ok := r.RevokeDueAt(); !ok {
						what = fmt.Sprintf("points at no active request (%s is %s)", id, r.Status)
					}
				case "open":
					if !r.Status.Open() {
						what = fmt.Sprintf("points at no open request (%s is %s)", id, r.Status)
					}
				}
			}
			name := fmt.Sprintf("%q", k)
			if index == "revokes_by_time" && len(k) >= 8 {
				name = "at " + keyTimeText(k)
			}
			c.report(Disagreement{RequestID: id, Index: index, repair: deleteKey(buckets[index], k),
				Text: fmt.Sprintf("%s key %s for %s %s", index, name, orNone(id), what)})
		}
	}
}

// stillStray reports whether key k of bucket is still there and still not
// implied by r (nil: no request).
func (c *checker) stillStray(tx *bbolt.Tx, bucket, k []byte, r *approvals.Request) bool {
	v := tx.Bucket(bucket).Get(k)
	if v == nil {
		return false
	}
	if r == nil {
		return true
	}
	e := expect(r)
	switch string(bucket) {
	case "open":
		return !bytes.Equal(e.open, k) || string(v) != r.ID
	case "revokes_by_time":
		return !bytes.Equal(e.revoke, k)
	case "grants_by_resource":
		return !bytes.Equal(e.grant, k) || !bytes.Equal(e.gval, v)
	}
	for i, ix := range setIndexes {
		if string(bucket) == string(ix.bucket) {
			return !e.sets[i]
		}
	}
	return true
}

// checkProviders compares providers_in_use with the open requests counted.
func (c *checker) checkProviders(tx *bbolt.Tx) error {
	if !c.v3 {
		return nil
	}
	stored := map[string]int{}
	if err := tx.Bucket(bucketProviders).ForEach(func(k, v []byte) error {
		n := -1
		if len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
		}
		stored[string(k)] = n
		return nil
	}); err != nil {
		return err
	}
	for p, n := range c.providers {
		if stored[p] != n {
			c.report(Disagreement{Index: "providers_in_use", repair: setProvider(p, n),
				Text: fmt.Sprintf("providers_in_use: provider %s has %d open requests in the record, the index says %d", p, n, stored[p])})
		}
	}
	for p, n := range stored {
		if _, ok := c.providers[p]; !ok {
			c.report(Disagreement{Index: "providers_in_use", repair: setProvider(p, 0),
				Text: fmt.Sprintf("providers_in_use: provider %s has no open request in the record, the index says %d", p, n)})
		}
	}
	return nil
}

func setProvider(p string, n int) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		if n == 0 {
			return tx.Bucket(bucketProviders).Delete([]byte(p))
		}
		return tx.Bucket(bucketProviders).Put([]byte(p), binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
}

// compareLog reports where r's record disagrees with s, the log's state of
// it.
func (c *checker) compareLog(r *approvals.Request, s logState) { compareLog(r, s, c.report) }

// compareLog reports to report where r's record disagrees with s, the
// log's state of it.
func compareLog(r *approvals.Request, s logState, report func(Disagreement)) {
	if r.Status != s.status {
		report(Disagreement{RequestID: r.ID, Seq: s.seq,
			Text: fmt.Sprintf("request %s: status %s in the record, %s in the log (event %d)", r.ID, r.Status, s.status, s.seq)})
	}
	if got := nanos(r.ExpiresAt); got != s.expiry {
		report(Disagreement{RequestID: r.ID, Seq: s.seq,
			Text: fmt.Sprintf("request %s: expiry %s in the record, %s in the log (event %d)", r.ID, expiryText(got), expiryText(s.expiry), s.seq)})
	}
}

func both(a, b func(tx *bbolt.Tx) error) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		if err := a(tx); err != nil {
			return err
		}
		return b(tx)
	}
}

func keyTimeText(k []byte) string {
	if len(k) < 8 {
		return fmt.Sprintf("%q", k)
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC().Format(time.RFC3339Nano)
}

func endText(v []byte) string {
	if len(v) == 8 {
		return "at " + keyTimeText(v)
	}
	return "never (in force)"
}

func orNone(id string) string {
	if id == "" {
		return "no request"
	}
	return id
}

// CheckState checks that the record agrees with the audit log and the
// indexes with the record, calling fn with each disagreement, and returns
// an error only when it cannot read the file. It replays the log once,
// keeping for each request only the number of its last event, the status
// after it and its expiry (about 40 bytes a request), then reads every
// request once, and walks each index once. It does not verify the hash
// chain: Verify does.
func (db *DB) CheckState(ctx context.Context, fn func(Disagreement)) error {
	states, head, err := db.replay(ctx)
	if err != nil {
		return err
	}
	var c *checker
	if err := db.view(func(tx *bbolt.Tx) error {
		c = newChecker(tx, fn)
		return c.strayIndexes(tx, true)
	}); err != nil {
		return err
	}
	err = db.scanBucket(ctx, bucketRequests, func(tx *bbolt.Tx, k, v []byte) error {
		r, err := indexedRequest(k, v)
		if err != nil {
			return err
		}
		s, ok := states.take(r.ID)
		if c.v3 {
			// Inside a running serve (the admin socket) requests go on
			// changing: one whose events came after the replay is
			// compared by the next check.
			if now, found := decodeLogState(tx.Bucket(bucketRequestLog).Get(k)); found && now.seq > head {
				c.checkIndexes(tx, r)
				return nil
			}
		}
		if !ok {
			c.report(Disagreement{RequestID: r.ID, Text: fmt.Sprintf("request %s: in the record but no event of it in the log", r.ID)})
		} else {
			c.compareLog(r, s)
			if c.v3 {
				stored, ok := decodeLogState(tx.Bucket(bucketRequestLog).Get(k))
				if !ok || stored != s {
					want := s
					c.report(Disagreement{RequestID: r.ID, Index: "request_log", Seq: s.seq,
						repair: func(tx *bbolt.Tx) error { return tx.Bucket(bucketRequestLog).Put([]byte(r.ID), encodeLogState(want)) },
						Text:   fmt.Sprintf("request %s: request_log says %s, the log says %s", r.ID, logStateText(stored, ok), logStateText(s, true))})
				}
			}
		}
		c.checkIndexes(tx, r)
		return nil
	})
	if err != nil {
		return err
	}
	states.each(func(id string, s logState) {
		c.report(Disagreement{RequestID: id, Seq: s.seq, Text: fmt.Sprintf("request %s: in the log (event %d, %s) but not in the record", id, s.seq, s.status)})
	})
	return db.view(func(tx *bbolt.Tx) error {
		c.reportStray(tx)
		return c.checkProviders(tx)
	})
}

func logStateText(s logState, ok bool) string {
	if !ok {
		return "nothing"
	}
	return fmt.Sprintf("%s, expiry %s (event %d)", s.status, expiryText(s.expiry), s.seq)
}

// want is an index key a record implies.
type want struct {
	key    []byte
	id     string
	status approvals.Status
}

// keyID returns the request an index key names.
func keyID(index string, k, v []byte) string {
	switch index {
	case "open":
		return string(v)
	case "revokes_by_time":
		if len(k) >= 8 {
			return string(k[8:])
		}
		return ""
	}
	return string(k)
}

// missing reports that w's index key is not there: moved, when a stray key
// of the same index names the request.
func (c *checker) missing(tx *bbolt.Tx, index string, w want) {
	id := w.id
	if ix, ok := setIndexNamed(index); ok {
		c.report(missingFromSet(ix, id, w.status))
		return
	}
	d := Disagreement{RequestID: id, Index: index, repair: rewrite(id)}
	stray, moved := c.stray[id][index]
	if moved {
		delete(c.stray[id], index)
		bucket := map[string][]byte{"open": bucketOpen, "revokes_by_time": bucketRevokes}[index]
		d.repair = both(deleteKey(bucket, stray), d.repair)
	}
	switch index {
	case "open":
		switch other := tx.Bucket(bucketOpen).Get(w.key); {
		case moved:
			d.Text = fmt.Sprintf("request %s: %s, but its open key is %q instead of %q (index moved)", id, w.status, stray, w.key)
		case other != nil:
			d.Text = fmt.Sprintf("request %s: %s, but its open key names %s (index changed)", id, w.status, other)
		default:
			d.Text = fmt.Sprintf("request %s: %s, but no open key (index removed)", id, w.status)
		}
	case "revokes_by_time":
		if moved {
			d.Text = fmt.Sprintf("request %s: revoke due at %s but its revokes_by_time key is at %s (index moved)", id, keyTimeText(w.key), keyTimeText(stray))
		} else {
			d.Text = fmt.Sprintf("request %s: revoke due at %s but no revokes_by_time key (index removed)", id, keyTimeText(w.key))
		}
	}
	c.report(d)
}

// missingFromSet is the disagreement of set index ix lacking request id,
// whose status is status.
func missingFromSet(ix setIndex, id string, status approvals.Status) Disagreement {
	return Disagreement{RequestID: id, Index: ix.name, repair: rewrite(id),
		Text: fmt.Sprintf("request %s: %s and %s, but no %s key (index removed)", id, status, ix.waiting, ix.name)}
}

// RepairIndexes mends the repairable disagreements ds (index entries,
// rewritten from the records) in one transaction with one audit event,
// index_repaired, whose Detail names each repair, posted to the audit
// channel. The others are skipped. It returns the disagreements mended.
func (db *DB) RepairIndexes(ctx context.Context, ds []Disagreement, now time.Time) ([]Disagreement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var fixed []Disagreement
	for _, d := range ds {
		if d.Repairable() {
			fixed = append(fixed, d)
		}
	}
	if len(fixed) == 0 {
		return nil, nil
	}
	texts := make([]string, len(fixed))
	for i, d := range fixed {
		texts[i] = d.Text
	}
	ev := approvals.Event{Time: now, Action: approvals.ActionIndexRepaired, Actor: approvals.SystemActor, Outcome: "repaired",
		Detail: fmt.Sprintf("%d index entries did not match the requests and were rewritten from them: %s", len(fixed), strings.Join(texts, "; "))}
	err := db.update(func(tx *bbolt.Tx) error {
		for _, d := range fixed {
			if err := d.repair(tx); err != nil {
				return fmt.Errorf("repair %q: %w", d.Text, err)
			}
		}
		// The event keeps the policy hash of the one before it: it
		// changes no policy, and the start compares the last event's hash
		// with the policy in force.
		e := ev
		if k, v := tx.Bucket(bucketAudit).Cursor().Last(); k != nil {
			if last, err := decodeEvent(k, v); err == nil {
				e.PolicyHash = last.PolicyHash
			}
		}
		if err := db.appendEvents(tx, e); err != nil {
			return err
		}
		return queueNotices(tx, nil, []approvals.Notice{{At: now, Event: &e}})
	})
	if err != nil {
		return nil, err
	}
	db.wakeOutbox()
	return fixed, nil
}

// CheckAtStart is what serve runs before anything else: CheckOpen, then,
// when every disagreement is an index entry, RepairIndexes; when a record
// disagrees with the log it repairs nothing and returns an error naming
// each disagreement, since the record is what grants and revokes act on
// and nothing but a person should decide which side is right.
func (db *DB) CheckAtStart(ctx context.Context, now time.Time) ([]Disagreement, error) {
	var ds []Disagreement
	if err := db.CheckOpen(ctx, func(d Disagreement) { ds = append(ds, d) }); err != nil {
		return nil, err
	}
	var bad []string
	for _, d := range ds {
		if !d.Repairable() {
			bad = append(bad, "  "+d.Text)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("the requests in %s disagree with the audit log; refusing to start (run accessbot audit verify, and restore the file from a backup or correct it):\n%s", db.path, strings.Join(bad, "\n"))
	}
	return db.RepairIndexes(ctx, ds, now)
}
