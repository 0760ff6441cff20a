package providertest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
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
	// flaw, when set, breaks one rule of the contract (see
	// TestRunCatchesBrokenProviders).
	flaw string
	// count is how many grants each identity received, for "grants-stack".
	count map[string]int
}

func (m *memory) ctxErr(ctx context.Context) error {
	if m.flaw == "ignores-context" {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return approvals.Transient(err)
	}
	return nil
}

func (m *memory) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	if err := m.ctxErr(ctx); err != nil {
		return approvals.GrantResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holders[req.Identity] = true
	m.count[req.Identity]++
	return approvals.GrantResult{}, nil
}

func (m *memory) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	if err := m.ctxErr(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.flaw == "revoke-absent-fails" && !m.holders[req.Identity]:
		return errors.New("not a holder")
	case m.flaw == "grants-stack" && m.count[req.Identity] > 1:
		m.count[req.Identity]--
		return nil
	}
	delete(m.holders, req.Identity)
	m.count[req.Identity] = 0 // the key stays: "holders-stale" lists it
	return nil
}

func (m *memory) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	if err := m.ctxErr(ctx); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.flaw == "ignores-identity" {
		return len(m.holders) > 0, nil
	}
	return m.holders[req.Identity], nil
}

func (m *memory) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	if err := m.ctxErr(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for h := range m.count {
		if m.holders[h] || m.flaw == "holders-stale" {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out, nil
}

func harness(m *memory) providertest.Harness {
	return providertest.Harness{
		Provider:      m,
		Settings:      []byte(`{}`),
		Identity:      "alice",
		OtherIdentity: "bob",
		Preexisting: func(t *testing.T, identity string) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.holders[identity] = true
			m.count[identity] = 1
		},
	}
}

func TestRunAgainstMemoryProvider(t *testing.T) {
	providertest.Run(t, harness(&memory{holders: map[string]bool{}, count: map[string]int{}}))
}

// flawEnv names the contract rule a broken provider breaks, in the child
// process TestRunCatchesBrokenProviders starts.
const flawEnv = "PROVIDERTEST_FLAW"

// TestBrokenProvider runs the kit against a provider with the flaw named
// by flawEnv; it runs only in the child process, where it must fail.
func TestBrokenProvider(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestRunCatchesBrokenProviders")
	}
	providertest.Run(t, harness(&memory{holders: map[string]bool{}, count: map[string]int{}, flaw: flaw}))
}

// TestRunCatchesBrokenProviders checks that the kit fails a provider that
// breaks each rule, in the subtest that checks that rule.
func TestRunCatchesBrokenProviders(t *testing.T) {
	if os.Getenv(flawEnv) != "" {
		t.Skip("in the child process")
	}
	flaws := map[string]string{
		"ignores-identity":    "--- FAIL: TestBrokenProvider/GrantThenHolds",
		"grants-stack":        "--- FAIL: TestBrokenProvider/GrantTwiceIsIdempotent",
		"revoke-absent-fails": "cannot clear access before the subtest",
		"ignores-context":     "--- FAIL: TestBrokenProvider/CancelledContextFailsPromptly",
		"holders-stale":       "--- FAIL: TestBrokenProvider/HoldersListsGrantedNotRevoked",
	}
	for flaw, want := range flaws {
		t.Run(flaw, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenProvider$", "-test.v")
			cmd.Env = append(os.Environ(), flawEnv+"="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a provider with flaw %s:\n%s", flaw, out)
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("output does not contain %q:\n%s", want, out)
			}
		})
	}
}
