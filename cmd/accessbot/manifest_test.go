package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"gopkg.in/yaml.v3"
)

// slackMethods maps the slack-go client methods accessbot may call to the
// Web API method each calls and the bot scope that method needs ("" for
// none). A call of a client method missing here fails the test below: add
// it with its scope (https://api.slack.com/methods), and the manifests
// follow.
var slackMethods = map[string]struct{ api, scope string }{
	"PostMessage":                   {"chat.postMessage", "chat:write"},
	"PostMessageContext":            {"chat.postMessage", "chat:write"},
	"SendMessage":                   {"chat.postMessage", "chat:write"},
	"SendMessageContext":            {"chat.postMessage", "chat:write"},
	"UpdateMessage":                 {"chat.update", "chat:write"},
	"UpdateMessageContext":          {"chat.update", "chat:write"},
	"PostEphemeral":                 {"chat.postEphemeral", "chat:write"},
	"PostEphemeralContext":          {"chat.postEphemeral", "chat:write"},
	"DeleteMessage":                 {"chat.delete", "chat:write"},
	"DeleteMessageContext":          {"chat.delete", "chat:write"},
	"OpenConversation":              {"conversations.open", "im:write"},
	"OpenConversationContext":       {"conversations.open", "im:write"},
	"GetConversationInfo":           {"conversations.info", "channels:read"},
	"GetConversationInfoContext":    {"conversations.info", "channels:read"},
	"JoinConversation":              {"conversations.join", "channels:join"},
	"JoinConversationContext":       {"conversations.join", "channels:join"},
	"OpenView":                      {"views.open", ""},
	"OpenViewContext":               {"views.open", ""},
	"UpdateView":                    {"views.update", ""},
	"UpdateViewContext":             {"views.update", ""},
	"PushView":                      {"views.push", ""},
	"PushViewContext":               {"views.push", ""},
	"PublishView":                   {"views.publish", ""},
	"PublishViewContext":            {"views.publish", ""},
	"AuthTest":                      {"auth.test", ""},
	"AuthTestContext":               {"auth.test", ""},
	"GetUserGroupMembers":           {"usergroups.users.list", "usergroups:read"},
	"GetUserGroupMembersContext":    {"usergroups.users.list", "usergroups:read"},
	"GetUserGroups":                 {"usergroups.list", "usergroups:read"},
	"GetUserGroupsContext":          {"usergroups.list", "usergroups:read"},
	"GetUserInfo":                   {"users.info", "users:read"},
	"GetUserInfoContext":            {"users.info", "users:read"},
	"GetUserByEmail":                {"users.lookupByEmail", "users:read.email"},
	"GetUserByEmailContext":         {"users.lookupByEmail", "users:read.email"},
	"GetPermalink":                  {"chat.getPermalink", ""},
	"GetPermalinkContext":           {"chat.getPermalink", ""},
	"AddReaction":                   {"reactions.add", "reactions:write"},
	"AddReactionContext":            {"reactions.add", "reactions:write"},
	"StartSocketModeContext":        {"apps.connections.open", ""}, // app-level token, connections:write
	"GetConversationHistory":        {"conversations.history", "channels:history"},
	"GetConversationReplies":        {"conversations.replies", "channels:history"},
	"GetConversationRepliesContext": {"conversations.replies", "channels:history"},
}

// notWebAPI are client methods that call no Web API method; slog's Debug
// shares a name with one of them.
var notWebAPI = map[string]bool{"Debug": true, "Debugf": true, "Debugln": true}

// manifestFiles are the Slack app manifests shipped for operators.
var manifestFiles = []string{"slack-app-http.yaml", "slack-app-socket-mode.yaml"}

// TestManifestScopes reads the non-test Go source for the Slack Web API
// calls it makes and checks that both manifests ask for every bot scope
// those calls need, and for no other: a missing scope fails in production
// with missing_scope, an extra one asks a workspace admin for more than the
// bot uses.
func TestManifestScopes(t *testing.T) {
	root := moduleRoot(t)
	clientMethods := map[string]bool{}
	ct := reflect.TypeOf(&slack.Client{})
	for i := range ct.NumMethod() {
		if name := ct.Method(i).Name; !notWebAPI[name] {
			clientMethods[name] = true
		}
	}
	for name := range slackMethods {
		if !clientMethods[name] {
			t.Errorf("slackMethods names %s, which *slack.Client does not have", name)
		}
	}

	calls := map[string][]string{} // client method -> where it is called
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if !importsSlack(f) {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if ok && clientMethods[sel.Sel.Name] {
				rel, _ := filepath.Rel(root, fset.Position(call.Pos()).Filename)
				calls[sel.Sel.Name] = append(calls[sel.Sel.Name], rel)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 {
		t.Fatal("found no Slack Web API calls in the source; the scan is broken")
	}

	// The manifests declare the /access slash command, which needs commands.
	need := map[string][]string{"commands": {"the /access slash command"}}
	for method, where := range calls {
		m, ok := slackMethods[method]
		if !ok {
			t.Errorf("%s calls (*slack.Client).%s, which is not in slackMethods: add it with the bot scope its Web API method needs", where[0], method)
			continue
		}
		if m.scope != "" {
			need[m.scope] = append(need[m.scope], m.api+" ("+method+")")
		}
	}
	for _, file := range manifestFiles {
		have := manifestScopes(t, filepath.Join(root, "manifests", file))
		for scope, why := range need {
			if !slices.Contains(have, scope) {
				t.Errorf("manifests/%s lacks the bot scope %s, needed by %s", file, scope, strings.Join(why, ", "))
			}
		}
		for _, scope := range have {
			if _, ok := need[scope]; !ok {
				t.Errorf("manifests/%s asks for the bot scope %s, which no call in the code needs", file, scope)
			}
		}
	}
}

// TestManifestEndpoints: the HTTP manifest points at the paths the bot
// serves; the Socket Mode one has no URL and enables Socket Mode.
func TestManifestEndpoints(t *testing.T) {
	root := moduleRoot(t)
	for _, file := range manifestFiles {
		m := readManifest(t, filepath.Join(root, "manifests", file))
		socket := strings.Contains(file, "socket")
		if m.Settings.SocketModeEnabled != socket || !m.Settings.Interactivity.IsEnabled {
			t.Errorf("manifests/%s: socket_mode_enabled %v, interactivity %v", file, m.Settings.SocketModeEnabled, m.Settings.Interactivity.IsEnabled)
		}
		if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/access" {
			t.Fatalf("manifests/%s: slash commands %+v, want /access", file, m.Features.SlashCommands)
		}
		cmdURL, actURL := m.Features.SlashCommands[0].URL, m.Settings.Interactivity.RequestURL
		if !m.Features.AppHome.HomeTabEnabled || !slices.Contains(m.Settings.EventSubscriptions.BotEvents, "app_home_opened") {
			t.Errorf("manifests/%s: the Home tab needs home_tab_enabled (%v) and the bot event app_home_opened (%v)",
				file, m.Features.AppHome.HomeTabEnabled, m.Settings.EventSubscriptions.BotEvents)
		}
		evURL := m.Settings.EventSubscriptions.RequestURL
		if socket {
			if evURL != "" {
				t.Errorf("manifests/%s: Socket Mode needs no event request URL, has %q", file, evURL)
			}
			if cmdURL != "" || actURL != "" {
				t.Errorf("manifests/%s: Socket Mode needs no URLs, has %q and %q", file, cmdURL, actURL)
			}
			continue
		}
		if !strings.HasPrefix(cmdURL, "https://") || !strings.HasSuffix(cmdURL, "/slack/commands") {
			t.Errorf("manifests/%s: slash command URL %q, want https://…/slack/commands", file, cmdURL)
		}
		if !strings.HasPrefix(actURL, "https://") || !strings.HasSuffix(actURL, "/slack/interactions") {
			t.Errorf("manifests/%s: interactivity URL %q, want https://…/slack/interactions", file, actURL)
		}
		if optURL := m.Settings.Interactivity.MessageMenuOptionsURL; optURL != actURL {
			t.Errorf("manifests/%s: options load URL %q, want the interactivity URL %q", file, optURL, actURL)
		}
		if !strings.HasPrefix(evURL, "https://") || !strings.HasSuffix(evURL, "/slack/events") {
			t.Errorf("manifests/%s: event request URL %q, want https://…/slack/events", file, evURL)
		}
	}
}

type manifest struct {
	Features struct {
		AppHome struct {
			HomeTabEnabled bool `yaml:"home_tab_enabled"`
		} `yaml:"app_home"`
		SlashCommands []struct {
			Command string `yaml:"command"`
			URL     string `yaml:"url"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Interactivity struct {
			IsEnabled             bool   `yaml:"is_enabled"`
			RequestURL            string `yaml:"request_url"`
			MessageMenuOptionsURL string `yaml:"message_menu_options_url"`
		} `yaml:"interactivity"`
		SocketModeEnabled  bool `yaml:"socket_mode_enabled"`
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
	} `yaml:"settings"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func manifestScopes(t *testing.T, path string) []string {
	t.Helper()
	scopes := readManifest(t, path).OAuthConfig.Scopes.Bot
	sort.Strings(scopes)
	if len(scopes) == 0 {
		t.Errorf("%s has no bot scopes", path)
	}
	return scopes
}

// importsSlack reports whether f imports slack-go, so that a method of ours
// that happens to share a name with a client method elsewhere is not
// counted.
func importsSlack(f *ast.File) bool {
	for _, imp := range f.Imports {
		if strings.HasPrefix(strings.Trim(imp.Path.Value, `"`), "github.com/slack-go/slack") {
			return true
		}
	}
	return false
}

// moduleRoot is the directory holding go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
