package bot

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestHomeViewLimits: however much there is to show, a Home stays within
// Slack's limits and says what it left out.
func TestHomeViewLimits(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	mk := func(n int, status approvals.Status) []*approvals.Request {
		var out []*approvals.Request
		for i := range n {
			out = append(out, &approvals.Request{
				ID: fmt.Sprintf("ar-%s-%03d", status, i), Requester: "U0ALICE", Resource: "payments-admin",
				Provider: "github", Identity: "alice-gh", Duration: time.Hour, Reason: strings.Repeat("<!channel> ", 300),
				Required: 1, Status: status, CreatedAt: at, GrantedAt: at, ExpiresAt: at.Add(time.Hour), EndedAt: at,
				EndedBy: "U0BOB",
			})
		}
		return out
	}
	mine := append(mk(40, approvals.StatusActive), mk(40, approvals.StatusPending)...)
	view := homeView(mine, mk(60, approvals.StatusPending), mk(9, approvals.StatusRevoked))
	raw, err := json.Marshal(view)
	if err != nil {
		t.Fatal(err)
	}
	if problems := slackfake.CheckHomeView(raw); len(problems) > 0 {
		t.Fatalf("Home breaks Slack's limits:\n%s", strings.Join(problems, "\n"))
	}
	text := slackfake.Call{View: raw}.AllText()
	for _, want := range []string{"and 30 more", "and 45 more"} {
		if !strings.Contains(text, want) {
			t.Errorf("Home does not say %q", want)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Error("a reason's <!channel> is live on the Home")
	}
}
