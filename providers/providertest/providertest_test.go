package providertest_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers/providertest"
)

// memory is the simplest provider that keeps the contract: a set of
// holders. It checks the kit itself; real providers run the kit against
// their real backends.
type memory struct {
	mu      sync.Mutex
	holders map[string]bool
}

func (m *memory) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	if err := ctx.Err(); err != nil {
		return approvals.GrantResult{}, approvals.Transient(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holders[req.Identity] = true
	return approvals.GrantResult{}, nil
}

func (m *memory) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	if err := ctx.Err(); err != nil {
		return approvals.Transient(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.holders, req.Identity)
	return nil
}

func (m *memory) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, approvals.Transient(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holders[req.Identity], nil
}

func (m *memory) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, approvals.Transient(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for h := range m.holders {
		out = append(out, h)
	}
	slices.Sort(out)
	return out, nil
}

func TestRunAgainstMemoryProvider(t *testing.T) {
	m := &memory{holders: map[string]bool{}}
	providertest.Run(t, providertest.Harness{
		Provider:      m,
		Settings:      []byte(`{}`),
		Identity:      "alice",
		OtherIdentity: "bob",
		Preexisting: func(t *testing.T, identity string) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.holders[identity] = true
		},
	})
}
