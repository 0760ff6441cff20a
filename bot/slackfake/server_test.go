package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot/slackfake"
)

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func TestPostUpdateAndRecord(t *testing.T) {
	s := slackfake.NewServer(t)
	c := s.Client()
	ctx := context.Background()

	ch, ts, err := c.PostMessageContext(ctx, "C1", slack.MsgOptionText("hello", false), slack.MsgOptionBlocks(section("*hi*")))
	if err != nil || ch != "C1" || ts == "" {
		t.Fatalf("post: %q %q %v", ch, ts, err)
	}
	_, ts2, err := c.PostMessageContext(ctx, "C1", slack.MsgOptionText("again", false))
	if err != nil || ts2 <= ts {
		t.Fatalf("second ts %q not after %q (%v)", ts2, ts, err)
	}
	if _, _, _, err := c.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("edited", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.UpdateMessageContext(ctx, "C1", "1.2", slack.MsgOptionText("x", false)); err == nil || err.Error() != "message_not_found" {
		t.Errorf("update of a missing message: %v", err)
	}
	posts := s.Posts("C1")
	if len(posts) != 2 || posts[0].Text != "hello" || !strings.Contains(posts[0].AllText(), "*hi*") {
		t.Errorf("posts %+v", posts)
	}
	if m, ok := s.Message("C1", ts); !ok || m.Text != "edited" {
		t.Errorf("message after update: %+v", m)
	}
	if u := s.Updates(); len(u) != 1 || u[0].TS != ts {
		t.Errorf("updates %+v", u)
	}

	dm, _, _, err := c.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U1"}})
	if err != nil || dm.ID != slackfake.DMChannel("U1") {
		t.Fatalf("conversations.open: %+v %v", dm, err)
	}
	if _, err := c.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("psst", false)); err != nil {
		t.Fatal(err)
	}
	if err := postResponseURL(c, s.ResponseURL("U2"), "via response_url"); err != nil {
		t.Fatal(err)
	}
	if e := s.Ephemerals("U1"); len(e) != 1 || e[0].Text != "psst" {
		t.Errorf("ephemerals to U1: %+v", e)
	}
	if e := s.Ephemerals("U2"); len(e) != 1 || e[0].Text != "via response_url" || e[0].ReplaceOriginal {
		t.Errorf("ephemerals to U2: %+v", e)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

func postResponseURL(c *slack.Client, url, text string) error {
	_, _, err := c.PostMessageContext(context.Background(), "", slack.MsgOptionText(text, false),
		slack.MsgOptionResponseURL(url, slack.ResponseTypeEphemeral))
	return err
}

func TestBlockKitLimits(t *testing.T) {
	button := func(actionID, value string) slack.Block {
		return slack.NewActionBlock("", slack.NewButtonBlockElement(actionID, value,
			slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false)))
	}
	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = section(fmt.Sprint(i))
	}
	cases := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"51 blocks", many, "51 blocks, max 50"},
		{"section text", []slack.Block{section(strings.Repeat("x", 3001))}, "3001 characters, max 3000"},
		{"section text in UTF-16", []slack.Block{section(strings.Repeat("😀", 1501))}, "3002 characters, max 3000"},
		{"button value", []slack.Block{button("a", strings.Repeat("v", 2001))}, "value is 2001 characters, max 2000"},
		{"action_id", []slack.Block{button(strings.Repeat("a", 256), "v")}, "action_id is 256 characters, max 255"},
		{"empty text", []slack.Block{section("")}, "text is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := slackfake.NewServer(t)
			_, _, err := s.Client().PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false), slack.MsgOptionBlocks(tc.blocks...))
			if err == nil || err.Error() != "invalid_blocks" {
				t.Errorf("error %v, want invalid_blocks", err)
			}
			v := s.Violations()
			if len(v) != 1 || !strings.Contains(v[0], tc.want) {
				t.Errorf("violations %q, want one containing %q", v, tc.want)
			}
			if len(s.Posts("")) != 0 {
				t.Errorf("a refused post was recorded as posted")
			}
		})
	}
	s := slackfake.NewServer(t)
	ok := []slack.Block{section(strings.Repeat("x", 3000)), button("approve", strings.Repeat("v", 2000))}
	if _, _, err := s.Client().PostMessageContext(context.Background(), "C1", slack.MsgOptionBlocks(ok...)); err != nil {
		t.Errorf("blocks at the limits refused: %v %v", err, s.Violations())
	}
}

func TestFailNext(t *testing.T) {
	s := slackfake.NewServer(t)
	s.FailNext("chat.postMessage", 1, slackfake.RateLimited(7))
	s.FailNext("chat.postMessage", 1, slackfake.Error("channel_not_found"))
	c := s.Client()
	_, _, err := c.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Errorf("first call: %v, want a rate limit of 7s", err)
	}
	if _, _, err := c.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Errorf("second call: %v", err)
	}
	if _, _, err := c.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("third call: %v", err)
	}
	calls := s.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Error != "ratelimited" || calls[1].Error != "channel_not_found" || calls[2].Error != "" {
		t.Errorf("calls %+v", calls)
	}
	if len(s.Posts("C1")) != 1 {
		t.Errorf("failed calls counted as posts")
	}
}

func TestNotAuthed(t *testing.T) {
	s := slackfake.NewServer(t)
	c := slack.New("", slack.OptionAPIURL(s.APIURL()))
	if _, _, err := c.PostMessageContext(context.Background(), "C1", slack.MsgOptionText("x", false)); err == nil || err.Error() != "not_authed" {
		t.Errorf("no token: %v", err)
	}
}

func TestViewsOpen(t *testing.T) {
	s := slackfake.NewServer(t)
	plain := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	view := slack.ModalViewRequest{
		Type:  slack.VTModal,
		Title: plain("A title"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("b", plain("Label"), nil, slack.NewPlainTextInputBlockElement(nil, "a")),
		}},
	}
	resp, err := s.Client().OpenViewContext(context.Background(), "1.2.3", view)
	if err != nil || resp.ID == "" {
		t.Fatalf("views.open: %+v %v", resp, err)
	}
	view.Title = plain("A title longer than 24 characters")
	if _, err := s.Client().OpenViewContext(context.Background(), "1.2.3", view); err == nil {
		t.Errorf("a long title was accepted")
	}
	if v := s.Views(); len(v) != 1 || v[0].TriggerID != "1.2.3" {
		t.Errorf("views %+v", v)
	}
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "view.title") {
		t.Errorf("violations %v", v)
	}
}

func TestPayloads(t *testing.T) {
	s := slackfake.NewServer(t)
	var ic slack.InteractionCallback
	if err := json.Unmarshal(s.BlockActions("U1", "approve", "ar-1", "C1", "1700000001.000100"), &ic); err != nil {
		t.Fatal(err)
	}
	if ic.Type != slack.InteractionTypeBlockActions || ic.User.ID != "U1" || ic.Channel.ID != "C1" ||
		len(ic.ActionCallback.BlockActions) != 1 || ic.ActionCallback.BlockActions[0].ActionID != "approve" ||
		ic.ActionCallback.BlockActions[0].Value != "ar-1" || ic.Container.MessageTs != "1700000001.000100" {
		t.Errorf("decoded %+v", ic)
	}
	var vs slack.InteractionCallback
	payload := s.ViewSubmission("U1", "cb", "meta", map[string]map[string]slackfake.Input{
		"b1": {"a1": {Type: "static_select", Value: "x"}},
		"b2": {"a2": {Type: "plain_text_input", Value: "y"}},
	})
	if err := json.Unmarshal(payload, &vs); err != nil {
		t.Fatal(err)
	}
	if vs.Type != slack.InteractionTypeViewSubmission || vs.View.CallbackID != "cb" || vs.View.PrivateMetadata != "meta" ||
		vs.View.State.Values["b1"]["a1"].SelectedOption.Value != "x" || vs.View.State.Values["b2"]["a2"].Value != "y" {
		t.Errorf("decoded %+v", vs)
	}

	now := time.Unix(1700000000, 0)
	r := slackfake.SignedCommand("secret", now, s.Command("U1", "help"))
	if r.Method != http.MethodPost || r.URL.Path != slackfake.CommandsPath || r.Header.Get("X-Slack-Request-Timestamp") != "1700000000" {
		t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("text") != "help" || r.PostForm.Get("trigger_id") == "" {
		t.Errorf("form %v %v", r.PostForm, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := slackfake.NewServer(t)
	c := s.Client()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, _, err := c.PostMessageContext(context.Background(), "C1", slack.MsgOptionText(fmt.Sprint(i), false)); err != nil {
				t.Error(err)
			}
			_ = s.Posts("C1")
		})
	}
	wg.Wait()
	s.WaitFor(t, func() bool { return len(s.Posts("C1")) == 20 }, time.Second)
	seen := map[string]bool{}
	for _, p := range s.Posts("C1") {
		if seen[p.TS] {
			t.Errorf("ts %s given twice", p.TS)
		}
		seen[p.TS] = true
	}
}

func TestUserGroupMembers(t *testing.T) {
	s := slackfake.NewServer(t)
	c := s.Client()
	ctx := context.Background()
	s.SetGroup("S0OPS", "U1", "U2")
	got, err := c.GetUserGroupMembersContext(ctx, "S0OPS")
	if err != nil || strings.Join(got, ",") != "U1,U2" {
		t.Fatalf("members = %v, %v; want U1,U2", got, err)
	}
	s.SetGroup("S0OPS", "U2")
	if got, err := c.GetUserGroupMembersContext(ctx, "S0OPS"); err != nil || strings.Join(got, ",") != "U2" {
		t.Fatalf("members after a change = %v, %v; want U2", got, err)
	}
	s.SetGroup("S0EMPTY")
	if got, err := c.GetUserGroupMembersContext(ctx, "S0EMPTY"); err != nil || len(got) != 0 {
		t.Fatalf("empty group = %v, %v", got, err)
	}
	if _, err := c.GetUserGroupMembersContext(ctx, "S0NONE"); err == nil || err.Error() != "no_such_subteam" {
		t.Fatalf("unknown group: %v, want no_such_subteam", err)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}
