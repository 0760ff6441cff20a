package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/approvals"
)

// SettingsTypes tells the loader the settings of each provider: for each
// provider name (github, postgres, exec), a constructor returning a pointer
// to a new, zero settings struct with yaml tags (how the block is read) and
// json tags (how it is stored in approvals.Resource.Settings). When the type
// has a method Validate() error, the loader calls it on the decoded block.
type SettingsTypes map[string]func() any

// validator is implemented by settings types that check themselves.
type validator interface {
	Validate() error
}

// Load reads and parses the policy file at path. See Parse.
func Load(path string, types SettingsTypes) (*approvals.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data, types)
}

// Parse parses a policy file's contents; filename is used in messages only.
// It returns every problem found, joined (errors.Join), each as
// "filename:line: field: what is wrong". The policy's Hash is the hex
// SHA-256 of data.
func Parse(filename string, data []byte, types SettingsTypes) (*approvals.Policy, error) {
	p := &parser{
		decoder:      decoder{problems: &problems{file: filename}},
		types:        types,
		names:        make(map[string]int),
		identityKeys: make(map[string]bool),
	}
	pol := p.parse(data)
	if len(p.list) > 0 {
		return nil, errors.Join(p.errs()...)
	}
	sum := sha256.Sum256(data)
	pol.Hash = hex.EncodeToString(sum[:])
	return pol, nil
}

// document is the top level of the file. Resources are kept as nodes: which
// keys a resource may have depends on its provider.
type document struct {
	Admins     []string                     `yaml:"admins"`
	Identities map[string]map[string]string `yaml:"identities"`
	Resources  []yaml.Node                  `yaml:"resources"`
}

// resourceDoc holds a resource's own keys; its provider block is decoded
// separately, into the provider's settings type.
type resourceDoc struct {
	Name              string   `yaml:"name"`
	Description       string   `yaml:"description"`
	Provider          string   `yaml:"provider"`
	System            string   `yaml:"system"`
	Identity          *string  `yaml:"identity"`
	Approvers         []string `yaml:"approvers"`
	Requesters        []string `yaml:"requesters"`
	ApprovalChannel   string   `yaml:"approval_channel"`
	ApprovalsRequired *int     `yaml:"approvals_required"`
	MaxDuration       string   `yaml:"max_duration"`
	MinDuration       string   `yaml:"min_duration"`
	PendingTimeout    string   `yaml:"pending_timeout"`
	RemindAfter       string   `yaml:"remind_after"`
	ReasonPattern     string   `yaml:"reason_pattern"`
	ReasonHint        string   `yaml:"reason_hint"`
	AllowSelfApproval bool     `yaml:"allow_self_approval"`
	Drift             string   `yaml:"drift"`
	Standing          []string `yaml:"standing"`
	ApprovalPaths     `yaml:",inline"`
}

// resourceFields are the keys of resourceDoc.
var resourceFields, _ = structFields(reflect.TypeOf(resourceDoc{}))

// slackUserID matches Slack user IDs (U… or, on Enterprise Grid, W…). A
// name or an @mention in their place would match nobody, so it is refused
// rather than left to fail at the first click.
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]+$`)

// slackGroupID matches Slack user group IDs (S…), which admins, approvers
// and requesters accept beside member IDs.
var slackGroupID = regexp.MustCompile(`^S[A-Z0-9]+$`)

const slackIDHint = "use the member ID (like U0123ABCD): in Slack, open the person's profile, ⋮, Copy member ID"

const memberOrGroupHint = "use a member ID (like U0123ABCD: in Slack, open the person's profile, ⋮, Copy member ID) or a user group ID (like S0123ABCD: in Slack, open the group under People → User groups, ⋮, Copy group ID)"

// slackChannelID matches the IDs of channels the bot can post approval
// messages to: public (C…) and private (G…, or C… for newer ones).
var slackChannelID = regexp.MustCompile(`^[CG][A-Z0-9]+$`)

const channelIDHint = "use the channel ID (like C0123ABCD, or G… for some private channels): in Slack, open the channel's details; the ID is at the bottom of About"

// channelIDProblem says what is wrong with a channel ID, or "".
func channelIDProblem(id string) string {
	switch {
	case slackChannelID.MatchString(id):
		return ""
	case strings.HasPrefix(id, "#"):
		return fmt.Sprintf("%q is a channel name, not a channel ID: names change and are not unique; %s", id, channelIDHint)
	case slackUserID.MatchString(id):
		return fmt.Sprintf("%q is a user ID, not a channel ID: to ask approvers by DM, leave approval_channel out; otherwise %s", id, channelIDHint)
	}
	return fmt.Sprintf("%q is not a channel ID: %s", id, channelIDHint)
}

// parser is the state of one Parse.
type parser struct {
	decoder
	types SettingsTypes
	// names maps the lower-cased names of the resources seen so far to
	// their line, to refuse duplicates, including ones that differ only in
	// case and would confuse users.
	names map[string]int
	// identityKeys are the keys of identities that resources use.
	identityKeys map[string]bool
}

func (p *parser) parse(data []byte) *approvals.Policy {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err == io.EOF {
			p.add(0, "", "the policy is empty: expected admins, identities and resources")
		} else {
			line, msg := splitLine(err.Error(), 0)
			p.add(line, "", "%s", msg)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			line, msg := splitLine(err.Error(), 0)
			p.add(line, "", "%s", msg)
		} else {
			p.add(next.Line, "", "a second YAML document (after ---): the policy must be a single document")
		}
		return nil
	}
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		p.add(0, "", "the policy is empty: expected admins, identities and resources")
		return nil
	}
	top := root.Content[0]

	var doc document
	p.decodeStruct(top, reflect.ValueOf(&doc).Elem(), "", "")
	if len(p.list) > 0 && top.Kind != yaml.MappingNode {
		return nil
	}
	pol := &approvals.Policy{Admins: doc.Admins, Identities: doc.Identities}
	p.memberIDs(valueOf(top, "admins"), "admins")
	for i := range doc.Resources {
		if r, ok := p.resource(i, &doc.Resources[i]); ok {
			pol.Resources = append(pol.Resources, r)
		}
	}
	p.identities(valueOf(top, "identities"))
	return pol
}

// memberIDs checks a decoded list of Slack member and user group IDs.
func (p *parser) memberIDs(n *yaml.Node, path string) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return // absent, or already reported as not a list
	}
	seen := make(map[string]int)
	for i, item := range n.Content {
		item = resolve(item)
		field := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case item.Kind != yaml.ScalarNode:
			// already reported by the decoder
		case !slackUserID.MatchString(item.Value) && !slackGroupID.MatchString(item.Value):
			p.add(item.Line, field, "%q is not a Slack member or user group ID: %s", item.Value, memberOrGroupHint)
		case seen[item.Value] > 0:
			p.add(item.Line, field, "%s is listed twice (first at line %d)", item.Value, seen[item.Value])
		default:
			seen[item.Value] = item.Line
		}
	}
}

// identities checks the identities mapping, once the resources (and the
// identity keys they use) are known.
func (p *parser) identities(n *yaml.Node) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	known := keys(p.types)
	for k := range p.identityKeys {
		if _, ok := p.types[k]; !ok {
			known = append(known, k)
		}
	}
	sort.Strings(known)
	for i := 0; i+1 < len(n.Content); i += 2 {
		user, accounts := resolve(n.Content[i]), resolve(n.Content[i+1])
		path := "identities." + user.Value
		if !slackUserID.MatchString(user.Value) {
			p.add(user.Line, "identities", "%q is not a Slack user ID: %s", user.Value, slackIDHint)
		}
		if accounts.Kind != yaml.MappingNode {
			continue // null (no accounts) is fine; anything else was reported
		}
		for j := 0; j+1 < len(accounts.Content); j += 2 {
			key, account := resolve(accounts.Content[j]), resolve(accounts.Content[j+1])
			_, isProvider := p.types[key.Value]
			if !isProvider && !p.identityKeys[key.Value] {
				p.add(key.Line, path, "unknown identity key %q%s: use a provider name or a resource's identity key (%s)",
					key.Value, suggest(key.Value, known), strings.Join(known, ", "))
			}
			if account.Kind == yaml.ScalarNode && strings.TrimSpace(account.Value) == "" {
				p.add(account.Line, join(path, key.Value), "the account name is empty")
			}
		}
	}
}

// resource parses resources[i]. It returns false when the resource has
// problems (they are recorded).
func (p *parser) resource(i int, n *yaml.Node) (approvals.Resource, bool) {
	before := len(p.list)
	n = resolve(n)
	path := fmt.Sprintf("resources[%d]", i)
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, path, "expected a mapping with name, provider, its block, approvers and max_duration; got %s", describe(n))
		return approvals.Resource{}, false
	}
	name := scalarOf(n, "name")
	label := path
	if name != "" {
		label = fmt.Sprintf("%s (%s)", path, name)
	}
	provider := scalarOf(n, "provider")

	// Split the resource's own keys from provider blocks (keys named after
	// a provider), and refuse the rest.
	own := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	blocks := make(map[string][2]*yaml.Node) // provider name -> key, value
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := resolve(n.Content[j]), n.Content[j+1]
		key := k.Value
		_, isField := resourceFields[key]
		_, isProvider := p.types[key]
		switch {
		case isField || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge":
			own.Content = append(own.Content, n.Content[j], v) // the decoder reports odd keys
		case isProvider || (key == provider && provider != ""):
			if b, dup := blocks[key]; dup {
				p.add(k.Line, label, "duplicate field %q (first at line %d)", key, b[0].Line)
				continue
			}
			blocks[key] = [2]*yaml.Node{k, v}
		default:
			known := append(keys(resourceFields), keys(p.types)...)
			p.add(k.Line, label, "unknown field %q%s", key, suggest(key, known))
		}
	}
	var rd resourceDoc
	decoded := len(p.list)
	p.decodeStruct(own, reflect.ValueOf(&rd).Elem(), path, label)
	// refused reports whether the value of key was refused by the decoder,
	// so that "key is required" is not said of a key that is there.
	refused := func(key string) bool {
		f := path + "." + key
		for _, pr := range p.list[decoded:] {
			if pr.field == f || strings.HasPrefix(pr.field, f+".") || strings.HasPrefix(pr.field, f+"[") {
				return true
			}
		}
		return false
	}
	line := func(key string) int {
		if v := valueOf(n, key); v != nil {
			return v.Line
		}
		return n.Line
	}
	field := func(key string) string { return path + "." + key }

	r := approvals.Resource{
		Name:              rd.Name,
		Description:       rd.Description,
		Provider:          rd.Provider,
		System:            strings.TrimSpace(rd.System),
		Approvers:         rd.Approvers,
		ApprovalChannel:   rd.ApprovalChannel,
		ApprovalsRequired: 1,
		AllowSelfApproval: rd.AllowSelfApproval,
		Drift:             approvals.DriftReport,
		Standing:          rd.Standing,
	}

	// name
	switch {
	case refused("name"):
	case rd.Name == "" && valueOf(n, "name") == nil:
		p.add(n.Line, label, "name is required: what users type in /access request NAME")
	case rd.Name == "":
		p.add(line("name"), field("name"), "must not be empty")
	case strings.IndexFunc(rd.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		p.add(line("name"), field("name"), "%q must be one word, without spaces: users type it in /access request NAME", rd.Name)
	default:
		lower := strings.ToLower(rd.Name)
		if first, dup := p.names[lower]; dup {
			p.add(line("name"), field("name"), "duplicate resource name %q (first at line %d)", rd.Name, first)
		} else {
			p.names[lower] = line("name")
		}
	}

	// provider and its block
	providers := strings.Join(keys(p.types), ", ")
	_, knownProvider := p.types[rd.Provider]
	switch {
	case refused("provider"):
	case rd.Provider == "":
		p.add(line("provider"), label, "provider is required: one of %s", providers)
	case !knownProvider:
		p.add(line("provider"), field("provider"), "unknown provider %q: use one of %s", rd.Provider, providers)
	}
	for _, key := range keys(blocks) {
		if key != rd.Provider && rd.Provider != "" && knownProvider {
			p.add(blocks[key][0].Line, field(key), "a %q block, but the provider is %q: give the %q block instead", key, rd.Provider, rd.Provider)
		}
	}
	if knownProvider {
		if b, ok := blocks[rd.Provider]; ok {
			r.Settings = p.settings(b[1], rd.Provider, field(rd.Provider))
		} else {
			p.add(n.Line, label, "the %q block is required: the settings of provider %q", rd.Provider, rd.Provider)
		}
	}

	// system
	if valueOf(n, "system") != nil && !refused("system") {
		switch {
		case r.System == "":
			p.add(line("system"), field("system"), "must not be empty: the name people know the system by, e.g. Payroll; or leave it out")
		case strings.IndexFunc(r.System, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0:
			p.add(line("system"), field("system"), "%q must be one line of text", r.System)
		case len([]rune(r.System)) > 80:
			p.add(line("system"), field("system"), "is %d characters long: keep it to 80 or fewer", len([]rune(r.System)))
		}
	}

	// identity
	if rd.Identity != nil {
		id := *rd.Identity
		if id == "" || strings.IndexFunc(id, unicode.IsSpace) >= 0 {
			p.add(line("identity"), field("identity"), "%q is not an identity key: give one word, the key to look up in identities", id)
		} else {
			r.IdentityKey = id
			p.identityKeys[id] = true
		}
	}

	// approvers and requesters
	distinct := make(map[string]bool)
	groups := false
	for _, a := range rd.Approvers {
		distinct[a] = true
		groups = groups || approvals.IsGroup(a)
	}
	if len(rd.Approvers) == 0 && !refused("approvers") {
		p.add(line("approvers"), label, "approvers is required: the Slack user IDs who approve, e.g. [U0BOB, U0CAROL]")
	}
	p.memberIDs(valueOf(n, "approvers"), field("approvers"))
	if v := resolve(valueOf(n, "requesters")); v != nil && !refused("requesters") {
		if v.Kind == yaml.SequenceNode && len(v.Content) == 0 || isNull(v) {
			p.add(v.Line, field("requesters"), "is empty, so nobody could request %s: list who may, or leave requesters out to let anyone with an identity request it", rd.Name)
		}
		r.Requesters = rd.Requesters
		p.memberIDs(v, field("requesters"))
	}
	if rd.ApprovalChannel != "" && !refused("approval_channel") {
		if msg := channelIDProblem(rd.ApprovalChannel); msg != "" {
			p.add(line("approval_channel"), field("approval_channel"), "%s", msg)
		}
	}
	if rd.ApprovalsRequired != nil {
		r.ApprovalsRequired = *rd.ApprovalsRequired
		switch {
		case r.ApprovalsRequired < 1:
			p.add(line("approvals_required"), field("approvals_required"), "must be at least 1, got %d", r.ApprovalsRequired)
		case len(distinct) > 0 && !groups && r.ApprovalsRequired > len(distinct):
			p.add(line("approvals_required"), field("approvals_required"), "%d approvals required, but there are only %d approvers: nobody could ever get this access", r.ApprovalsRequired, len(distinct))
		}
	}

	// durations
	if refused("max_duration") {
		// reported
	} else if rd.MaxDuration == "" {
		p.add(line("max_duration"), label, "max_duration is required: the longest access that may be requested, e.g. 4h")
	} else {
		r.MaxDuration = p.duration(rd.MaxDuration, line("max_duration"), field("max_duration"))
	}
	if rd.MinDuration != "" {
		r.MinDuration = p.duration(rd.MinDuration, line("min_duration"), field("min_duration"))
		if r.MinDuration > 0 && r.MaxDuration > 0 && r.MinDuration > r.MaxDuration {
			p.add(line("min_duration"), field("min_duration"), "%s is longer than max_duration %s", rd.MinDuration, rd.MaxDuration)
		}
	}

	// waiting for a decision
	if rd.PendingTimeout != "" {
		r.PendingTimeout = p.duration(rd.PendingTimeout, line("pending_timeout"), field("pending_timeout"))
	}
	if rd.RemindAfter != "" {
		r.RemindAfter = p.duration(rd.RemindAfter, line("remind_after"), field("remind_after"))
		if timeout := approvals.PendingTimeoutOf(r); r.RemindAfter > 0 && r.RemindAfter >= timeout {
			p.add(line("remind_after"), field("remind_after"), "%s is not before the request times out (pending_timeout %s): the reminder would never be sent",
				rd.RemindAfter, approvals.FormatDuration(timeout))
		}
	}

	// reason
	r.ReasonPattern, r.ReasonHint = rd.ReasonPattern, strings.TrimSpace(rd.ReasonHint)
	if rd.ReasonPattern != "" {
		if _, err := regexp.Compile(rd.ReasonPattern); err != nil {
			p.add(line("reason_pattern"), field("reason_pattern"), "%q is not a regular expression: %s", rd.ReasonPattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	} else if rd.ReasonHint != "" {
		p.add(line("reason_hint"), field("reason_hint"), "a hint without reason_pattern is never shown: add the pattern it explains, or remove it")
	}

	// drift and standing
	switch rd.Drift {
	case "":
	case approvals.DriftReport, approvals.DriftRevoke:
		r.Drift = rd.Drift
	default:
		p.add(line("drift"), field("drift"), "must be %s or %s, got %q", approvals.DriftReport, approvals.DriftRevoke, rd.Drift)
	}
	if s := resolve(valueOf(n, "standing")); s != nil && s.Kind == yaml.SequenceNode {
		for j, item := range s.Content {
			if item = resolve(item); item.Kind == yaml.ScalarNode && strings.TrimSpace(item.Value) == "" {
				p.add(item.Line, fmt.Sprintf("%s[%d]", field("standing"), j), "the identity is empty")
			}
		}
	}

	p.paths(&rd.ApprovalPaths, &r, line, field)

	return r, len(p.list) == before
}

// settings decodes a provider block into the provider's settings type,
// validates it and returns it as JSON.
func (p *parser) settings(n *yaml.Node, provider, path string) json.RawMessage {
	v := p.types[provider]()
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		p.add(0, path, "internal error: the settings type of provider %q is %T, not a pointer to a struct", provider, v)
		return nil
	}
	before := len(p.list)
	if resolve(n).Kind != yaml.MappingNode {
		p.add(n.Line, path, "expected a mapping of %s settings, got %s", provider, describe(resolve(n)))
		return nil
	}
	p.decode(n, rv.Elem(), path)
	if len(p.list) > before {
		return nil
	}
	if val, ok := v.(validator); ok {
		if err := val.Validate(); err != nil {
			for _, e := range split(err) {
				p.add(n.Line, path, "%s", strings.TrimPrefix(e.Error(), provider+": "))
			}
			return nil
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		p.add(n.Line, path, "cannot be stored as JSON: %v", err)
		return nil
	}
	return raw
}

// duration parses a duration field of a resource.
func (p *parser) duration(s string, line int, field string) time.Duration {
	d, err := approvals.ParseDuration(s)
	if err != nil {
		msg := approvals.ErrorMessage(err)
		if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("malformed duration %q: ", s)); ok {
			msg = fmt.Sprintf("cannot parse %q as a duration: %s", s, rest)
		}
		p.add(line, field, "%s", msg)
		return 0
	}
	return d
}

// split undoes errors.Join, so that each problem of a block is reported on
// its own line.
func split(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, split(e)...)
		}
		return out
	}
	return []error{err}
}

// resolve follows an alias to the value it names; nil stays nil.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalarOf returns the scalar value of key in mapping n, or "".
func scalarOf(n *yaml.Node, key string) string {
	v := resolve(valueOf(n, key))
	if v == nil || v.Kind != yaml.ScalarNode || isNull(v) {
		return ""
	}
	return v.Value
}
