package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
)

// Slack's limits, from the Block Kit reference. Slack counts characters;
// the fake counts UTF-16 code units, which is never fewer, so a message
// the fake accepts is one Slack accepts.
const (
	maxMessageBlocks  = 50
	maxModalBlocks    = 100
	maxHomeBlocks     = 100
	maxSectionText    = 3000
	maxSectionFields  = 10
	maxFieldText      = 2000
	maxHeaderText     = 150
	maxContextElems   = 10
	maxActionsElems   = 25
	maxButtonText     = 75
	maxButtonValue    = 2000
	maxActionID       = 255
	maxBlockID        = 255
	maxOptions        = 100
	maxOptionText     = 75
	maxOptionValue    = 150
	maxPlaceholder    = 150
	maxInputLabel     = 2000
	maxModalTitle     = 24
	maxModalButton    = 24
	maxPrivateMeta    = 3000
	maxCallbackID     = 255
	maxMessageText    = 40000
	maxInputMaxLength = 3000
)

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// checker collects the problems of one block list.
type checker struct {
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// text checks a text object: a type, non-empty text, at most max characters,
// and plain_text where Slack demands it.
func (c *checker) text(where string, v any, max int, plainOnly bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		c.addf("%s: text object missing or not an object", where)
		return
	}
	typ, _ := obj["type"].(string)
	switch typ {
	case "plain_text":
	case "mrkdwn":
		if plainOnly {
			c.addf("%s: must be plain_text, is mrkdwn", where)
		}
	default:
		c.addf("%s: text type %q is neither plain_text nor mrkdwn", where, typ)
	}
	s, _ := obj["text"].(string)
	if s == "" {
		c.addf("%s: text is empty", where)
	}
	if n := utf16Len(s); n > max {
		c.addf("%s: text is %d characters, max %d", where, n, max)
	}
}

func (c *checker) id(where, name string, obj map[string]any, max int) string {
	s, _ := obj[name].(string)
	if n := utf16Len(s); n > max {
		c.addf("%s: %s is %d characters, max %d", where, name, n, max)
	}
	return s
}

// element checks an interactive element (button, select, input).
func (c *checker) element(where string, v any, actionIDs map[string]bool) {
	el, ok := v.(map[string]any)
	if !ok {
		c.addf("%s: element is not an object", where)
		return
	}
	typ, _ := el["type"].(string)
	where = fmt.Sprintf("%s (%s)", where, typ)
	if aid := c.id(where, "action_id", el, maxActionID); aid != "" {
		if actionIDs[aid] {
			c.addf("%s: action_id %q is not unique in its block", where, aid)
		}
		actionIDs[aid] = true
	}
	switch typ {
	case "button":
		c.text(where+".text", el["text"], maxButtonText, true)
		if v, _ := el["value"].(string); utf16Len(v) > maxButtonValue {
			c.addf("%s: value is %d characters, max %d", where, utf16Len(v), maxButtonValue)
		}
		if st, ok := el["style"].(string); ok && st != "primary" && st != "danger" {
			c.addf("%s: style %q is neither primary nor danger", where, st)
		}
	case "static_select":
		if p, ok := el["placeholder"]; ok {
			c.text(where+".placeholder", p, maxPlaceholder, true)
		}
		opts, _ := el["options"].([]any)
		groups, _ := el["option_groups"].([]any)
		if len(opts) == 0 && len(groups) == 0 {
			c.addf("%s: no options", where)
		}
		if len(opts) > maxOptions {
			c.addf("%s: %d options, max %d", where, len(opts), maxOptions)
		}
		for i, o := range opts {
			c.option(fmt.Sprintf("%s.options[%d]", where, i), o)
		}
		if o, ok := el["initial_option"]; ok {
			c.option(where+".initial_option", o)
			// Slack refuses an initial option that is not among the
			// options.
			init, _ := o.(map[string]any)
			found := false
			for _, x := range opts {
				if m, _ := x.(map[string]any); m != nil && init != nil && m["value"] == init["value"] {
					found = true
				}
			}
			if !found && len(groups) == 0 {
				c.addf("%s: initial_option %v is not among the options", where, init["value"])
			}
		}
	case "external_select":
		// https://api.slack.com/reference/block-kit/block-elements#external_select:
		// the options come from the app's options load URL.
		if p, ok := el["placeholder"]; ok {
			c.text(where+".placeholder", p, maxPlaceholder, true)
		}
		if _, ok := el["options"]; ok {
			c.addf("%s: an external select carries no options", where)
		}
		if o, ok := el["initial_option"]; ok {
			c.option(where+".initial_option", o)
		}
		if n, ok := el["min_query_length"].(float64); ok && n < 0 {
			c.addf("%s: min_query_length %v is negative", where, n)
		}
	case "plain_text_input":
		if p, ok := el["placeholder"]; ok {
			c.text(where+".placeholder", p, maxPlaceholder, true)
		}
		if ml, ok := el["max_length"].(float64); ok && ml > maxInputMaxLength {
			c.addf("%s: max_length %v, max %d", where, ml, maxInputMaxLength)
		}
	case "overflow", "datepicker", "timepicker", "users_select", "conversations_select", "channels_select",
		"multi_static_select", "multi_users_select", "checkboxes", "radio_buttons", "number_input", "email_text_input", "url_text_input":
	default:
		c.addf("%s: unknown element type %q", where, typ)
	}
}

func (c *checker) option(where string, v any) {
	o, ok := v.(map[string]any)
	if !ok {
		c.addf("%s: option is not an object", where)
		return
	}
	c.text(where+".text", o["text"], maxOptionText, true)
	val, _ := o["value"].(string)
	if val == "" {
		c.addf("%s: value is empty", where)
	}
	if n := utf16Len(val); n > maxOptionValue {
		c.addf("%s: value is %d characters, max %d", where, n, maxOptionValue)
	}
}

// blocks checks a block list against Slack's limits.
func (c *checker) blocks(raw json.RawMessage, max int) {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		c.addf("blocks are not a JSON array of objects: %v", err)
		return
	}
	if len(blocks) > max {
		c.addf("%d blocks, max %d", len(blocks), max)
	}
	blockIDs := map[string]bool{}
	for i, b := range blocks {
		typ, _ := b["type"].(string)
		where := fmt.Sprintf("blocks[%d] (%s)", i, typ)
		if bid := c.id(where, "block_id", b, maxBlockID); bid != "" {
			if blockIDs[bid] {
				c.addf("%s: block_id %q is not unique", where, bid)
			}
			blockIDs[bid] = true
		}
		actionIDs := map[string]bool{}
		switch typ {
		case "section":
			_, hasText := b["text"]
			fields, _ := b["fields"].([]any)
			if !hasText && len(fields) == 0 {
				c.addf("%s: neither text nor fields", where)
			}
			if hasText {
				c.text(where+".text", b["text"], maxSectionText, false)
			}
			if len(fields) > maxSectionFields {
				c.addf("%s: %d fields, max %d", where, len(fields), maxSectionFields)
			}
			for j, f := range fields {
				c.text(fmt.Sprintf("%s.fields[%d]", where, j), f, maxFieldText, false)
			}
			if acc, ok := b["accessory"]; ok {
				c.element(where+".accessory", acc, actionIDs)
			}
		case "header":
			c.text(where+".text", b["text"], maxHeaderText, true)
		case "context":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 {
				c.addf("%s: no elements", where)
			}
			if len(elems) > maxContextElems {
				c.addf("%s: %d elements, max %d", where, len(elems), maxContextElems)
			}
			for j, e := range elems {
				if m, ok := e.(map[string]any); ok && m["type"] == "image" {
					continue
				}
				c.text(fmt.Sprintf("%s.elements[%d]", where, j), e, maxSectionText, false)
			}
		case "actions":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 {
				c.addf("%s: no elements", where)
			}
			if len(elems) > maxActionsElems {
				c.addf("%s: %d elements, max %d", where, len(elems), maxActionsElems)
			}
			for j, e := range elems {
				c.element(fmt.Sprintf("%s.elements[%d]", where, j), e, actionIDs)
			}
		case "input":
			c.text(where+".label", b["label"], maxInputLabel, true)
			if h, ok := b["hint"]; ok {
				c.text(where+".hint", h, maxInputLabel, true)
			}
			if _, ok := b["element"]; !ok {
				c.addf("%s: no element", where)
			} else {
				c.element(where+".element", b["element"], actionIDs)
			}
		case "divider", "image", "rich_text":
		default:
			c.addf("%s: unknown block type %q", where, typ)
		}
	}
}

// checkBlocks returns the problems of a message's blocks.
func checkBlocks(raw json.RawMessage, max int) []string {
	var c checker
	c.blocks(raw, max)
	return c.problems
}

// checkView returns the problems of a modal view.
func checkView(raw json.RawMessage) []string {
	var c checker
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return []string{"view is not a JSON object: " + err.Error()}
	}
	var typ string
	_ = json.Unmarshal(v["type"], &typ)
	if typ != "modal" {
		c.addf("view type %q, want modal", typ)
	}
	for _, k := range []string{"title", "submit", "close"} {
		raw, ok := v[k]
		if !ok || string(raw) == "null" {
			if k == "title" {
				c.addf("view has no title")
			}
			continue
		}
		var obj any
		_ = json.Unmarshal(raw, &obj)
		max := maxModalButton
		if k == "title" {
			max = maxModalTitle
		}
		c.text("view."+k, obj, max, true)
	}
	var meta, cb string
	_ = json.Unmarshal(v["private_metadata"], &meta)
	_ = json.Unmarshal(v["callback_id"], &cb)
	if n := utf16Len(meta); n > maxPrivateMeta {
		c.addf("view.private_metadata is %d characters, max %d", n, maxPrivateMeta)
	}
	if n := utf16Len(cb); n > maxCallbackID {
		c.addf("view.callback_id is %d characters, max %d", n, maxCallbackID)
	}
	c.blocks(v["blocks"], maxModalBlocks)
	return c.problems
}

// checkHomeView returns the problems of a Home tab view: type home, at
// most 100 blocks, no title or buttons of its own.
func checkHomeView(raw json.RawMessage) []string {
	var c checker
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return []string{"view is not a JSON object: " + err.Error()}
	}
	var typ string
	_ = json.Unmarshal(v["type"], &typ)
	if typ != "home" {
		c.addf("view type %q, want home", typ)
	}
	for _, k := range []string{"title", "submit", "close"} {
		if raw, ok := v[k]; ok && string(raw) != "null" {
			c.addf("a home view has no %s", k)
		}
	}
	var meta, cb string
	_ = json.Unmarshal(v["private_metadata"], &meta)
	_ = json.Unmarshal(v["callback_id"], &cb)
	if n := utf16Len(meta); n > maxPrivateMeta {
		c.addf("view.private_metadata is %d characters, max %d", n, maxPrivateMeta)
	}
	if n := utf16Len(cb); n > maxCallbackID {
		c.addf("view.callback_id is %d characters, max %d", n, maxCallbackID)
	}
	c.blocks(v["blocks"], maxHomeBlocks)
	return c.problems
}

// CheckHomeView reports the limits a Home tab view breaks; nil when none.
func CheckHomeView(view json.RawMessage) []string { return checkHomeView(view) }

// CheckOptions reports the limits an answer to a block_suggestion breaks
// (https://api.slack.com/reference/block-kit/block-elements#external_select):
// a JSON object with options (at most 100) or option_groups; nil when none.
func CheckOptions(raw json.RawMessage) []string {
	var c checker
	var v struct {
		Options      *[]any `json:"options"`
		OptionGroups *[]any `json:"option_groups"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return []string{"options answer is not a JSON object: " + err.Error()}
	}
	switch {
	case v.Options == nil && v.OptionGroups == nil:
		c.addf("options answer has neither options nor option_groups")
	case v.Options != nil:
		if len(*v.Options) > maxOptions {
			c.addf("%d options, max %d", len(*v.Options), maxOptions)
		}
		for i, o := range *v.Options {
			c.option(fmt.Sprintf("options[%d]", i), o)
		}
	}
	return c.problems
}

// CheckBlocks reports the Block Kit limits a message's blocks break; nil
// when there are none. It is the check the fake applies to every call.
func CheckBlocks(blocks json.RawMessage) []string { return checkBlocks(blocks, maxMessageBlocks) }

// CheckView reports the limits a modal view breaks; nil when none.
func CheckView(view json.RawMessage) []string { return checkView(view) }
