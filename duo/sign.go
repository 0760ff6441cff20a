package duo

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// Canonical returns Duo's canonical form of a request (signature version
// 2): the Date header, the method in upper case, the host in lower case,
// the path, and the parameters sorted by name (then value) and URL-encoded
// with %20 for spaces, joined by newlines.
//
// Docs: https://duo.com/docs/authapi#authentication
func Canonical(date, method, host, path string, params url.Values) string {
	return strings.Join([]string{date, strings.ToUpper(method), strings.ToLower(host), path, canonParams(params)}, "\n")
}

// canonParams encodes params as Duo canonicalizes them: keys sorted,
// values of one key sorted, RFC 3986 escaping with "~" left alone and
// spaces as %20.
func canonParams(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape is url.QueryEscape with %20 for a space, which is what Duo's
// clients send (Python's quote(s, "~")).
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Signature returns the hex HMAC-SHA512 of the canonical request under
// skey: the password of the request's HTTP Basic credentials, the
// integration key being the user name. Duo also accepts HMAC-SHA1; its
// own clients sign with SHA-512.
func Signature(skey, canonical string) string {
	mac := hmac.New(sha512.New, []byte(skey))
	mac.Write([]byte(canonical))
	return hex.EncodeToString(mac.Sum(nil))
}

// authorization returns the Authorization header of a signed request.
func authorization(ikey, skey, canonical string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(ikey+":"+Signature(skey, canonical)))
}
