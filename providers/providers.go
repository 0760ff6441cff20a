// Package providers is the registry of provider plugins: it maps the
// policy's provider names to their settings types and builds the providers
// a policy uses from the server's configuration. Registration is explicit,
// here, in one place; there is no init() magic.
package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/accessbot/accessbot/approvals"
	execprovider "github.com/accessbot/accessbot/providers/exec"
	"github.com/accessbot/accessbot/providers/github"
	"github.com/accessbot/accessbot/providers/postgres"
	"github.com/accessbot/accessbot/providers/salesforce"
)

// Provider names, as the policy's `provider:` field spells them.
const (
	GitHub     = "github"
	Postgres   = "postgres"
	Exec       = "exec"
	Salesforce = "salesforce"
)

// SettingsTypes returns, for each provider name, a constructor of its typed
// settings block; the policy loader decodes each resource's block into it
// strictly and calls its Validate method.
func SettingsTypes() map[string]func() any {
	return map[string]func() any{
		GitHub:     func() any { return new(github.Settings) },
		Postgres:   func() any { return new(postgres.Settings) },
		Exec:       func() any { return new(execprovider.Settings) },
		Salesforce: func() any { return new(salesforce.Settings) },
	}
}

// Config is what the providers need from the server configuration.
type Config struct {
	GitHubToken             string
	GitHubAppID             int64
	GitHubAppInstallationID int64
	GitHubAppPrivateKeyFile string
	GitHubAPIURL            string
	PostgresDSN             string
	// Salesforce configures the salesforce provider; see its package doc
	// for the ACCESSBOT_SALESFORCE_* variables.
	Salesforce salesforce.Config
	Logger     *slog.Logger
}

// Set is the providers built for one policy.
type Set struct {
	Providers map[string]approvals.Provider
	closers   []func()
}

// Close releases connections (the PostgreSQL pool).
func (s *Set) Close() {
	for _, c := range s.closers {
		c()
	}
}

// Build constructs every provider pol uses, and only those: a policy
// without PostgreSQL resources needs no DSN. All problems are reported
// together, each naming the variable to set.
func Build(ctx context.Context, pol *approvals.Policy, cfg Config) (*Set, error) {
	return BuildUsed(ctx, Used(pol), cfg)
}

// Used maps each provider name pol uses to the resources that use it.
func Used(pol *approvals.Policy) map[string][]string {
	used := map[string][]string{}
	for _, r := range pol.Resources {
		used[r.Provider] = append(used[r.Provider], r.Name)
	}
	return used
}

// BuildUsed constructs the providers named by the keys of used; the values
// (what needs each provider: resources, open grants) only explain errors.
// The server adds the providers of grants still in force to those of the
// policy, so a grant whose resource left the policy is still revoked.
func BuildUsed(ctx context.Context, used map[string][]string, cfg Config) (*Set, error) {
	set := &Set{Providers: map[string]approvals.Provider{}}
	var errs []error
	for name, resources := range used {
		p, closer, err := build(ctx, name, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("provider %s (used by %v): %w", name, resources, err))
			continue
		}
		set.Providers[name] = p
		if closer != nil {
			set.closers = append(set.closers, closer)
		}
	}
	if len(errs) > 0 {
		set.Close()
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func build(ctx context.Context, name string, cfg Config) (approvals.Provider, func(), error) {
	switch name {
	case GitHub:
		p, err := github.New(github.Config{
			Token:          cfg.GitHubToken,
			AppID:          cfg.GitHubAppID,
			InstallationID: cfg.GitHubAppInstallationID,
			PrivateKeyFile: cfg.GitHubAppPrivateKeyFile,
			APIURL:         cfg.GitHubAPIURL,
		})
		return p, nil, err
	case Postgres:
		if cfg.PostgresDSN == "" {
			return nil, nil, errors.New("ACCESSBOT_POSTGRES_DSN is not set")
		}
		p, err := postgres.New(ctx, cfg.PostgresDSN)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	case Exec:
		return execprovider.New(cfg.Logger), nil, nil
	case Salesforce:
		p, err := salesforce.New(cfg.Salesforce)
		return p, nil, err
	}
	return nil, nil, fmt.Errorf("unknown provider %q", name)
}
