package store

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/accessbot/accessbot/approvals"
)

// The functions below give other stores (store/pgstore) the audit record
// format of this package, so that an audit log kept elsewhere holds the
// same bytes and the same chain as the bbolt file and is verified the same
// way. They wrap the unexported encoders rather than copy them: there is
// one encoding of a record and one chain hash.

// EncodeAuditRecord returns the stored value of ev as the record after one
// whose hash is prevHash ("" for the first record), and its chain hash in
// hex, in the unkeyed format (0x01, the SHA-256 chain hash, the body; see
// doc.go). ev.Seq must be set; ev.PrevHash and ev.Hash are ignored. The
// caller prepares ev as DB.appendEvents does: Time set (now when unset)
// and in UTC, ExpiresAt in UTC. Keyed records are not offered here yet.
func EncodeAuditRecord(ev approvals.Event, prevHash string) (value []byte, hash string, err error) {
	ev.PrevHash = prevHash
	v, sum, err := encodeRecord(auditKey{}, sha256.New(), ev)
	if err != nil {
		return nil, "", err
	}
	return v, hex.EncodeToString(sum[:]), nil
}

// DecodeAuditRecord decodes the stored value of audit record seq, in any
// format this package writes or reads, and fills in Hash. The event shares
// no memory with value.
func DecodeAuditRecord(seq uint64, value []byte) (approvals.Event, error) {
	return decodeEvent(seqKey(seq), value)
}

// AuditVerifier checks stored audit records one after the other, from
// record 1 on, as DB.Verify does: for a store that keeps the same records
// elsewhere. It knows no audit keys, so a keyed record fails, as it does
// in Verify without keys.
type AuditVerifier struct{ vf *verifier }

// NewAuditVerifier returns a verifier that expects record 1 next.
func NewAuditVerifier() *AuditVerifier {
	return &AuditVerifier{vf: (&DB{}).newVerifier()}
}

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
