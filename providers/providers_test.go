package providers

import (
	"context"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/approvals"
)

func policyUsing(resources map[string]string) *approvals.Policy {
	p := &approvals.Policy{}
	for name, provider := range resources {
		p.Resources = append(p.Resources, approvals.Resource{Name: name, Provider: provider})
	}
	return p
}

// TestSettingsTypes checks that every provider name has a settings type
// the policy loader can decode into and validate.
func TestSettingsTypes(t *testing.T) {
	types := SettingsTypes()
	for _, name := range []string{GitHub, Postgres, Exec, Salesforce} {
		newSettings, ok := types[name]
		if !ok {
			t.Errorf("no settings type for provider %q", name)
			continue
		}
		v := newSettings()
		if _, ok := v.(interface{ Validate() error }); !ok {
			t.Errorf("settings of %q (%T) have no Validate method", name, v)
		}
	}
	if len(types) != 4 {
		t.Errorf("SettingsTypes has %d providers, want 4", len(types))
	}
}

// TestBuildOnlyWhatThePolicyUses checks that a policy without GitHub or
// PostgreSQL resources needs neither credentials nor a DSN.
func TestBuildOnlyWhatThePolicyUses(t *testing.T) {
	set, err := Build(context.Background(), policyUsing(map[string]string{"payroll-export": Exec}), Config{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer set.Close()
	if len(set.Providers) != 1 || set.Providers[Exec] == nil {
		t.Errorf("providers = %v, want exec only", set.Providers)
	}
}

// TestBuildReportsEveryProblem checks that one Build names every missing
// setting, and the resources that need it.
func TestBuildReportsEveryProblem(t *testing.T) {
	pol := policyUsing(map[string]string{"payments-admin": GitHub, "prod-db-read": Postgres, "payroll-export": Exec, "crm-admin": Salesforce})
	_, err := Build(context.Background(), pol, Config{})
	if err == nil {
		t.Fatal("Build succeeded without GitHub credentials and without a DSN")
	}
	for _, want := range []string{"ACCESSBOT_GITHUB_TOKEN", "payments-admin", "ACCESSBOT_POSTGRES_DSN", "prod-db-read", "ACCESSBOT_SALESFORCE_CLIENT_ID", "crm-admin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestBuildUnknownProvider(t *testing.T) {
	_, err := BuildUsed(context.Background(), map[string][]string{"gitlab": {"r"}}, Config{})
	if err == nil || !strings.Contains(err.Error(), `unknown provider "gitlab"`) {
		t.Fatalf("Build of an unknown provider = %v, want an error naming it", err)
	}
}
