package store

import (
	"encoding/hex"

	"github.com/accessbot/accessbot/approvals"
)

// The functions below give other stores (store/pgstore) the audit record
// format of this package, so that an audit log kept elsewhere holds the
// same bytes and the same chain as the bbolt file and is verified the same
// way. They wrap the unexported encoders rather than copy them: there is
// one encoding of a record and one chain hash.

// AuditChain makes and checks audit records with the audit keys of
// Options (AuditKey writes, AuditKeys verify too), as a DB opened with
// them does. A nil *AuditChain, or one made without keys, is the plain
// SHA-256 chain.
type AuditChain struct{ keys []auditKey }

// NewAuditChain returns the chain of opts' audit keys; the other options
// are ignored. It refuses a key shorter than 16 bytes.
func NewAuditChain(opts Options) (*AuditChain, error) {
	keys, err := auditKeys(opts)
	if err != nil {
		return nil, err
	}
	return &AuditChain{keys: keys}, nil
}

func (c *AuditChain) auditKeys() []auditKey {
	if c == nil {
		return nil
	}
	return c.keys
}

// Keyed says whether new records are chained with a key.
func (c *AuditChain) Keyed() bool { return len(c.auditKeys()) > 0 }

// Encode returns the stored value of ev as the record after one whose
// hash is prevHash ("" for the first record), and its chain hash in hex:
// keyed with the writing key (0x02, its ID, the HMAC-SHA-256 chain hash,
// the body) or, without keys, unkeyed (0x01, the SHA-256 chain hash, the
// body; see doc.go). ev.Seq must be set; ev.PrevHash and ev.Hash are
// ignored. The caller prepares ev as DB.appendEvents does: Time set (now
// when unset) and in UTC, ExpiresAt in UTC.
func (c *AuditChain) Encode(ev approvals.Event, prevHash string) (value []byte, hash string, err error) {
	ev.PrevHash = prevHash
	key := writeKey(c.auditKeys())
	v, sum, err := encodeRecord(key, key.hasher(), ev)
	if err != nil {
		return nil, "", err
	}
	return v, hex.EncodeToString(sum[:]), nil
}

// Verifier returns a verifier, expecting record 1 next, that knows the
// chain's keys.
func (c *AuditChain) Verifier() *AuditVerifier {
	return &AuditVerifier{vf: newVerifier(c.auditKeys())}
}

// CheckLast refuses to append after value, the last stored record
// (record seq), when it is keyed and its key is not among the chain's: a
// store opened without the key must not go on with a plain chain.
func (c *AuditChain) CheckLast(seq uint64, value []byte) error {
	return checkLastRecord(c.auditKeys(), recordName(seqKey(seq)), value)
}

// CheckAnchored checks that value, stored as record n, carries hash hash
// and that its stored hash is right under the chain's keys, as
// DB.VerifyAnchor does.
func (c *AuditChain) CheckAnchored(n uint64, value []byte, hash string) error {
	return checkAnchored(c.auditKeys(), n, value, hash)
}

// EncodeAuditRecord is Encode of the plain SHA-256 chain.
func EncodeAuditRecord(ev approvals.Event, prevHash string) (value []byte, hash string, err error) {
	return (*AuditChain)(nil).Encode(ev, prevHash)
}

// DecodeAuditRecord decodes the stored value of audit record seq, in any
// format this package writes or reads, and fills in Hash. The event shares
// no memory with value.
func DecodeAuditRecord(seq uint64, value []byte) (approvals.Event, error) {
	return decodeEvent(seqKey(seq), value)
}

// AuditVerifier checks stored audit records one after the other, from
// record 1 on, as DB.Verify does: for a store that keeps the same records
// elsewhere. One made by NewAuditVerifier knows no audit keys, so a keyed
// record fails, as it does in Verify without keys; AuditChain.Verifier
// knows the chain's.
type AuditVerifier struct{ vf *verifier }

// NewAuditVerifier returns a verifier that expects record 1 next.
func NewAuditVerifier() *AuditVerifier { return (*AuditChain)(nil).Verifier() }

// Check verifies value, stored as record seq, which must be the record
// after the last one checked. It returns an error naming the record and
// what is wrong with it (changed, removed, inserted, reordered).
func (v *AuditVerifier) Check(seq uint64, value []byte) error {
	return v.vf.check(seqKey(seq), value)
}

// Result describes the records checked so far: their number and the
// hash of the last one, which the store's head must match.
func (v *AuditVerifier) Result() VerifyResult {
	return VerifyResult{Count: v.vf.count, Head: string(v.vf.prev), KeyedFrom: v.vf.keyedFrom}
}
