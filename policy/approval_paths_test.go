package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const pathsResource = `resources:
  - name: payments-admin
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB, U0CAROL]
    max_duration: 4h
`

func TestParseApprovalPaths(t *testing.T) {
	tests := []struct {
		name     string
		extra    string
		identity string
		bg       bool
		bgMax    time.Duration
		limit    time.Duration
		schedule []string
		stepUp   string
	}{
		{name: "none", limit: 4 * time.Hour},
		{name: "break-glass true", extra: "    break_glass: true\n", bg: true, limit: 4 * time.Hour},
		{name: "break-glass false", extra: "    break_glass: false\n", limit: 4 * time.Hour},
		{name: "break-glass with its own maximum", extra: "    break_glass: {max_duration: 30m}\n", bg: true, bgMax: 30 * time.Minute, limit: 30 * time.Minute},
		{name: "break-glass mapping without maximum", extra: "    break_glass: {}\n", bg: true, limit: 4 * time.Hour},
		{name: "auto-approve", extra: "    auto_approve: {pagerduty: {schedule_ids: [P123ABC, PXYZ9]}}\n",
			identity: "identities:\n  U0ALICE: {github: alice-gh, pagerduty: alice@acme.example}\n",
			schedule: []string{"P123ABC", "PXYZ9"}, limit: 4 * time.Hour},
		{name: "step-up", extra: "    step_up: duo\n",
			identity: "identities:\n  U0BOB: {github: bob-gh, duo: bob}\n", stepUp: "duo", limit: 4 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := Parse("policy.yaml", []byte(tt.identity+pathsResource+tt.extra), types)
			if err != nil {
				t.Fatal(err)
			}
			r := pol.Resources[0]
			if r.BreakGlass != tt.bg || r.BreakGlassMax != tt.bgMax || r.BreakGlassLimit() != tt.limit {
				t.Errorf("break-glass = %v, max %v, limit %v; want %v, %v, %v", r.BreakGlass, r.BreakGlassMax, r.BreakGlassLimit(), tt.bg, tt.bgMax, tt.limit)
			}
			var got []string
			if r.AutoApprove != nil {
				got = r.AutoApprove.PagerDutySchedules
			}
			if !reflect.DeepEqual(got, tt.schedule) {
				t.Errorf("schedules = %v, want %v", got, tt.schedule)
			}
			if r.StepUp != tt.stepUp {
				t.Errorf("step_up = %q, want %q", r.StepUp, tt.stepUp)
			}
		})
	}
}

func TestParseApprovalPathsErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"break-glass word", pathsResource + "    break_glass: yes\n",
			`policy.yaml:7: resources[0].break_glass: expected true, false or a mapping {max_duration: 30m}, got "yes"`},
		{"break-glass list", pathsResource + "    break_glass: [30m]\n",
			`policy.yaml:7: resources[0].break_glass: expected true, false or a mapping {max_duration: 30m}, got a list`},
		{"break-glass unknown key", pathsResource + "    break_glass: {max_duraton: 30m}\n",
			`policy.yaml:7: resources[0].break_glass: unknown field "max_duraton" (did you mean "max_duration"?)`},
		{"break-glass bad duration", pathsResource + "    break_glass:\n      max_duration: soon\n",
			`policy.yaml:8: resources[0].break_glass.max_duration: cannot parse "soon" as a duration`},
		{"auto-approve without pagerduty", pathsResource + "    auto_approve: {}\n",
			`policy.yaml:7: resources[0].auto_approve: pagerduty is required`},
		{"auto-approve unknown key", pathsResource + "    auto_approve: {pagerdty: {schedule_ids: [P1]}}\n",
			`policy.yaml:7: resources[0].auto_approve: unknown field "pagerdty" (did you mean "pagerduty"?)`},
		{"auto-approve no schedules", pathsResource + "    auto_approve: {pagerduty: {schedule_ids: []}}\n",
			`policy.yaml:7: resources[0].auto_approve.pagerduty: schedule_ids is required`},
		{"auto-approve bad schedule", pathsResource + "    auto_approve: {pagerduty: {schedule_ids: [oncall]}}\n",
			`policy.yaml:7: resources[0].auto_approve.pagerduty.schedule_ids[0]: "oncall" is not a PagerDuty schedule ID`},
		{"step-up unknown", pathsResource + "    step_up: sms\n",
			`policy.yaml:7: resources[0].step_up: unknown step-up method "sms": use duo`},
		{"duo identity without step-up", "identities:\n  U0BOB: {github: bob-gh, duo: bob}\n" + pathsResource,
			`policy.yaml:2: identities.U0BOB: unknown identity key "duo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte(tt.src), types)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
}
