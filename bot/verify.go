package bot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signature headers and the tolerated clock skew (DESIGN.md A3).
const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
	maxSkew         = 5 * time.Minute
)

// Reasons a request fails verification. They are logged, never sent back.
var (
	errNoSignature  = errors.New("missing signature or timestamp header")
	errBadTimestamp = errors.New("malformed timestamp")
	errStale        = errors.New("timestamp more than 5 minutes from now")
	errBadSignature = errors.New("signature does not match")
)

// verify checks Slack's v0 signature of body: HMAC-SHA256 keyed with the
// signing secret over "v0:" + timestamp + ":" + body, compared in constant
// time, with the timestamp within five minutes of now.
//
// slack.SecretsVerifier does the same but measures staleness against
// time.Now, which an injected clock cannot move; this is that check with
// now passed in.
func verify(h http.Header, body, secret []byte, now time.Time) error {
	if len(secret) == 0 {
		// New refuses an empty secret; this guards against misuse anyway.
		return errBadSignature
	}
	sig, ts := h.Get(headerSignature), h.Get(headerTimestamp)
	if sig == "" || ts == "" {
		return errNoSignature
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(unix, 0)); d > maxSkew || d < -maxSkew {
		return errStale
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}
