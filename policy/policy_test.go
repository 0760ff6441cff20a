package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// The settings types below mirror the providers' ones, so that these tests
// do not depend on the provider packages.

type githubSettings struct {
	Org        string `yaml:"org" json:"org,omitempty"`
	Team       string `yaml:"team" json:"team,omitempty"`
	Repo       string `yaml:"repo" json:"repo,omitempty"`
	Permission string `yaml:"permission" json:"permission,omitempty"`
}

func (s githubSettings) Validate() error {
	var errs []error
	if s.Org == "" {
		errs = append(errs, errors.New(`github: "org" is required`))
	}
	if (s.Team == "") == (s.Repo == "") {
		errs = append(errs, errors.New(`github: set exactly one of "team" or "repo"`))
	}
	return errors.Join(errs...)
}

type postgresSettings struct {
	Role string `yaml:"role" json:"role"`
}

type execSettings struct {
	Command  []string          `yaml:"command" json:"command"`
	Timeout  time.Duration     `yaml:"timeout" json:"timeout,omitempty"`
	Env      map[string]string `yaml:"env" json:"env,omitempty"`
	Settings map[string]any    `yaml:"settings" json:"settings,omitempty"`
}

// nestedSettings exercises the strict decoding of nested structs, maps and
// lists of structs.
type nestedSettings struct {
	Inner struct {
		Level int `yaml:"level" json:"level"`
	} `yaml:"inner" json:"inner"`
	Groups map[string]struct {
		Members []string `yaml:"members" json:"members"`
	} `yaml:"groups" json:"groups"`
	Steps []struct {
		Run string `yaml:"run" json:"run"`
	} `yaml:"steps" json:"steps"`
	Ptr *struct {
		On bool `yaml:"on" json:"on"`
	} `yaml:"ptr" json:"ptr,omitempty"`
}

var types = SettingsTypes{
	"github":   func() any { return new(githubSettings) },
	"postgres": func() any { return new(postgresSettings) },
	"exec":     func() any { return new(execSettings) },
}

// a6 is the policy example of DESIGN.md A6, plus the exec block of A11, an
// identity key, min_duration, drift and standing.
const a6 = `admins: [U0ADMIN]                  # may revoke anything, see everything
identities:                        # Slack user ID -> account at each provider
  U0ALICE: {github: alice-gh, postgres: alice, payroll: alice@acme.example}
resources:
  - name: payments-admin           # what users type
    description: Maintainer of the payments team
    provider: github
    github: {org: acme, team: payments-admins}          # team membership
    approvers: [U0BOB, U0CAROL]
    approval_channel: C0APPROVALS  # optional; default: DM each approver
    approvals_required: 1          # default 1
    max_duration: 4h
    allow_self_approval: false     # default false
  - name: payments-repo-write
    provider: github
    github: {org: acme, repo: payments, permission: push}  # repo collaborator
    approvers: [U0BOB]
    max_duration: 8h
  - name: prod-db-read
    provider: postgres
    postgres: {role: readonly}     # GRANT readonly TO <identity>
    approvers: [U0DBA, U0BOB]
    approvals_required: 2
    max_duration: 1d12h
    min_duration: 15m
    pending_timeout: 8 hours
    remind_after: 30m
    reason_pattern: 'INC-[0-9]+'
    reason_hint: give the incident, e.g. INC-4211
    drift: revoke
    standing: [breakglass]
  - name: payroll-export
    provider: exec
    system: Payroll
    identity: payroll
    exec:
      command: [/usr/local/bin/payroll-access, --tenant, acme]
      timeout: 30s
      env: {PAYROLL_URL: https://payroll.internal}
      settings: {group: exporters, limits: {rows: 100}}
    approvers: [U0HR, S0PAYROLL]
    requesters: [S0FINANCE, U0ALICE]
    approvals_required: 2
    max_duration: 1h
    allow_self_approval: true
`

func TestParseValid(t *testing.T) {
	got, err := Parse("policy.yaml", []byte(a6), types)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	sum := sha256.Sum256([]byte(a6))
	want := &approvals.Policy{
		Admins: []string{"U0ADMIN"},
		Identities: map[string]map[string]string{
			"U0ALICE": {"github": "alice-gh", "postgres": "alice", "payroll": "alice@acme.example"},
		},
		Resources: []approvals.Resource{{
			Name:              "payments-admin",
			Description:       "Maintainer of the payments team",
			Provider:          "github",
			Settings:          json.RawMessage(`{"org":"acme","team":"payments-admins"}`),
			Approvers:         []string{"U0BOB", "U0CAROL"},
			ApprovalChannel:   "C0APPROVALS",
			ApprovalsRequired: 1,
			MaxDuration:       4 * time.Hour,
			Drift:             approvals.DriftReport,
		}, {
			Name:              "payments-repo-write",
			Provider:          "github",
			Settings:          json.RawMessage(`{"org":"acme","repo":"payments","permission":"push"}`),
			Approvers:         []string{"U0BOB"},
			ApprovalsRequired: 1,
			MaxDuration:       8 * time.Hour,
			Drift:             approvals.DriftReport,
		}, {
			Name:              "prod-db-read",
			Provider:          "postgres",
			Settings:          json.RawMessage(`{"role":"readonly"}`),
			Approvers:         []string{"U0DBA", "U0BOB"},
			ApprovalsRequired: 2,
			MaxDuration:       36 * time.Hour,
			MinDuration:       15 * time.Minute,
			PendingTimeout:    8 * time.Hour,
			RemindAfter:       30 * time.Minute,
			ReasonPattern:     "INC-[0-9]+",
			ReasonHint:        "give the incident, e.g. INC-4211",
			Drift:             approvals.DriftRevoke,
			Standing:          []string{"breakglass"},
		}, {
			Name:              "payroll-export",
			Provider:          "exec",
			System:            "Payroll",
			IdentityKey:       "payroll",
			Settings:          json.RawMessage(`{"command":["/usr/local/bin/payroll-access","--tenant","acme"],"timeout":30000000000,"env":{"PAYROLL_URL":"https://payroll.internal"},"settings":{"group":"exporters","limits":{"rows":100}}}`),
			Approvers:         []string{"U0HR", "S0PAYROLL"},
			Requesters:        []string{"S0FINANCE", "U0ALICE"},
			ApprovalsRequired: 2,
			MaxDuration:       time.Hour,
			AllowSelfApproval: true,
			Drift:             approvals.DriftReport,
		}},
		Hash: hex.EncodeToString(sum[:]),
	}
	if len(got.Resources) != len(want.Resources) {
		t.Fatalf("got %d resources, want %d", len(got.Resources), len(want.Resources))
	}
	for i := range want.Resources {
		if !reflect.DeepEqual(got.Resources[i], want.Resources[i]) {
			t.Errorf("resource %d:\n got %+v\nwant %+v\n got settings %s", i, got.Resources[i], want.Resources[i], got.Resources[i].Settings)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
	if id, ok := got.IdentityFor("U0ALICE", got.Resources[3]); !ok || id != "alice@acme.example" {
		t.Errorf("IdentityFor(U0ALICE, payroll-export) = %q, %v; want alice@acme.example, true", id, ok)
	}
}

func TestParseMinimal(t *testing.T) {
	const src = `resources:
  - name: db
    provider: postgres
    postgres: {role: readonly}
    approvers: [U0DBA]
    max_duration: 5s
`
	got, err := Parse("p.yaml", []byte(src), types)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(got.Admins) != 0 || len(got.Identities) != 0 || len(got.Resources) != 1 {
		t.Fatalf("Parse = %+v, want one resource and nothing else", got)
	}
	r := got.Resources[0]
	if r.ApprovalsRequired != 1 || r.Drift != approvals.DriftReport || r.MaxDuration != 5*time.Second || r.MinDuration != 0 || r.IdentityKey != "" {
		t.Errorf("defaults: got %+v, want approvals_required 1, drift report, max 5s, no min, no identity key", r)
	}
}

// resource is a valid resource, for error cases to break one thing at a time.
// It starts at line 2 when it follows "resources:".
const resource = `  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB, U0CAROL]
    max_duration: 4h
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error, in order
	}{
		{"unknown top-level key", "admin: [U0ADMIN]\nresources:\n" + resource,
			[]string{`policy.yaml:1: unknown field "admin" (did you mean "admins"?)`}},
		{"unknown resource key", "resources:\n" + resource + `  - name: payments-repo-write
    provider: github
    github: {org: acme, repo: payments, permission: push}
    approver: [U0BOB]
    max_duration: 8h
`, []string{`policy.yaml:10: resources[1] (payments-repo-write): unknown field "approver" (did you mean "approvers"?)`,
			`policy.yaml:7: resources[1] (payments-repo-write): approvers is required`}},
		{"unknown key in provider block", `resources:
  - name: payments-admin
    provider: github
    github:
      org: acme
      tem: payments-admins
    approvers: [U0BOB]
    max_duration: 4h
`, []string{`policy.yaml:6: resources[0].github: unknown field "tem" (did you mean "team"?)`}},
		{"wrong type", "resources:\n" + resource + "    approvals_required: \"two\"\n",
			[]string{`policy.yaml:7: resources[0].approvals_required: expected a whole number, got "two"`}},
		{"fraction for an integer", "resources:\n" + resource + "    approvals_required: 1.5\n",
			[]string{`policy.yaml:7: resources[0].approvals_required: expected a whole number, got "1.5"`}},
		{"wrong type bool", "resources:\n" + resource + "    allow_self_approval: sometimes\n",
			[]string{`policy.yaml:7: resources[0].allow_self_approval: expected true or false, got "sometimes"`}},
		{"list expected", "admins: U0ADMIN\nresources:\n" + resource,
			[]string{`policy.yaml:1: admins: expected a list, got "U0ADMIN"`}},
		{"mapping where a string goes", "resources:\n" + resource + "    description: {a: b}\n",
			[]string{`policy.yaml:7: resources[0].description: expected a string, got a mapping`}},
		{"bad duration", `resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    max_duration: 4x
`, []string{`policy.yaml:6: resources[0].max_duration: cannot parse "4x" as a duration: use a number and a unit`}},
		{"zero duration", "resources:\n" + strings.Replace(resource, "4h", "0s", 1),
			[]string{`policy.yaml:6: resources[0].max_duration: duration "0s" must be positive`}},
		{"missing name", `resources:
  - provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    max_duration: 4h
`, []string{`policy.yaml:2: resources[0]: name is required`}},
		{"empty name", "resources:\n" + strings.Replace(resource, "payments-admin\n", "\"\"\n", 1),
			[]string{`policy.yaml:2: resources[0].name: must not be empty`}},
		{"name with a space", "resources:\n" + strings.Replace(resource, "payments-admin\n", "payments admin\n", 1),
			[]string{`policy.yaml:2: resources[0].name: "payments admin" must be one word`}},
		{"missing provider", `resources:
  - name: payments-admin
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    max_duration: 4h
`, []string{`policy.yaml:2: resources[0] (payments-admin): provider is required: one of exec, github, postgres`}},
		{"missing approvers", `resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    max_duration: 4h
`, []string{`policy.yaml:2: resources[0] (payments-admin): approvers is required`}},
		{"empty approvers", "resources:\n" + strings.Replace(resource, "[U0BOB, U0CAROL]", "[]", 1),
			[]string{`policy.yaml:5: resources[0] (payments-admin): approvers is required`}},
		{"missing max_duration", `resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
`, []string{`policy.yaml:2: resources[0] (payments-admin): max_duration is required`}},
		{"duplicate name", "resources:\n" + resource + resource,
			[]string{`policy.yaml:7: resources[1].name: duplicate resource name "payments-admin" (first at line 2)`}},
		{"duplicate name differing in case", "resources:\n" + resource + strings.Replace(resource, "payments-admin\n", "Payments-Admin\n", 1),
			[]string{`policy.yaml:7: resources[1].name: duplicate resource name "Payments-Admin" (first at line 2)`}},
		{"duplicate key", "resources:\n" + resource + "    max_duration: 8h\n",
			[]string{`policy.yaml:7: resources[0] (payments-admin): duplicate field "max_duration" (first at line 6)`}},
		{"unknown provider", `resources:
  - name: payments-admin
    provider: gitlab
    gitlab: {group: payments}
    approvers: [U0BOB]
    max_duration: 4h
`, []string{`policy.yaml:3: resources[0].provider: unknown provider "gitlab": use one of exec, github, postgres`}},
		{"block for another provider", `resources:
  - name: payments-admin
    provider: github
    postgres: {role: readonly}
    approvers: [U0BOB]
    max_duration: 4h
`, []string{`policy.yaml:2: resources[0] (payments-admin): the "github" block is required`,
			`policy.yaml:4: resources[0].postgres: a "postgres" block, but the provider is "github"`}},
		{"extra block for another provider", "resources:\n" + resource + "    postgres: {role: readonly}\n",
			[]string{`policy.yaml:7: resources[0].postgres: a "postgres" block, but the provider is "github"`}},
		{"block is not a mapping", "resources:\n" + strings.Replace(resource, "{org: acme, team: payments-admins}", "acme/payments-admins", 1),
			[]string{`policy.yaml:4: resources[0].github: expected a mapping of github settings, got "acme/payments-admins"`}},
		{"block fails Validate", "resources:\n" + strings.Replace(resource, "{org: acme, team: payments-admins}", "{team: payments-admins, repo: payments}", 1),
			[]string{`policy.yaml:4: resources[0].github: "org" is required`,
				`policy.yaml:4: resources[0].github: set exactly one of "team" or "repo"`}},
		{"wrong type in provider block", `resources:
  - name: payroll-export
    provider: exec
    exec:
      command: /usr/local/bin/payroll-access
      timeout: soon
    approvers: [U0HR]
    max_duration: 1h
`, []string{`policy.yaml:5: resources[0].exec.command: expected a list, got "/usr/local/bin/payroll-access"`,
			`policy.yaml:6: resources[0].exec.timeout: expected a duration such as 30s or 1m30s, got "soon"`}},
		{"approvals_required above approvers", "resources:\n" + resource + "    approvals_required: 3\n",
			[]string{`policy.yaml:7: resources[0].approvals_required: 3 approvals required, but there are only 2 approvers`}},
		{"approvals_required zero", "resources:\n" + resource + "    approvals_required: 0\n",
			[]string{`policy.yaml:7: resources[0].approvals_required: must be at least 1, got 0`}},
		{"min above max", "resources:\n" + resource + "    min_duration: 5h\n",
			[]string{`policy.yaml:7: resources[0].min_duration: 5h is longer than max_duration 4h`}},
		{"bad drift", "resources:\n" + resource + "    drift: delete\n",
			[]string{`policy.yaml:7: resources[0].drift: must be report or revoke, got "delete"`}},
		{"approver not a Slack ID", "resources:\n" + strings.Replace(resource, "[U0BOB, U0CAROL]", "[U0BOB, \"@carol\"]", 1),
			[]string{`policy.yaml:5: resources[0].approvers[1]: "@carol" is not a Slack member or user group ID`}},
		{"approver twice", "resources:\n" + strings.Replace(resource, "[U0BOB, U0CAROL]", "[U0BOB, U0BOB]", 1),
			[]string{`policy.yaml:5: resources[0].approvers[1]: U0BOB is listed twice`}},
		{"admin not a Slack ID", "admins: [bob]\nresources:\n" + resource,
			[]string{`policy.yaml:1: admins[0]: "bob" is not a Slack member or user group ID`}},
		{"identity user not a Slack ID", "identities:\n  alice: {github: alice-gh}\nresources:\n" + resource,
			[]string{`policy.yaml:2: identities: "alice" is not a Slack user ID`}},
		{"unknown identity key", "identities:\n  U0ALICE: {githb: alice-gh}\nresources:\n" + resource,
			[]string{`policy.yaml:2: identities.U0ALICE: unknown identity key "githb" (did you mean "github"?)`}},
		{"identity account of the wrong type", "identities:\n  U0ALICE: {github: [alice-gh]}\nresources:\n" + resource,
			[]string{`policy.yaml:2: identities.U0ALICE.github: expected a string, got a list`}},
		{"empty identity key", "resources:\n" + resource + "    identity: \"\"\n",
			[]string{`policy.yaml:7: resources[0].identity: "" is not an identity key`}},
		{"resource not a mapping", "resources:\n  - payments-admin\n",
			[]string{`policy.yaml:2: resources[0]: expected a mapping`}},
		{"top level not a mapping", "- a\n- b\n",
			[]string{`policy.yaml:1: expected a mapping, got a list`}},
		{"empty file", "",
			[]string{`policy.yaml: the policy is empty`}},
		{"only a comment", "# nothing yet\n",
			[]string{`policy.yaml: the policy is empty`}},
		{"syntax error", "resources:\n  - name: a\n   provider: b\n",
			// yaml.v3 places it at the start of the enclosing list.
			[]string{`policy.yaml:1: did not find expected '-' indicator`}},
		{"two documents", "resources: []\n---\nresources: []\n",
			[]string{`policy.yaml:2: a second YAML document`}},
		{"merge key", "base: &base {approvers: [U0BOB]}\n",
			[]string{`policy.yaml:1: unknown field "base"`}},
		{"merge key in resource", "resources:\n" + resource + "    <<: {drift: report}\n",
			[]string{`policy.yaml:7: resources[0] (payments-admin): merge keys (<<) are not supported`}},
		{"channel name for approval_channel", "resources:\n" + resource + "    approval_channel: \"#approvals\"\n",
			[]string{`policy.yaml:7: resources[0].approval_channel: "#approvals" is a channel name, not a channel ID`, "C0123ABCD", "channel's details"}},
		{"user ID for approval_channel", "resources:\n" + resource + "    approval_channel: U0BOB\n",
			[]string{`policy.yaml:7: resources[0].approval_channel: "U0BOB" is a user ID, not a channel ID`, "leave approval_channel out", "channel's details"}},
		{"empty requesters", "resources:\n" + resource + "    requesters: []\n",
			[]string{`policy.yaml:7: resources[0].requesters: is empty, so nobody could request payments-admin`}},
		{"requester not an ID", "resources:\n" + resource + "    requesters: [\"@finance\"]\n",
			[]string{`policy.yaml:7: resources[0].requesters[0]: "@finance" is not a Slack member or user group ID`, "Copy group ID"}},
		{"more approvals than named approvers", "resources:\n" + strings.Replace(resource, "max_duration", "approvals_required: 3\n    max_duration", 1),
			[]string{`resources[0].approvals_required: 3 approvals required, but there are only 2 approvers`}},
		{"reminder after the timeout", "resources:\n" + resource + "    pending_timeout: 1h\n    remind_after: 2h\n",
			[]string{`policy.yaml:8: resources[0].remind_after: 2h is not before the request times out (pending_timeout 1h)`}},
		{"reminder after the default timeout", "resources:\n" + resource + "    remind_after: 2d\n",
			[]string{`resources[0].remind_after: 2d is not before the request times out (pending_timeout 1d)`}},
		{"bad pending_timeout", "resources:\n" + resource + "    pending_timeout: soon\n",
			[]string{`policy.yaml:7: resources[0].pending_timeout: cannot parse "soon" as a duration`}},
		{"bad reason_pattern", "resources:\n" + resource + "    reason_pattern: 'INC-[0-9'\n",
			[]string{`policy.yaml:7: resources[0].reason_pattern: "INC-[0-9" is not a regular expression: missing closing ]`}},
		{"reason_hint alone", "resources:\n" + resource + "    reason_hint: give a ticket\n",
			[]string{`policy.yaml:7: resources[0].reason_hint: a hint without reason_pattern is never shown`}},
		{"empty system", "resources:\n" + resource + "    system: \"  \"\n",
			[]string{`policy.yaml:7: resources[0].system: must not be empty`}},
		{"system of two lines", "resources:\n" + resource + "    system: \"Pay\\nroll\"\n",
			[]string{`policy.yaml:7: resources[0].system: "Pay\nroll" must be one line of text`}},
		{"names differing only in case", "resources:\n" + resource + strings.Replace(resource, "payments-admin", "Payments-Admin", 1),
			[]string{`resources[1].name: duplicate resource name "Payments-Admin" (first at line 2)`}},
		{"lower-case approval_channel", "resources:\n" + resource + "    approval_channel: approvals\n",
			[]string{`policy.yaml:7: resources[0].approval_channel: "approvals" is not a channel ID: use the channel ID`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("policy.yaml", []byte(tt.src), types)
			if err == nil {
				t.Fatalf("Parse = %+v, want an error containing %q", got, tt.want)
			}
			if got != nil {
				t.Errorf("Parse returned a policy with the error %v", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error:\n%s\nwant it to contain:\n%s", msg, w)
				}
			}
		})
	}
}

func TestParseReportsEveryProblemInFileOrder(t *testing.T) {
	const src = `admins: [U0ADMIN]
resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approver: [U0BOB]
    max_duration: 4x
  - name: prod-db-read
    provider: postgres
    postgres: {role: readonly, rol: x}
    approvers: [U0DBA]
    max_duration: 2h
    drift: sometimes
`
	_, err := Parse("policy.yaml", []byte(src), types)
	if err == nil {
		t.Fatal("Parse: no error")
	}
	want := []string{
		`policy.yaml:3: resources[0] (payments-admin): approvers is required: the Slack user IDs who approve, e.g. [U0BOB, U0CAROL]`,
		`policy.yaml:6: resources[0] (payments-admin): unknown field "approver" (did you mean "approvers"?)`,
		`policy.yaml:7: resources[0].max_duration: cannot parse "4x" as a duration: use a number and a unit, e.g. 45m, 2h, 1h30m, 1d, 90 minutes, 2 hours`,
		`policy.yaml:10: resources[1].postgres: unknown field "rol" (did you mean "role"?)`,
		`policy.yaml:13: resources[1].drift: must be report or revoke, got "sometimes"`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Errorf("error is not errors.Join of %d problems: %#v", len(want), err)
	}
}

func TestParseNestedSettings(t *testing.T) {
	nested := SettingsTypes{"nested": func() any { return new(nestedSettings) }}
	const head = `resources:
  - name: n
    provider: nested
    approvers: [U0BOB]
    max_duration: 1h
    nested:
`
	tests := []struct {
		block string
		want  string // "" for success
	}{
		{"      inner: {level: 2}\n      groups: {a: {members: [x]}}\n      steps: [{run: make}]\n      ptr: {on: true}\n", ""},
		{"      inner: {level: 2, levl: 3}\n", `policy.yaml:7: resources[0].nested.inner: unknown field "levl" (did you mean "level"?)`},
		{"      groups:\n        a: {members: [x], owner: y}\n", `policy.yaml:8: resources[0].nested.groups.a: unknown field "owner"`},
		{"      steps:\n        - run: make\n        - runs: test\n", `policy.yaml:9: resources[0].nested.steps[1]: unknown field "runs" (did you mean "run"?)`},
		{"      ptr: {on: true, off: false}\n", `policy.yaml:7: resources[0].nested.ptr: unknown field "off"`},
		{"      inner: {level: high}\n", `policy.yaml:7: resources[0].nested.inner.level: expected a whole number, got "high"`},
		{"      groups: {a: {members: x}}\n", `policy.yaml:7: resources[0].nested.groups.a.members: expected a list, got "x"`},
	}
	for _, tt := range tests {
		got, err := Parse("policy.yaml", []byte(head+tt.block), nested)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("block:\n%s: Parse error %v", tt.block, err)
		case tt.want == "" && string(got.Resources[0].Settings) != `{"inner":{"level":2},"groups":{"a":{"members":["x"]}},"steps":[{"run":"make"}],"ptr":{"on":true}}`:
			t.Errorf("block:\n%s: Settings = %s", tt.block, got.Resources[0].Settings)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("block:\n%s: error = %v, want it to contain %q", tt.block, err, tt.want)
		}
	}
}

func TestParseBadSettingsType(t *testing.T) {
	bad := SettingsTypes{"bad": func() any { return postgresSettings{} }}
	const src = "resources:\n  - {name: x, provider: bad, bad: {role: r}, approvers: [U0BOB], max_duration: 1h}\n"
	_, err := Parse("policy.yaml", []byte(src), bad)
	if err == nil || !strings.Contains(err.Error(), `settings type of provider "bad" is policy.postgresSettings, not a pointer to a struct`) {
		t.Errorf("error = %v, want it to name the bad settings type", err)
	}
}

func TestParseAliasCycleTerminates(t *testing.T) {
	type node struct {
		Next []node `yaml:"next" json:"next"`
	}
	cyclic := SettingsTypes{"c": func() any { return new(node) }}
	const src = "resources:\n  - {name: x, provider: c, approvers: [U0BOB], max_duration: 1h, c: &a {next: [*a]}}\n"
	_, err := Parse("policy.yaml", []byte(src), cyclic)
	if err == nil || !strings.Contains(err.Error(), "alias *a refers to a value that contains it") {
		t.Errorf("error = %v, want the alias cycle reported", err)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(a6), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := Load(path, types)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(pol.Resources) != 4 {
		t.Errorf("Load: %d resources, want 4", len(pol.Resources))
	}

	if err := os.WriteFile(path, []byte("resources:\n  - name: x\n    provider: github\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, types); err == nil || !strings.Contains(err.Error(), path+":2: resources[0] (x)") {
		t.Errorf("Load error = %v, want it to start with the path and line", err)
	}

	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Load(missing, types); err == nil || !strings.Contains(err.Error(), "nope.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want a not-exist error naming the file", err)
	}
}

// TestParseOneProblemOneMessage checks that a refused value is not also
// reported as missing or out of range.
func TestParseOneProblemOneMessage(t *testing.T) {
	for _, src := range []string{
		"resources:\n" + resource + "    approvals_required: two\n",
		"resources:\n" + strings.Replace(resource, "[U0BOB, U0CAROL]", "U0BOB", 1),
		"resources:\n" + strings.Replace(resource, "4h", "{hours: 4}", 1),
		"resources:\n" + strings.Replace(resource, "name: payments-admin", "name: [payments-admin]", 1),
		"resources:\n" + strings.Replace(resource, "provider: github", "provider: [github]", 1),
	} {
		_, err := Parse("policy.yaml", []byte(src), types)
		if err == nil {
			t.Errorf("Parse(%q): no error", src)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 {
			t.Errorf("Parse(%q): %d messages, want 1:\n%s", src, len(lines), err)
		}
	}
}

func TestParseApprovalChannelIDs(t *testing.T) {
	for _, id := range []string{"C0APPROVALS", "C01234ABCDE", "G0PRIVATE"} {
		got, err := Parse("policy.yaml", []byte("resources:\n"+resource+"    approval_channel: "+id+"\n"), types)
		if err != nil {
			t.Errorf("approval_channel %s: %v", id, err)
			continue
		}
		if got.Resources[0].ApprovalChannel != id {
			t.Errorf("approval_channel %s read as %q", id, got.Resources[0].ApprovalChannel)
		}
	}
}
