package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/accessbot/accessbot/approvals"
)

// Audit record formats, told apart by the first byte of the stored value
// (drawn in doc.go).
const (
	// formatJSON is schema 1's record: the JSON of the whole event, Hash
	// included. It is read and verified, never written any more.
	formatJSON = '{'
	// formatSHA256 is 0x01, the SHA-256 chain hash (32 bytes), then the
	// body: the JSON of the event with Hash empty.
	formatSHA256 = 0x01
	// formatHMAC is 0x02, the ID of the audit key (8 bytes), the
	// HMAC-SHA-256 chain hash under that key (32 bytes), then the body.
	formatHMAC = 0x02
)

// hashSize is the size of a record's chain hash in binary.
const hashSize = sha256.Size

// keyIDSize is the size of an audit key's ID.
const keyIDSize = 8

// minKeySize is the shortest audit key accepted. A key is a secret, not a
// password: 32 random bytes are what it should be.
const minKeySize = 16

// auditKey is a key that chains audit records with HMAC-SHA-256.
type auditKey struct {
	// id is the first 8 bytes of the SHA-256 of the key, stored in each
	// record made with it, so that Verify knows which key to use.
	id  [keyIDSize]byte
	key []byte
}

func newAuditKey(key []byte) (auditKey, error) {
	if len(key) < minKeySize {
		return auditKey{}, fmt.Errorf("audit key of %d bytes: it must have at least %d (32 random bytes are best)", len(key), minKeySize)
	}
	k := auditKey{key: bytes.Clone(key)}
	sum := sha256.Sum256(key)
	copy(k.id[:], sum[:])
	return k, nil
}

// hasher returns the chain hash of records made with k: HMAC-SHA-256
// under the key, or plain SHA-256 for the zero auditKey.
func (k auditKey) hasher() hash.Hash {
	if k.key == nil {
		return sha256.New()
	}
	return hmac.New(sha256.New, k.key)
}

// keyName is how errors name a key: its ID in hex.
func keyName(id []byte) string { return hex.EncodeToString(id) }

// Fixed parts of a body. json.Marshal writes the fields of approvals.Event
// in declaration order, Seq first and PrevHash, Hash last, so the sequence
// number and the link to the previous record sit at the two ends of the
// body, where Verify reads them without decoding it. encodeRecord checks
// this on every append, so a reordering of the struct cannot go unnoticed.
var (
	bodyStart = []byte(`{"seq":`)
	bodyPrev  = []byte(`"prev_hash":"`)
	bodyEnd   = []byte(`","hash":""}`)
)

// encodeRecord returns the stored value of ev, which must have Seq and
// PrevHash set, and its hash, made with key (the zero auditKey for plain
// SHA-256) and h, key's hasher. The event is encoded once; the hash is
// taken over exactly the bytes stored. ev's strings are made valid UTF-8
// first (as json.Marshal would, byte by byte), so that the body decodes to
// an event that encodes to the same bytes again, and the decoded event's
// ChainHash is the hash of an unkeyed record.
func encodeRecord(key auditKey, h hash.Hash, ev approvals.Event) (v []byte, sum [hashSize]byte, err error) {
	ev.Hash = ""
	validStrings(&ev)
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, sum, fmt.Errorf("encode audit event: %w", err)
	}
	if seq, ok := bodySeq(body); !ok || seq != ev.Seq {
		return nil, sum, fmt.Errorf("encode audit event: the body does not start with its sequence number: %.40s", body)
	}
	if prev, ok := bodyPrevHash(body); !ok || string(prev) != ev.PrevHash {
		return nil, sum, fmt.Errorf("encode audit event: the body does not end with the previous hash")
	}
	chainSum(h, &sum, []byte(ev.PrevHash), body)
	v = make([]byte, 0, 1+keyIDSize+hashSize+len(body))
	if key.key == nil {
		v = append(v, formatSHA256)
	} else {
		v = append(v, formatHMAC)
		v = append(v, key.id[:]...)
	}
	v = append(v, sum[:]...)
	return append(v, body...), sum, nil
}

// chainSum sets sum to the chain hash of a body whose previous record has
// hash prev (hex): the hash of prev, a newline and the body, which is
// approvals.Event.ChainHash of the body's event.
func chainSum(h hash.Hash, sum *[hashSize]byte, prev, body []byte) {
	h.Reset()
	h.Write(prev)
	h.Write(newline)
	h.Write(body)
	h.Sum(sum[:0])
}

// newline is a variable so that hashing it allocates nothing.
var newline = []byte{'\n'}

// record is a stored audit value split into its parts.
type record struct {
	format byte
	// keyID is the audit key's ID, for formatHMAC.
	keyID []byte
	// sum is the stored hash, but for formatJSON.
	sum []byte
	// body is the JSON; for formatJSON, the whole value.
	body []byte
}

// splitRecord parses the header of stored value v. It neither decodes nor
// copies the body.
func splitRecord(v []byte) (record, error) {
	if len(v) == 0 {
		return record{}, fmt.Errorf("empty record")
	}
	minBody := len(bodyStart) + len(bodyEnd)
	switch v[0] {
	case formatJSON:
		return record{format: formatJSON, body: v}, nil
	case formatSHA256:
		if len(v) < 1+hashSize+minBody {
			return record{}, fmt.Errorf("record of %d bytes is too short", len(v))
		}
		return record{format: formatSHA256, sum: v[1 : 1+hashSize], body: v[1+hashSize:]}, nil
	case formatHMAC:
		if len(v) < 1+keyIDSize+hashSize+minBody {
			return record{}, fmt.Errorf("record of %d bytes is too short", len(v))
		}
		h := 1 + keyIDSize
		return record{format: formatHMAC, keyID: v[1:h], sum: v[h : h+hashSize], body: v[h+hashSize:]}, nil
	}
	return record{}, fmt.Errorf("unknown record format 0x%02x", v[0])
}

// decodeEvent decodes the audit record under key k. The event shares no
// memory with v.
func decodeEvent(k, v []byte) (approvals.Event, error) {
	var ev approvals.Event
	rec, err := splitRecord(v)
	if err == nil {
		err = json.Unmarshal(rec.body, &ev)
	}
	if err != nil {
		return ev, fmt.Errorf("audit record %s: %w", recordName(k), err)
	}
	if rec.format != formatJSON {
		ev.Hash = hex.EncodeToString(rec.sum)
	}
	return ev, nil
}

// bodySeq reads the sequence number at the start of a body, in the form
// json.Marshal writes it (decimal digits, no leading zero, then a comma).
// It is on Verify's path for every record, so it parses by hand.
func bodySeq(body []byte) (uint64, bool) {
	if !bytes.HasPrefix(body, bodyStart) {
		return 0, false
	}
	digits := body[len(bodyStart):]
	var seq uint64
	for i, c := range digits {
		switch {
		case c == ',' && i > 0 && (i == 1 || digits[0] != '0'):
			return seq, true
		case c < '0' || c > '9' || i == 20 || seq > (math.MaxUint64-9)/10:
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return 0, false
}

// bodyPrevHash returns the previous hash at the end of a body: empty, or 64
// hex digits.
func bodyPrevHash(body []byte) ([]byte, bool) {
	if !bytes.HasSuffix(body, bodyEnd) {
		return nil, false
	}
	t := body[:len(body)-len(bodyEnd)]
	if bytes.HasSuffix(t, bodyPrev) {
		return t[len(t):], true
	}
	if n := len(t) - 2*hashSize; n >= len(bodyPrev) && bytes.HasSuffix(t[:n], bodyPrev) {
		return t[n:], true
	}
	return nil, false
}

// validStrings replaces, in every string of ev, each byte that is not part
// of valid UTF-8 with U+FFFD, as json.Marshal does when it writes them.
func validStrings(ev *approvals.Event) {
	for _, s := range []*string{
		&ev.Action, &ev.Actor, &ev.RequestID, &ev.Resource, &ev.Provider,
		&ev.Requester, &ev.Identity, &ev.Reason, &ev.Outcome, &ev.Detail,
		&ev.PolicyHash, &ev.PrevHash,
	} {
		*s = validUTF8(*s)
	}
	if !allValid(ev.Approvers) {
		approvers := make([]string, len(ev.Approvers))
		for i, a := range ev.Approvers {
			approvers[i] = validUTF8(a)
		}
		ev.Approvers = approvers
	}
}

func allValid(ss []string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
