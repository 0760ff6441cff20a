package slackfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Paths of the bot's endpoints (DESIGN.md A3).
const (
	CommandsPath     = "/slack/commands"
	InteractionsPath = "/slack/interactions"
	EventsPath       = "/slack/events"
)

// Sign returns the X-Slack-Signature Slack sends with body at timestamp:
// "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", timestamp)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest returns a server-side POST request to path with a
// form-encoded body, signed with secret at now, as Slack sends it. Pass it
// to a handler's ServeHTTP.
func SignedRequest(secret string, now time.Time, path string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ts := now.Unix()
	r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	r.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	return r
}

// SignedCommand returns a signed POST /slack/commands carrying form.
func SignedCommand(secret string, now time.Time, form url.Values) *http.Request {
	return SignedRequest(secret, now, CommandsPath, []byte(form.Encode()))
}

// SignedInteraction returns a signed POST /slack/interactions whose form
// field payload is payload.
func SignedInteraction(secret string, now time.Time, payload []byte) *http.Request {
	body := url.Values{"payload": {string(payload)}}.Encode()
	return SignedRequest(secret, now, InteractionsPath, []byte(body))
}

// SignedEvent returns a signed POST /slack/events whose JSON body is
// body, as the Events API sends it.
func SignedEvent(secret string, now time.Time, body []byte) *http.Request {
	r := SignedRequest(secret, now, EventsPath, body)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// URLVerification returns the body Slack posts to an Events API request
// URL when it is set, to check the app answers with challenge.
func URLVerification(challenge string) []byte {
	b, err := json.Marshal(map[string]any{"token": "verification-token-unused", "challenge": challenge, "type": "url_verification"})
	if err != nil {
		panic(err)
	}
	return b
}

var eventSeq atomic.Int64

// AppHomeOpened returns the event_callback Slack sends when user opens the
// app's tab ("home" or "messages"): the body of POST /slack/events, and
// the payload of a Socket Mode events_api envelope.
func AppHomeOpened(user, tab string) []byte {
	n := eventSeq.Add(1)
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), n)
	p := map[string]any{
		"token":      "verification-token-unused",
		"team_id":    TeamID,
		"api_app_id": AppID,
		"event": map[string]any{
			"type": "app_home_opened", "user": user, "channel": DMChannel(user), "tab": tab, "event_ts": ts,
		},
		"type":       "event_callback",
		"event_id":   fmt.Sprintf("Ev%08d", n),
		"event_time": time.Now().Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-eyJldCI6ImFwcF9ob21lX29wZW5lZCJ9",
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

var triggerSeq atomic.Int64

// triggerID returns a trigger_id shaped like Slack's.
func triggerID() string {
	return fmt.Sprintf("%d.%d.%032x", 1700000000000+triggerSeq.Add(1), 47445629121, triggerSeq.Load())
}

// Command returns the form Slack posts when user types "/access text" in
// channel C0GENERAL, with a response_url pointing at the fake and a fresh
// trigger_id.
func (s *Server) Command(user, text string) url.Values {
	return url.Values{
		"token":        {"verification-token-unused"},
		"team_id":      {TeamID},
		"team_domain":  {"slackfake"},
		"channel_id":   {"C0GENERAL"},
		"channel_name": {"general"},
		"user_id":      {user},
		"user_name":    {strings.ToLower(user)},
		"command":      {"/access"},
		"text":         {text},
		"api_app_id":   {AppID},
		"response_url": {s.ResponseURL(user)},
		"trigger_id":   {triggerID()},
	}
}

// BlockActions returns the block_actions payload Slack sends when user
// clicks the button actionID (value requestID) of the message at channel
// and ts.
func (s *Server) BlockActions(user, actionID, requestID, channel, ts string) []byte {
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
		"api_app_id": AppID,
		"token":      "verification-token-unused",
		"container": map[string]any{
			"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false,
		},
		"trigger_id":            triggerID(),
		"team":                  map[string]any{"id": TeamID, "domain": "slackfake"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": channel, "name": "approvals"},
		"message": map[string]any{
			"type": "message", "ts": ts, "bot_id": BotID, "text": "approval request",
		},
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": s.ResponseURL(user),
		"actions": []any{map[string]any{
			"action_id": actionID,
			"block_id":  "actions",
			"text":      map[string]any{"type": "plain_text", "text": actionID, "emoji": true},
			"value":     requestID,
			"type":      "button",
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), 1),
		}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// HomeBlockActions returns the block_actions payload Slack sends when
// user clicks the button actionID (value requestID) on their Home tab: the
// container is the view, and there is no channel, message or
// response_url.
func (s *Server) HomeBlockActions(user, actionID, requestID string) []byte {
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
		"api_app_id": AppID,
		"token":      "verification-token-unused",
		"container":  map[string]any{"type": "view", "view_id": "V0HOME" + user},
		"trigger_id": triggerID(),
		"team":       map[string]any{"id": TeamID, "domain": "slackfake"},
		"view": map[string]any{
			"id": "V0HOME" + user, "team_id": TeamID, "type": "home", "blocks": []any{},
			"private_metadata": "", "callback_id": "", "state": map[string]any{"values": map[string]any{}},
			"hash": "1700000000.home", "app_id": AppID, "bot_id": BotID,
		},
		"actions": []any{map[string]any{
			"action_id": actionID,
			"block_id":  "home_actions",
			"text":      map[string]any{"type": "plain_text", "text": actionID, "emoji": true},
			"value":     requestID,
			"type":      "button",
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), 1),
		}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// BlockSuggestion returns the block_suggestion payload Slack sends to the
// options load URL when user types value into the external select
// actionID of block blockID in the modal with callbackID.
func (s *Server) BlockSuggestion(user, callbackID, blockID, actionID, value string) []byte {
	p := map[string]any{
		"type":       "block_suggestion",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
		"container":  map[string]any{"type": "view", "view_id": "V0MODAL"},
		"api_app_id": AppID,
		"token":      "verification-token-unused",
		"action_id":  actionID,
		"block_id":   blockID,
		"value":      value,
		"team":       map[string]any{"id": TeamID, "domain": "slackfake"},
		"view": map[string]any{
			"id": "V0MODAL", "team_id": TeamID, "type": "modal", "callback_id": callbackID,
			"state": map[string]any{"values": map[string]any{}}, "hash": "1700000000.modal", "app_id": AppID, "bot_id": BotID,
		},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// ModalSelect returns the block_actions payload Slack sends when user
// picks the option value in the select actionID (of type selectType) of
// block blockID in the modal viewID with callbackID, whose input block
// dispatches actions.
func (s *Server) ModalSelect(user, viewID, callbackID, blockID, actionID, selectType, value string) []byte {
	option := map[string]any{"text": map[string]any{"type": "plain_text", "text": value, "emoji": true}, "value": value}
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
		"api_app_id": AppID,
		"token":      "verification-token-unused",
		"container":  map[string]any{"type": "view", "view_id": viewID},
		"trigger_id": triggerID(),
		"team":       map[string]any{"id": TeamID, "domain": "slackfake"},
		"view": map[string]any{
			"id": viewID, "team_id": TeamID, "type": "modal", "callback_id": callbackID,
			"state": map[string]any{"values": map[string]any{blockID: map[string]any{actionID: map[string]any{"type": selectType, "selected_option": option}}}},
			"hash":  "1700000000.modal", "app_id": AppID, "bot_id": BotID,
		},
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": blockID, "type": selectType, "selected_option": option,
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), 1),
		}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// Input is the submitted state of one input element of a modal.
type Input struct {
	// Type is the element type: "static_select", "external_select" or
	// "plain_text_input".
	Type string
	// Value is the typed text, or the value of the selected option.
	Value string
}

// ViewSubmission returns the view_submission payload Slack sends when
// user submits the modal with callbackID; state maps block_id, then
// action_id, to what was entered.
func (s *Server) ViewSubmission(user, callbackID, privateMetadata string, state map[string]map[string]Input) []byte {
	values := map[string]any{}
	for blockID, actions := range state {
		m := map[string]any{}
		for actionID, in := range actions {
			switch in.Type {
			case "static_select", "external_select":
				m[actionID] = map[string]any{
					"type": in.Type,
					"selected_option": map[string]any{
						"text":  map[string]any{"type": "plain_text", "text": in.Value, "emoji": true},
						"value": in.Value,
					},
				}
			default:
				m[actionID] = map[string]any{"type": in.Type, "value": in.Value}
			}
		}
		values[blockID] = m
	}
	p := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": TeamID, "domain": "slackfake"},
		"user":       map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": TeamID},
		"api_app_id": AppID,
		"token":      "verification-token-unused",
		"trigger_id": triggerID(),
		"view": map[string]any{
			"id":               "V0SUBMITTED",
			"team_id":          TeamID,
			"type":             "modal",
			"callback_id":      callbackID,
			"private_metadata": privateMetadata,
			"state":            map[string]any{"values": values},
			"hash":             "1700000000.abcdef",
			"app_id":           AppID,
			"bot_id":           BotID,
		},
		"response_urls": []any{},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// Button is an interactive button found in a message's blocks.
type Button struct {
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style"`
	Text     string `json:"-"`
}

// Buttons returns the buttons of the call's blocks (or its view's), in
// order: those of actions blocks and sections' accessories.
func (c Call) Buttons() []Button {
	raw := c.Blocks
	if raw == nil && c.View != nil {
		var v struct {
			Blocks json.RawMessage `json:"blocks"`
		}
		_ = json.Unmarshal(c.View, &v)
		raw = v.Blocks
	}
	var blocks []struct {
		Type      string            `json:"type"`
		Elements  []json.RawMessage `json:"elements"`
		Accessory json.RawMessage   `json:"accessory"`
	}
	_ = json.Unmarshal(raw, &blocks)
	var out []Button
	for _, b := range blocks {
		elems := b.Elements
		switch {
		case b.Type == "section" && b.Accessory != nil:
			elems = []json.RawMessage{b.Accessory}
		case b.Type != "actions":
			continue
		}
		for _, e := range elems {
			var el struct {
				Type string `json:"type"`
				Button
				TextObj struct {
					Text string `json:"text"`
				} `json:"text"`
			}
			if json.Unmarshal(e, &el) == nil && el.Type == "button" {
				el.Button.Text = el.TextObj.Text
				out = append(out, el.Button)
			}
		}
	}
	return out
}

// AllText returns the call's text and every text in its blocks (or its
// view's blocks), joined by newlines, for "contains" assertions.
func (c Call) AllText() string {
	parts := []string{c.Text}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := v["text"].(string); ok {
				parts = append(parts, t)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if x := v[k]; k != "text" || !isString(x) {
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, raw := range []json.RawMessage{c.Blocks, c.View} {
		if raw == nil {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			walk(v)
		}
	}
	return strings.Join(parts, "\n")
}

func isString(v any) bool { _, ok := v.(string); return ok }
