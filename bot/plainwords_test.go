package bot_test

import (
	"strings"
	"testing"
)

// TestPlainWords checks the forgiving side of /access: durations in
// words, resource names in any case, suggestions for typos (only of what
// the user may request), and counts in English.
func TestPlainWords(t *testing.T) {
	h := newHarness(t)

	rep := h.command(alice, "request PAYMENTS-ADMIN 90 minutes INC-7 rollout")
	mustContain(t, "reply", rep.Text, "filed: *payments-admin* for *1h30m*")

	rep = h.command(alice, "request payments-repo-wrte 2 hrs fix")
	mustContain(t, "reply", rep.Text, `unknown resource "payments-repo-wrte"; did you mean payments-repo-write?`)

	// Alice has no postgres account: prod-db-read is not hers to request,
	// so it is never suggested to her.
	rep = h.command(alice, "request prod-db-raed 1h fix")
	mustContain(t, "reply", rep.Text, `unknown resource "prod-db-raed"`)
	if strings.Contains(rep.Text, "did you mean") {
		t.Errorf("suggested a resource alice may not request: %q", rep.Text)
	}

	rep = h.command(alice, "reqest payments-admin 1h fix")
	mustContain(t, "reply", rep.Text, "did you mean /access request?")

	rep = h.command(alice, "resources")
	mustContain(t, "resources", rep.Text, "1 approval from", "2 approvals from")
	if strings.Contains(rep.Text, "(s)") {
		t.Errorf("resources says (s): %q", rep.Text)
	}
}
