package bot_test

import (
	"net/http"
	"testing"

	"github.com/accessbot/accessbot/bot/slackfake"
)

// The acknowledgement path of /access, measured through the signed HTTP
// handler with the real bbolt store. BenchmarkAckHelp (verify, parse,
// answer: no store access) is the baseline; BenchmarkAckRequest adds the
// policy check and the committed, fsynced request with its audit event,
// which Slack's 3-second deadline must cover. Compare the two in one run:
//
//	go test -run '^$' -bench Ack -count 5 ./bot/
func BenchmarkAckHelp(b *testing.B) {
	h := newHarness(b)
	for b.Loop() {
		w := h.serve(signedCommand(h, alice, "help"))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkAckRequest(b *testing.B) {
	h := newHarness(b)
	for b.Loop() {
		w := h.serve(signedCommand(h, alice, "request payments-admin 1h benchmark"))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		// Withdraw it (also a committed write), off the clock, so the next
		// request is not refused as a duplicate.
		b.StopTimer()
		h.settle()
		rs := h.list(alice)
		if len(rs) != 1 {
			b.Fatalf("%d open requests", len(rs))
		}
		if w := h.serve(signedCommand(h, alice, "revoke "+rs[0].ID)); w.Code != http.StatusOK {
			b.Fatalf("revoke: status %d", w.Code)
		}
		h.settle()
		b.StartTimer()
	}
}

func signedCommand(h *harness, user, text string) *http.Request {
	return slackfake.SignedCommand(secret, h.clock.Now(), h.slack.Command(user, text))
}
