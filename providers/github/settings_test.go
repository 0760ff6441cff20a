package github

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name    string
		s       Settings
		wantErr string // "" for valid
	}{
		{"team", Settings{Org: "acme", Team: "payments-admins"}, ""},
		{"repo", Settings{Org: "acme", Repo: "payments", Permission: "push"}, ""},
		{"repo with dots", Settings{Org: "acme", Repo: "acme.github.io", Permission: "admin"}, ""},
		{"every permission", Settings{Org: "acme", Repo: "r", Permission: "maintain"}, ""},
		{"no org", Settings{Team: "payments-admins"}, `"org" is required`},
		{"bad org", Settings{Org: "acme/evil", Team: "t"}, `"org" "acme/evil" is not a valid organization name`},
		{"neither", Settings{Org: "acme"}, `set "team" (team membership) or "repo"`},
		{"both", Settings{Org: "acme", Team: "t", Repo: "r", Permission: "push"}, `only one of "team" or "repo"`},
		{"team display name", Settings{Org: "acme", Team: "Payments Admins"}, `is not a team slug`},
		{"team path traversal", Settings{Org: "acme", Team: ".."}, `is not a team slug`},
		{"permission with team", Settings{Org: "acme", Team: "t", Permission: "push"}, `"permission" applies only with "repo"`},
		{"repo without permission", Settings{Org: "acme", Repo: "payments"}, `"permission" is required with "repo": one of pull, triage, push, maintain, admin`},
		{"legacy permission name", Settings{Org: "acme", Repo: "payments", Permission: "write"}, `"permission" "write" is not one of pull, triage, push, maintain, admin`},
		{"repo with owner", Settings{Org: "acme", Repo: "acme/payments", Permission: "push"}, `without the owner`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		raw     string
		want    Settings
		wantErr string
	}{
		{`{"org":"acme","team":"payments-admins"}`, Settings{Org: "acme", Team: "payments-admins"}, ""},
		{`{"org":"acme","repo":"payments","permission":"push"}`, Settings{Org: "acme", Repo: "payments", Permission: "push"}, ""},
		{`{"org":"acme","teams":"payments-admins"}`, Settings{}, `unknown field "teams"`},
		{`{"org":"acme","team":"t"} {"x":1}`, Settings{}, "unexpected data after"},
		{``, Settings{}, "settings missing"},
		{`null`, Settings{}, "settings missing"},
		{`{"org":"acme"}`, Settings{}, `set "team"`},
		{`[1]`, Settings{}, "github: settings:"},
	}
	for _, tt := range tests {
		got, err := ParseSettings(json.RawMessage(tt.raw))
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseSettings(%s) = %+v, %v; want %+v, nil", tt.raw, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseSettings(%s) error = %v; want one containing %q", tt.raw, err, tt.wantErr)
		}
	}
}

func TestSettingsYAMLAndJSONTags(t *testing.T) {
	b, err := json.Marshal(Settings{Org: "acme", Team: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"org":"acme","team":"t"}`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
}
