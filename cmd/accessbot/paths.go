package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/duo"
	"github.com/accessbot/accessbot/pagerduty"
)

// Identity keys under which the policy maps a Slack user to the person at
// PagerDuty (an email) and at Duo (a username).
const (
	identityPagerDuty = "pagerduty"
	identityDuo       = "duo"
)

// duoTimeout is how long an approver has to answer a push. It stays under
// the bot's one-minute bound on work done after a click is answered, so a
// push that is never answered is told as a timeout.
const duoTimeout = 45 * time.Second

// pathClients builds the PagerDuty and Duo clients the configuration asks
// for, adapted to what approvals consumes. A policy whose resources need
// one that is not configured is refused: an auto_approve rule would never
// apply, and a step_up resource could never be approved.
func (m *Main) pathClients(pol *approvals.Policy) (approvals.OnCall, map[string]approvals.StepUp, error) {
	cfg := m.Config
	if err := m.checkPaths(pol); err != nil {
		return nil, nil, err
	}
	policy := func() *approvals.Policy { return m.svc.Policy() }
	var onCall approvals.OnCall
	if cfg.PagerDutyToken != "" {
		c, err := pagerduty.New(pagerduty.Config{Token: cfg.PagerDutyToken, APIURL: cfg.PagerDutyAPIURL})
		if err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
		onCall = &pagerDutyOnCall{client: c, policy: policy, log: m.Logger.Warn}
	}
	var stepUp map[string]approvals.StepUp
	if cfg.DuoHost != "" || cfg.DuoIKey != "" || cfg.DuoSKeyFile != "" {
		var skey string
		if cfg.DuoSKeyFile != "" {
			b, err := os.ReadFile(cfg.DuoSKeyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("configuration: ACCESSBOT_DUO_SKEY_FILE: %w", err)
			}
			skey = strings.TrimSpace(string(b))
		}
		c, err := duo.New(duo.Config{Host: cfg.DuoHost, IKey: cfg.DuoIKey, SKey: skey, Timeout: duoTimeout})
		if err != nil {
			return nil, nil, fmt.Errorf("configuration: %w", err)
		}
		stepUp = map[string]approvals.StepUp{"duo": &duoStepUp{client: c, policy: policy}}
	}
	return onCall, stepUp, nil
}

// checkPaths refuses a policy that needs PagerDuty or Duo when the server
// has no credentials for it.
func (m *Main) checkPaths(pol *approvals.Policy) error {
	cfg := m.Config
	var autoApprove, stepUp []string
	for _, r := range pol.Resources {
		if r.AutoApprove != nil {
			autoApprove = append(autoApprove, r.Name)
		}
		if r.StepUp != "" {
			stepUp = append(stepUp, r.Name)
		}
	}
	var errs []error
	if len(autoApprove) > 0 && cfg.PagerDutyToken == "" {
		errs = append(errs, fmt.Errorf("configuration: the policy has auto_approve rules (%s) but ACCESSBOT_PAGERDUTY_TOKEN is not set", strings.Join(autoApprove, ", ")))
	}
	if len(stepUp) > 0 && (cfg.DuoHost == "" || cfg.DuoIKey == "" || cfg.DuoSKeyFile == "") {
		errs = append(errs, fmt.Errorf("configuration: the policy asks for step_up: duo (%s) but ACCESSBOT_DUO_HOST, ACCESSBOT_DUO_IKEY and ACCESSBOT_DUO_SKEY_FILE are not all set", strings.Join(stepUp, ", ")))
	}
	return errors.Join(errs...)
}

// pagerDutyOnCall answers approvals' on-call question with PagerDuty,
// finding the requester by the email the policy gives under identities'
// pagerduty key. Without one, or with no PagerDuty user of that email,
// the requester is not on call.
type pagerDutyOnCall struct {
	client *pagerduty.Client
	policy func() *approvals.Policy
	log    func(msg string, args ...any)
}

var _ approvals.OnCall = (*pagerDutyOnCall)(nil)

func (p *pagerDutyOnCall) OnCall(ctx context.Context, requester string, scheduleIDs []string, at time.Time) (string, bool, error) {
	email := p.policy().Identities[requester][identityPagerDuty]
	if email == "" {
		return "", false, nil
	}
	schedule, on, err := p.client.OnCall(ctx, email, scheduleIDs, at)
	if errors.Is(err, pagerduty.ErrUserNotFound) {
		p.log("no PagerDuty user has the email the policy gives; not on call", "user", requester)
		return "", false, nil
	}
	return schedule, on, err
}

// duoStepUp confirms approvals with a Duo Push to the approver's Duo
// username, given by the policy under identities' duo key. Without one the
// approval is refused.
type duoStepUp struct {
	client *duo.Client
	policy func() *approvals.Policy
}

var _ approvals.StepUp = (*duoStepUp)(nil)

func (d *duoStepUp) Verify(ctx context.Context, approver, reason string) (bool, error) {
	username := d.policy().Identities[approver][identityDuo]
	if username == "" {
		return false, fmt.Errorf("no duo identity for %s in the policy", approver)
	}
	ok, err := d.client.Push(ctx, username, reason)
	if errors.Is(err, duo.ErrNotApproved) {
		return false, nil
	}
	return ok, err
}
