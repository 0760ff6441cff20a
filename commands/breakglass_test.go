package commands

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

func TestParseBreakGlass(t *testing.T) {
	got, err := Parse("break-glass payments-admin 30m INC-4242  payments down ")
	if err != nil {
		t.Fatal(err)
	}
	want := BreakGlass{Resource: "payments-admin", Duration: 30 * time.Minute, Reason: "INC-4242  payments down"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if got, _ := Parse("Break-Glass db 1h x"); !reflect.DeepEqual(got, BreakGlass{Resource: "db", Duration: time.Hour, Reason: "x"}) {
		t.Errorf("case-insensitive subcommand: got %#v", got)
	}
	for text, wantMsg := range map[string]string{
		"break-glass":                    "a resource is required: /access break-glass RESOURCE DURATION REASON…",
		"break-glass payments-admin":     "a duration is required: /access break-glass RESOURCE DURATION REASON…",
		"break-glass payments-admin 30m": "a reason is required: /access break-glass RESOURCE DURATION REASON…",
		"break-glass payments-admin x y": "duration",
	} {
		_, err := Parse(text)
		if approvals.ErrorCode(err) != approvals.EINVALID || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("Parse(%q) = %v, want EINVALID containing %q", text, err, wantMsg)
		}
	}
	if !strings.Contains(Help(), "/access break-glass RESOURCE DURATION REASON…") {
		t.Errorf("Help() does not mention break-glass:\n%s", Help())
	}
}
