// Package providertest is a conformance kit for approvals.Provider
// implementations. A provider's tests call Run against its real backend (a
// PostgreSQL server, an exec plugin, a fake that speaks the real wire
// format) to check the contract every provider owes approvals.Service:
// grant then hold, revoke then not hold, idempotent grant and revoke,
// revoke of access never granted, access held before accessbot, prompt
// failure on a cancelled context, and, for an approvals.HolderLister,
// listing holders.
//
// Every subtest starts from a clean slate: it revokes the access of both
// identities through the provider and checks that neither holds it, and it
// revokes both again when it ends.
package providertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// DefaultCallTimeout bounds each provider call the kit makes when
// Harness.CallTimeout is zero.
const DefaultCallTimeout = 15 * time.Second

// promptly is how soon a call with a cancelled context must return.
const promptly = 2 * time.Second

// Harness describes the provider under test and the world it acts on.
type Harness struct {
	// Provider is the provider under test.
	Provider approvals.Provider
	// Resource is the resource name put in requests; "providertest" if empty.
	Resource string
	// Settings is the provider settings block of one resource, as
	// approvals.Resource.Settings holds it.
	Settings json.RawMessage
	// Identity and OtherIdentity are two distinct accounts that exist in the
	// backend and may be granted the access.
	Identity      string
	OtherIdentity string
	// Preexisting gives identity the access outside the provider (as a DBA
	// or an admin would, by hand), so the kit can check that Holds reports
	// access accessbot did not grant. When nil, that subtest is skipped. It
	// registers with t.Cleanup whatever undo a Revoke would not do.
	Preexisting func(t *testing.T, identity string)
	// CallTimeout bounds each provider call; DefaultCallTimeout if zero.
	CallTimeout time.Duration
}

// Run runs the conformance subtests against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Provider == nil {
		t.Fatal("providertest: Harness.Provider is nil")
	}
	if h.Identity == "" || h.OtherIdentity == "" || h.Identity == h.OtherIdentity {
		t.Fatal("providertest: Harness needs two distinct, non-empty identities")
	}
	if h.Resource == "" {
		h.Resource = "providertest"
	}
	if h.CallTimeout <= 0 {
		h.CallTimeout = DefaultCallTimeout
	}
	k := &kit{h: h}

	k.run(t, "GrantThenHolds", func(t *testing.T) {
		k.wantHolds(t, h.Identity, false)
		k.grant(t, h.Identity)
		k.wantHolds(t, h.Identity, true)
		k.wantHolds(t, h.OtherIdentity, false) // only the named identity
	})
	k.run(t, "RevokeThenNotHeld", func(t *testing.T) {
		k.grant(t, h.Identity)
		k.grant(t, h.OtherIdentity)
		k.revoke(t, h.Identity)
		k.wantHolds(t, h.Identity, false)
		k.wantHolds(t, h.OtherIdentity, true) // only the named identity
	})
	k.run(t, "RevokeNeverGrantedSucceeds", func(t *testing.T) {
		k.revoke(t, h.OtherIdentity)
		k.wantHolds(t, h.OtherIdentity, false)
	})
	k.run(t, "PreexistingAccessIsHeld", func(t *testing.T) {
		if h.Preexisting == nil {
			t.Skip("Harness.Preexisting is nil")
		}
		h.Preexisting(t, h.Identity)
		k.wantHolds(t, h.Identity, true)
		k.wantHolds(t, h.OtherIdentity, false)
	})
	k.run(t, "GrantTwiceIsIdempotent", func(t *testing.T) {
		k.grant(t, h.Identity)
		k.grant(t, h.Identity)
		k.wantHolds(t, h.Identity, true)
		// One revoke ends access granted twice: grants do not stack.
		k.revoke(t, h.Identity)
		k.wantHolds(t, h.Identity, false)
	})
	k.run(t, "RevokeTwiceIsIdempotent", func(t *testing.T) {
		k.grant(t, h.Identity)
		k.revoke(t, h.Identity)
		k.revoke(t, h.Identity)
		k.wantHolds(t, h.Identity, false)
	})
	k.run(t, "CancelledContextFailsPromptly", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		k.wantPromptError(t, "Grant", func() error {
			_, err := h.Provider.Grant(ctx, k.grantRequest(h.Identity))
			return err
		})
		k.wantPromptError(t, "Holds", func() error {
			_, err := h.Provider.Holds(ctx, k.holdsRequest(h.Identity))
			return err
		})
		k.wantPromptError(t, "Revoke", func() error {
			return h.Provider.Revoke(ctx, k.revokeRequest(h.Identity))
		})
		if l, ok := h.Provider.(approvals.HolderLister); ok {
			k.wantPromptError(t, "Holders", func() error {
				_, err := l.Holders(ctx, approvals.HoldersRequest{Resource: h.Resource, Settings: h.Settings})
				return err
			})
		}
		// A call whose context was cancelled before it started does nothing.
		k.wantHolds(t, h.Identity, false)
	})
	k.run(t, "HoldersListsGrantedNotRevoked", func(t *testing.T) {
		l, ok := h.Provider.(approvals.HolderLister)
		if !ok {
			t.Skipf("%T does not implement approvals.HolderLister", h.Provider)
		}
		k.grant(t, h.Identity)
		k.grant(t, h.OtherIdentity)
		k.revoke(t, h.OtherIdentity)
		ctx, cancel := k.ctx()
		defer cancel()
		holders, err := l.Holders(ctx, approvals.HoldersRequest{Resource: h.Resource, Settings: h.Settings})
		if err != nil {
			t.Fatalf("Holders: %v", err)
		}
		if !slices.Contains(holders, h.Identity) {
			t.Errorf("Holders = %q, want it to contain granted %q", holders, h.Identity)
		}
		if slices.Contains(holders, h.OtherIdentity) {
			t.Errorf("Holders = %q, want it not to contain revoked %q", holders, h.OtherIdentity)
		}
	})
}

// kit runs the subtests of one Harness.
type kit struct {
	h   Harness
	seq int
}

// run runs one subtest between two clean-ups that remove both identities'
// access through the provider.
func (k *kit) run(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		k.reset(t, "before the subtest")
		t.Cleanup(func() { k.reset(t, "after the subtest") })
		fn(t)
	})
}

// reset revokes both identities' access and checks it is gone.
func (k *kit) reset(t *testing.T, when string) {
	t.Helper()
	for _, id := range []string{k.h.Identity, k.h.OtherIdentity} {
		ctx, cancel := k.ctx()
		err := k.h.Provider.Revoke(ctx, k.revokeRequest(id))
		if err == nil {
			var held bool
			held, err = k.h.Provider.Holds(ctx, k.holdsRequest(id))
			if err == nil && held {
				err = fmt.Errorf("%q still holds the access after Revoke", id)
			}
		}
		cancel()
		if err != nil {
			t.Fatalf("providertest: cannot clear access %s: %v", when, err)
		}
	}
}

func (k *kit) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), k.h.CallTimeout)
}

func (k *kit) requestID() string {
	k.seq++
	return fmt.Sprintf("providertest-%d", k.seq)
}

func (k *kit) grantRequest(identity string) approvals.GrantRequest {
	return approvals.GrantRequest{
		RequestID: k.requestID(),
		Resource:  k.h.Resource,
		Identity:  identity,
		Requester: "U0PROVIDERTEST",
		Approvers: []string{"U0APPROVER"},
		Reason:    "providertest conformance run",
		Duration:  time.Hour,
		ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second),
		Settings:  k.h.Settings,
	}
}

func (k *kit) revokeRequest(identity string) approvals.RevokeRequest {
	return approvals.RevokeRequest{RequestID: k.requestID(), Resource: k.h.Resource, Identity: identity, Settings: k.h.Settings}
}

func (k *kit) holdsRequest(identity string) approvals.HoldsRequest {
	return approvals.HoldsRequest{Resource: k.h.Resource, Identity: identity, Settings: k.h.Settings}
}

func (k *kit) grant(t *testing.T, identity string) {
	t.Helper()
	ctx, cancel := k.ctx()
	defer cancel()
	if _, err := k.h.Provider.Grant(ctx, k.grantRequest(identity)); err != nil {
		t.Fatalf("Grant(%q): %v", identity, err)
	}
}

func (k *kit) revoke(t *testing.T, identity string) {
	t.Helper()
	ctx, cancel := k.ctx()
	defer cancel()
	if err := k.h.Provider.Revoke(ctx, k.revokeRequest(identity)); err != nil {
		t.Fatalf("Revoke(%q): %v", identity, err)
	}
}

func (k *kit) wantHolds(t *testing.T, identity string, want bool) {
	t.Helper()
	ctx, cancel := k.ctx()
	defer cancel()
	got, err := k.h.Provider.Holds(ctx, k.holdsRequest(identity))
	if err != nil {
		t.Fatalf("Holds(%q): %v", identity, err)
	}
	if got != want {
		t.Fatalf("Holds(%q) = %v, want %v", identity, got, want)
	}
}

// wantPromptError checks that call, made with a cancelled context, fails
// within promptly.
func (k *kit) wantPromptError(t *testing.T, name string, call func() error) {
	t.Helper()
	start := time.Now()
	err := call()
	elapsed := time.Since(start)
	if err == nil {
		t.Errorf("%s with a cancelled context succeeded, want an error", name)
	}
	if elapsed > promptly {
		t.Errorf("%s with a cancelled context took %s, want at most %s", name, elapsed.Round(time.Millisecond), promptly)
	}
}
