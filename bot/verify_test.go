package bot

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/slackfake"
)

// Slack's published signing example (DESIGN.md Part C).
const (
	exampleSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTimestamp = 1531420618
	exampleBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestVerifyKnownAnswer(t *testing.T) {
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", exampleSignature)
	at := time.Unix(exampleTimestamp, 0)

	cases := []struct {
		name   string
		body   string
		secret string
		now    time.Time
		want   error
	}{
		{"slack's example", exampleBody, exampleSecret, at, nil},
		{"4m59s later", exampleBody, exampleSecret, at.Add(4*time.Minute + 59*time.Second), nil},
		{"5m1s later", exampleBody, exampleSecret, at.Add(5*time.Minute + time.Second), errStale},
		{"5m1s earlier", exampleBody, exampleSecret, at.Add(-5*time.Minute - time.Second), errStale},
		{"other secret", exampleBody, exampleSecret + "x", at, errBadSignature},
		{"empty secret", exampleBody, "", at, errBadSignature},
		{"changed body", strings.Replace(exampleBody, "roadrunner", "coyote", 1), exampleSecret, at, errBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := verify(h, []byte(tc.body), []byte(tc.secret), tc.now); got != tc.want {
				t.Errorf("verify = %v, want %v", got, tc.want)
			}
		})
	}
	// The fake signs the way Slack does.
	if got := slackfake.Sign(exampleSecret, exampleTimestamp, []byte(exampleBody)); got != exampleSignature {
		t.Errorf("slackfake.Sign = %s, want %s", got, exampleSignature)
	}
}

func TestVerifyMalformedHeaders(t *testing.T) {
	at := time.Unix(exampleTimestamp, 0)
	cases := []struct {
		name, ts, sig string
		want          error
	}{
		{"no headers", "", "", errNoSignature},
		{"no signature", "1531420618", "", errNoSignature},
		{"no timestamp", "", exampleSignature, errNoSignature},
		{"timestamp not a number", "soon", exampleSignature, errBadTimestamp},
		{"no v0 prefix", "1531420618", strings.TrimPrefix(exampleSignature, "v0="), errBadSignature},
		{"not hex", "1531420618", "v0=zz", errBadSignature},
		{"short", "1531420618", exampleSignature[:20], errBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.ts != "" {
				h.Set("X-Slack-Request-Timestamp", tc.ts)
			}
			if tc.sig != "" {
				h.Set("X-Slack-Signature", tc.sig)
			}
			if got := verify(h, []byte(exampleBody), []byte(exampleSecret), at); got != tc.want {
				t.Errorf("verify = %v, want %v", got, tc.want)
			}
		})
	}
}
