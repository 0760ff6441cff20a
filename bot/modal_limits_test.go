package bot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
)

// TestRequestModalShapes: more than 100 resources make the menu an
// external select; a chosen resource's limits and reason_hint shape the
// form; every form stays within Slack's limits.
func TestRequestModalShapes(t *testing.T) {
	var many []approvals.Resource
	for i := range 150 {
		many = append(many, approvals.Resource{Name: fmt.Sprintf("db-%03d", i), MaxDuration: time.Duration(i%5+1) * time.Hour})
	}
	odd := approvals.Resource{Name: "payroll", MaxDuration: 90 * time.Minute, MinDuration: 20 * time.Minute,
		ReasonHint: "a ticket ID such as PAY-123", Description: "Payroll admin"}
	cases := []struct {
		name      string
		resources []approvals.Resource
		chosen    string
		selType   string
		durations []string
		hint      string
	}{
		{"many", many, "", "external_select", []string{"15m", "30m", "1h", "2h", "4h", "5h"}, "500 characters"},
		{"many, one chosen", many, "db-007", "external_select", []string{"15m", "30m", "1h", "2h", "3h"}, "500 characters"},
		{"only one", []approvals.Resource{odd}, "", "static_select", []string{"20m", "30m", "1h", "1h30m"}, "payroll wants: a ticket ID such as PAY-123."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			view, ok := requestModal(tc.resources, tc.chosen)
			if !ok {
				t.Fatal("no form")
			}
			raw, err := json.Marshal(view)
			if err != nil {
				t.Fatal(err)
			}
			if problems := slackfake.CheckView(raw); len(problems) > 0 {
				t.Fatalf("form breaks Slack's limits:\n%s", strings.Join(problems, "\n"))
			}
			var v struct {
				Blocks []struct {
					Hint    struct{ Text string } `json:"hint"`
					Element struct {
						Type    string `json:"type"`
						Options []struct {
							Value string `json:"value"`
						} `json:"options"`
					} `json:"element"`
				} `json:"blocks"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			if got := v.Blocks[0].Element.Type; got != tc.selType {
				t.Errorf("resource menu %s, want %s", got, tc.selType)
			}
			var durs []string
			for _, o := range v.Blocks[1].Element.Options {
				durs = append(durs, o.Value)
			}
			if !slices.Equal(durs, tc.durations) {
				t.Errorf("durations %v, want %v", durs, tc.durations)
			}
			for _, d := range durs {
				if _, err := approvals.ParseDuration(d); err != nil {
					t.Errorf("duration option %q does not parse: %v", d, err)
				}
			}
			if !strings.Contains(v.Blocks[2].Hint.Text, tc.hint) {
				t.Errorf("reason hint %q does not contain %q", v.Blocks[2].Hint.Text, tc.hint)
			}
		})
	}
}
