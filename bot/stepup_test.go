package bot_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/duo"
	"github.com/accessbot/accessbot/duo/duotest"
)

// duoStepUp adapts the Duo client as cmd/accessbot does: the approver's
// Duo username is their identity under the duo key.
type duoStepUp struct {
	client *duo.Client
	policy func() *approvals.Policy
}

func (d *duoStepUp) Verify(ctx context.Context, approver, reason string) (bool, error) {
	username := d.policy().Identities[approver]["duo"]
	if username == "" {
		return false, errors.New("no duo identity")
	}
	ok, err := d.client.Push(ctx, username, reason)
	if errors.Is(err, duo.ErrNotApproved) {
		return false, nil
	}
	return ok, err
}

// newStepUpHarness runs the bot with step_up: duo on payments-repo-write
// (approver bob, Duo user "bob") against a fake Duo; skey is the key the
// client signs with.
func newStepUpHarness(t *testing.T, skey string) (*harness, *duotest.Server) {
	srv := duotest.NewServer("DIXXXXXXXXXXXXXXXXXX", "duo-secret-key", t.Errorf)
	t.Cleanup(srv.Close)
	client, err := duo.New(duo.Config{BaseURL: srv.URL(), IKey: "DIXXXXXXXXXXXXXXXXXX", SKey: skey,
		Timeout: 300 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var h *harness
	h = newPathsHarness(t, func(pol *approvals.Policy) {
		resource(t, pol, "payments-repo-write").StepUp = "duo"
		pol.Identities[bob]["duo"] = "bob"
	}, func(cfg *approvals.Config) {
		cfg.StepUp = map[string]approvals.StepUp{"duo": &duoStepUp{client: client, policy: func() *approvals.Policy { return h.svc.Policy() }}}
	})
	return h, srv
}

func TestStepUpAllowedApprovalCounts(t *testing.T) {
	h, srv := newStepUpHarness(t, "duo-secret-key")
	srv.Script("bob", duotest.Answer{Result: duotest.Allow, Waits: 2})
	id := h.request(alice, "payments-repo-write", "1h", "INC-5 deploy")
	h.settle()
	ref := h.approvalRef(id)

	// Someone who may not approve is refused without a push.
	h.click(dave, bot.ActionApprove, id, ref)
	h.settle()
	if p := srv.Pushes(); len(p) != 0 {
		t.Fatalf("a non-approver's click pushed: %v", p)
	}
	mustContain(t, "refusal", ephemeralText(h, dave), "not an approver")

	if code := h.click(bob, bot.ActionApprove, id, ref); code != http.StatusOK {
		t.Fatalf("click %d", code)
	}
	h.settle()
	r := h.get(id)
	if r.Status != approvals.StatusActive || !slices.Equal(r.Approvers(), []string{bob}) {
		t.Fatalf("status %s approvers %v; want active, approved by bob", r.Status, r.Approvers())
	}
	pushes := srv.Pushes()
	if len(pushes) != 1 || pushes[0].Username != "bob" || !strings.Contains(pushes[0].PushInfo.Get("reason"), id) {
		t.Errorf("pushes %+v", pushes)
	}
	if ev := pathEvent(t, h.events(id), "approved"); ev.Detail != "step-up: duo" || ev.Actor != bob {
		t.Errorf("approved event actor %s detail %q", ev.Actor, ev.Detail)
	}
}

func TestStepUpRefusals(t *testing.T) {
	tests := []struct {
		name   string
		skey   string
		answer duotest.Answer
		why    string
	}{
		{"denied", "duo-secret-key", duotest.Answer{Result: duotest.Deny}, "denied or timed out"},
		{"timed out at Duo", "duo-secret-key", duotest.Answer{Result: duotest.Timeout, Waits: 1}, "denied or timed out"},
		{"no answer", "duo-secret-key", duotest.Answer{Result: duotest.Never}, "denied or timed out"},
		{"bad signature", "wrong-secret-key", duotest.Answer{Result: duotest.Allow}, "401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, srv := newStepUpHarness(t, tt.skey)
			srv.Script("bob", tt.answer)
			id := h.request(alice, "payments-repo-write", "1h", "INC-6 deploy")
			h.settle()
			ref := h.approvalRef(id)
			if code := h.click(bob, bot.ActionApprove, id, ref); code != http.StatusOK {
				t.Fatalf("click %d", code)
			}
			h.settle()
			r := h.get(id)
			if r.Status != approvals.StatusPending || len(r.Approvals) != 0 {
				t.Fatalf("status %s approvals %v; the click must not count", r.Status, r.Approvers())
			}
			mustContain(t, "refusal", ephemeralText(h, bob), "your Duo push was denied or timed out; your approval did not count")
			evs := h.events(id)
			if got, want := actions(evs), []string{"requested", "step_up_refused"}; !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			ev := pathEvent(t, evs, "step_up_refused")
			if ev.Actor != bob {
				t.Errorf("refused event actor %s", ev.Actor)
			}
			mustContain(t, "refused event detail", ev.Detail, "step-up duo not confirmed", tt.why)
			if strings.Contains(ev.Detail, "secret-key") {
				t.Errorf("the secret key leaked into the log: %s", ev.Detail)
			}
			mustContain(t, "audit post", h.auditPost("step up refused", id), "<@"+bob+">", "did not count")
			// The approval message keeps its buttons: bob may try again.
			if len(h.current(ref).Buttons()) != 2 {
				t.Errorf("approval message buttons %v", h.current(ref).Buttons())
			}
		})
	}
}
