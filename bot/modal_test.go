package bot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// modalElement returns the element of input block blockID of a view.
func modalElement(t *testing.T, view json.RawMessage, blockID string) map[string]any {
	t.Helper()
	var v struct {
		Blocks []struct {
			BlockID        string         `json:"block_id"`
			DispatchAction bool           `json:"dispatch_action"`
			Hint           map[string]any `json:"hint"`
			Label          map[string]any `json:"label"`
			Element        map[string]any `json:"element"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(view, &v); err != nil {
		t.Fatal(err)
	}
	for _, b := range v.Blocks {
		if b.BlockID == blockID {
			el := b.Element
			el["_hint"], el["_label"], el["_dispatch"] = b.Hint["text"], b.Label["text"], b.DispatchAction
			return el
		}
	}
	t.Fatalf("no block %s in %s", blockID, view)
	return nil
}

// optionValues lists the values of a select's options.
func optionValues(el map[string]any) []string {
	var out []string
	opts, _ := el["options"].([]any)
	for _, o := range opts {
		out = append(out, o.(map[string]any)["value"].(string))
	}
	return out
}

// TestRequestModalDurations: the form's durations go up to the largest
// maximum until a resource is chosen, then up to that resource's own;
// Submit refuses more than the resource allows, next to the duration.
func TestRequestModalDurations(t *testing.T) {
	h := newHarness(t)
	if rep := h.command(alice, "request"); rep.Text != "" {
		t.Fatalf("/access request answered %q", rep.Text)
	}
	views := h.slack.Views()
	if len(views) != 1 {
		t.Fatalf("%d views opened", len(views))
	}
	dur := modalElement(t, views[0].View, bot.BlockModalDuration)
	// alice may request payments-admin (4h), payments-repo-write (8h) and
	// sre-oncall (1h).
	if got, want := optionValues(dur), []string{"15m", "30m", "1h", "2h", "4h", "8h"}; !slices.Equal(got, want) {
		t.Errorf("durations %v, want %v", got, want)
	}
	res := modalElement(t, views[0].View, bot.BlockModalResource)
	if res["type"] != "static_select" || res["_dispatch"] != true {
		t.Errorf("resource menu %v, want a static_select that dispatches its choice", res)
	}
	reason := modalElement(t, views[0].View, bot.BlockModalReason)
	mustContain(t, "reason field", fmt.Sprint(reason["_label"], reason["_hint"]), "500 characters")
	if reason["max_length"] != float64(approvals.MaxReasonLength) {
		t.Errorf("reason max_length %v", reason["max_length"])
	}

	// Choosing sre-oncall narrows the durations to its hour.
	w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(),
		h.slack.ModalSelect(alice, "V0MODAL", bot.CallbackRequestModal, bot.BlockModalResource, bot.ActionModalResource, "static_select", "sre-oncall")))
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("resource choice: status %d, body %q", w.Code, w.Body.String())
	}
	h.bot.Wait()
	updates := h.slack.CallsTo("views.update")
	if len(updates) != 1 || updates[0].Error != "" || updates[0].TS != "V0MODAL" {
		t.Fatalf("views.update calls %+v", updates)
	}
	dur = modalElement(t, updates[0].View, bot.BlockModalDuration)
	if got, want := optionValues(dur), []string{"15m", "30m", "1h"}; !slices.Equal(got, want) {
		t.Errorf("durations of sre-oncall %v, want %v", got, want)
	}
	res = modalElement(t, updates[0].View, bot.BlockModalResource)
	if init, _ := res["initial_option"].(map[string]any); init["value"] != "sre-oncall" {
		t.Errorf("the chosen resource is not kept: %v", res["initial_option"])
	}

	submit := func(resource, d string) map[string]any {
		t.Helper()
		payload := h.slack.ViewSubmission(alice, bot.CallbackRequestModal, "", map[string]map[string]slackfake.Input{
			bot.BlockModalResource: {bot.ActionModalResource: {Type: "static_select", Value: resource}},
			bot.BlockModalDuration: {bot.ActionModalDuration: {Type: "static_select", Value: d}},
			bot.BlockModalReason:   {bot.ActionModalReason: {Type: "plain_text_input", Value: "INC-7 on call"}},
		})
		w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload))
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("submission answer %q: %v", w.Body.String(), err)
		}
		return got
	}
	// 2h was offered before the choice; sre-oncall allows 1h.
	got := submit("sre-oncall", "2h")
	errs, _ := got["errors"].(map[string]any)
	if got["response_action"] != "errors" || errs[bot.BlockModalDuration] == nil {
		t.Fatalf("2h of sre-oncall: %v", got)
	}
	if len(h.list(alice)) != 0 {
		t.Fatal("a refused submission filed a request")
	}
	if got := submit("sre-oncall", "30m"); got["response_action"] != "update" {
		t.Fatalf("30m of sre-oncall: %v", got)
	}
	if rs := h.list(alice); len(rs) != 1 || rs[0].Duration != 30*time.Minute {
		t.Fatalf("requests %v", rs)
	}
}

// TestResourceOptions: the resource menu's options load (block_suggestion)
// answers with the matching resources the user may request, over HTTP and
// over Socket Mode, within Slack's limits.
func TestResourceOptions(t *testing.T) {
	h := newHarness(t)
	payload := h.slack.BlockSuggestion(alice, bot.CallbackRequestModal, bot.BlockModalResource, bot.ActionModalResource, "PAY")
	w := h.serve(slackfake.SignedInteraction(secret, h.clock.Now(), payload))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("block_suggestion: status %d, type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if problems := slackfake.CheckOptions(w.Body.Bytes()); len(problems) > 0 {
		t.Fatalf("options break Slack's limits: %v", problems)
	}
	got := optionValues(map[string]any{"options": decodeOptions(t, w.Body.Bytes())})
	if want := []string{"payments-admin", "payments-repo-write"}; !slices.Equal(got, want) {
		t.Errorf("options for PAY: %v, want %v", got, want)
	}
	// erin may request nothing: an empty list, not an error.
	w = h.serve(slackfake.SignedInteraction(secret, h.clock.Now(),
		h.slack.BlockSuggestion(erin, bot.CallbackRequestModal, bot.BlockModalResource, bot.ActionModalResource, "")))
	if strings.TrimSpace(w.Body.String()) != `{"options":[]}` {
		t.Errorf("options for erin: %q", w.Body.String())
	}
}

func decodeOptions(t *testing.T, body []byte) []any {
	t.Helper()
	var v struct{ Options []any }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Options
}
