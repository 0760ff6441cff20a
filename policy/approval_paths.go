package policy

import (
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/approvals"
)

// ApprovalPaths are the resource keys for ways to access other than one
// approver's click: break-glass, auto-approval and step-up. It is inlined
// into a resource's keys; exported only because the decoder reads
// exported fields.
type ApprovalPaths struct {
	// BreakGlass is true, false, or a mapping {max_duration: 30m}: both
	// forms are read by hand, so it stays a node.
	BreakGlass  yaml.Node       `yaml:"break_glass"`
	AutoApprove *autoApproveDoc `yaml:"auto_approve"`
	StepUp      string          `yaml:"step_up"`
}

type breakGlassDoc struct {
	MaxDuration string `yaml:"max_duration"`
}

type autoApproveDoc struct {
	PagerDuty *pagerDutyRuleDoc `yaml:"pagerduty"`
}

type pagerDutyRuleDoc struct {
	ScheduleIDs []string `yaml:"schedule_ids"`
}

// Identity keys the paths read: the requester's PagerDuty email, and the
// approver's Duo username.
const (
	identityPagerDuty = "pagerduty"
	identityDuo       = "duo"
)

// stepUpMethods are the values step_up accepts.
var stepUpMethods = []string{"duo"}

// pagerDutyID matches PagerDuty object IDs such as PABC123.
var pagerDutyID = regexp.MustCompile(`^P[A-Z0-9]+$`)

// paths checks and applies the ApprovalPaths of a resource. line gives the
// line of a resource key's value, field its path in messages.
func (p *parser) paths(d *ApprovalPaths, r *approvals.Resource, line func(string) int, field func(string) string) {
	if n := resolve(&d.BreakGlass); n.Kind != 0 && !isNull(n) {
		p.breakGlass(n, r, field("break_glass"))
	}
	if a := d.AutoApprove; a != nil {
		f := field("auto_approve")
		switch {
		case a.PagerDuty == nil:
			p.add(line("auto_approve"), f, "pagerduty is required: auto_approve: {pagerduty: {schedule_ids: [P123ABC]}}")
		case len(a.PagerDuty.ScheduleIDs) == 0:
			p.add(line("auto_approve"), f+".pagerduty", "schedule_ids is required: the PagerDuty schedules whose on-call person is approved without an approver, e.g. [P123ABC]")
		default:
			seen := map[string]bool{}
			for i, id := range a.PagerDuty.ScheduleIDs {
				if !pagerDutyID.MatchString(id) {
					p.add(line("auto_approve"), f+".pagerduty.schedule_ids["+itoa(i)+"]", "%q is not a PagerDuty schedule ID: it is the P… part of the schedule's URL", id)
					continue
				}
				if seen[id] {
					p.add(line("auto_approve"), f+".pagerduty.schedule_ids["+itoa(i)+"]", "%s is listed twice", id)
				}
				seen[id] = true
			}
			r.AutoApprove = &approvals.AutoApprove{PagerDutySchedules: a.PagerDuty.ScheduleIDs}
			// The requester's PagerDuty email is looked up under this key.
			p.identityKeys[identityPagerDuty] = true
		}
	}
	if d.StepUp != "" {
		ok := false
		for _, m := range stepUpMethods {
			ok = ok || d.StepUp == m
		}
		if !ok {
			p.add(line("step_up"), field("step_up"), "unknown step-up method %q: use duo", d.StepUp)
		} else {
			r.StepUp = d.StepUp
			// The approver's Duo username is looked up under this key.
			p.identityKeys[identityDuo] = true
		}
	}
}

// breakGlass reads break_glass: true, false, or {max_duration: D}.
func (p *parser) breakGlass(n *yaml.Node, r *approvals.Resource, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!bool" {
			p.add(n.Line, path, "expected true, false or a mapping {max_duration: 30m}, got %s", describe(n))
			return
		}
		var on bool
		if err := n.Decode(&on); err != nil {
			p.add(n.Line, path, "expected true or false, got %s", describe(n))
			return
		}
		r.BreakGlass = on
	case yaml.MappingNode:
		var bg breakGlassDoc
		before := len(p.list)
		p.decodeStruct(n, reflect.ValueOf(&bg).Elem(), path, path)
		if len(p.list) > before {
			return
		}
		r.BreakGlass = true
		if bg.MaxDuration != "" {
			line := n.Line
			if v := valueOf(n, "max_duration"); v != nil {
				line = v.Line
			}
			r.BreakGlassMax = p.duration(bg.MaxDuration, line, path+".max_duration")
		}
	default:
		p.add(n.Line, path, "expected true, false or a mapping {max_duration: 30m}, got %s", describe(n))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
