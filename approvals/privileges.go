package approvals

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ActionPrivileges records what the bot's own credentials can do beyond
// what the policy needs, as each provider reports it at start.
const ActionPrivileges = "privileges"

// PrivilegeChecker is implemented by providers that can tell what their
// own credentials allow beyond what the policy needs. The bot is the most
// privileged account in the picture: what it can do, anyone who takes it
// over can do, so each excess is worth knowing about and removing.
type PrivilegeChecker interface {
	// ExcessPrivileges returns, in words, each thing the provider's
	// credentials can do that granting and revoking the resources with
	// these settings does not need (none: least privilege).
	ExcessPrivileges(ctx context.Context, settings []json.RawMessage) ([]string, error)
}

// PrivilegeReport is one provider's answer.
type PrivilegeReport struct {
	Provider string
	Excess   []string
	// Err is set when the provider could not tell; its credentials are
	// then of unknown reach.
	Err error
}

// CheckPrivileges asks every provider that can tell what its credentials
// allow beyond the policy's needs, records the answers in the audit log
// (one event, posted to the audit channel, when anything is beyond or
// unknown) and returns them, providers in name order.
func (s *Service) CheckPrivileges(ctx context.Context) ([]PrivilegeReport, error) {
	p := s.Policy()
	settings := map[string][]json.RawMessage{}
	for _, r := range p.Resources {
		settings[r.Provider] = append(settings[r.Provider], r.Settings)
	}
	var names []string
	for name := range s.providers {
		names = append(names, name)
	}
	slices.Sort(names)
	var reports []PrivilegeReport
	var lines []string
	for _, name := range names {
		pc, ok := optional[PrivilegeChecker](s.providers[name])
		if !ok {
			continue
		}
		rep := PrivilegeReport{Provider: name}
		rep.Excess, rep.Err = pc.ExcessPrivileges(ctx, settings[name])
		reports = append(reports, rep)
		switch {
		case rep.Err != nil:
			lines = append(lines, fmt.Sprintf("%s: could not check its credentials: %v", name, rep.Err))
		case len(rep.Excess) > 0:
			lines = append(lines, fmt.Sprintf("%s: %s", name, strings.Join(rep.Excess, "; ")))
		}
		s.log.Info("provider privileges checked", "provider", name, "excess", rep.Excess, "err", rep.Err)
	}
	if len(lines) == 0 {
		return reports, nil
	}
	ev := Event{
		Time: s.now(), Action: ActionPrivileges, Actor: SystemActor, Outcome: "beyond_policy",
		Detail: "the bot's credentials can do more than the policy needs: " + strings.Join(lines, " | "),
	}
	if p != nil {
		ev.PolicyHash = p.Hash
	}
	if err := s.store.AppendEvent(ctx, ev, tell(ev, false)); err != nil {
		return reports, fmt.Errorf("record privilege report: %w", err)
	}
	return reports, nil
}

// Beyond reports whether any report found an excess or could not check.
func Beyond(reports []PrivilegeReport) bool {
	for _, r := range reports {
		if r.Err != nil || len(r.Excess) > 0 {
			return true
		}
	}
	return false
}

// optional returns p as T, looking through providers that wrap another
// (to count its calls, say) and say so with Unwrap, so that the optional
// interfaces of the one inside are found.
func optional[T any](p Provider) (T, bool) {
	for {
		if t, ok := p.(T); ok {
			return t, true
		}
		u, ok := p.(interface{ Unwrap() Provider })
		if !ok {
			var zero T
			return zero, false
		}
		p = u.Unwrap()
	}
}
