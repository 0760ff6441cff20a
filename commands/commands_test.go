package commands

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

func TestParse(t *testing.T) {
	tests := []struct {
		text string
		want Command
	}{
		{"", Usage{}},
		{"   ", Usage{}},
		{"help", Usage{}},
		{"HELP", Usage{}},
		{"help request", Usage{}},
		{"request", RequestForm{}},
		{"  Request  ", RequestForm{}},
		{"request payments-admin 2h INC-4211 hotfix", Request{Resource: "payments-admin", Duration: 2 * time.Hour, Reason: "INC-4211 hotfix"}},
		{"REQUEST Payments-Admin 1h30m fix", Request{Resource: "Payments-Admin", Duration: 90 * time.Minute, Reason: "fix"}},
		{"request prod-db-read 1d12h  quarterly   report\tcheck  ", Request{Resource: "prod-db-read", Duration: 36 * time.Hour, Reason: "quarterly   report\tcheck"}},
		{"request prod-db-read 45m INC-1\nline two", Request{Resource: "prod-db-read", Duration: 45 * time.Minute, Reason: "INC-1\nline two"}},
		{"request payroll-export 5s démo — naïve «test» 🚀 日本語", Request{Resource: "payroll-export", Duration: 5 * time.Second, Reason: "démo — naïve «test» 🚀 日本語"}},
		{"request\u00a0payroll-export\u00a02h\u00a0non-breaking spaces", Request{Resource: "payroll-export", Duration: 2 * time.Hour, Reason: "non-breaking spaces"}},
		{"list", List{}},
		{"List ", List{}},
		{"resources", Resources{}},
		{"revoke ar-4wwftt2k", Revoke{ID: "ar-4wwftt2k"}},
		{"Revoke  aBc-123 ", Revoke{ID: "aBc-123"}},
		{"extend ar-4wwftt2k 1h still debugging", Extend{ID: "ar-4wwftt2k", Duration: time.Hour, Reason: "still debugging"}},
		{"extend ar-4wwftt2k 1d  Ünïcödé  reason ", Extend{ID: "ar-4wwftt2k", Duration: 24 * time.Hour, Reason: "Ünïcödé  reason"}},
		{"who payments-admin", Who{Resource: "payments-admin"}},
		{"request prod-db-read 2 hours INC-1 check", Request{Resource: "prod-db-read", Duration: 2 * time.Hour, Reason: "INC-1 check"}},
		{"request prod-db-read 90 minutes check", Request{Resource: "prod-db-read", Duration: 90 * time.Minute, Reason: "check"}},
		{"request prod-db-read 1 hour 30 min check", Request{Resource: "prod-db-read", Duration: 90 * time.Minute, Reason: "check"}},
		{"request prod-db-read 1 day  2 servers down", Request{Resource: "prod-db-read", Duration: 24 * time.Hour, Reason: "2 servers down"}},
		{"request prod-db-read 2h 3 hosts", Request{Resource: "prod-db-read", Duration: 2 * time.Hour, Reason: "3 hosts"}},
		{"request prod-db-read 2 HRS x", Request{Resource: "prod-db-read", Duration: 2 * time.Hour, Reason: "x"}},
		{"request prod-db-read 1.5h x", Request{Resource: "prod-db-read", Duration: 90 * time.Minute, Reason: "x"}},
		{"extend ar-4wwftt2k 30 min still on it", Extend{ID: "ar-4wwftt2k", Duration: 30 * time.Minute, Reason: "still on it"}},
		{"WHO Payments-Admin", Who{Resource: "Payments-Admin"}},
		{"who payments-admin at 2026-11-22T10:00:00Z", Who{Resource: "payments-admin", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}},
		{"who payments-admin at 2026-11-22T11:00:00+01:00", Who{Resource: "payments-admin", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}},
		{"who payments-admin AT 2026-11-22 10:00", Who{Resource: "payments-admin", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}},
		{"who payments-admin at 2026-11-22T10:00", Who{Resource: "payments-admin", At: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}},
		{"who payments-admin at 2026-11-22", Who{Resource: "payments-admin", At: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}},
		{"who payments-admin at 2 hours ago", Who{Resource: "payments-admin", Ago: 2 * time.Hour}},
		{"who payments-admin at 90m AGO", Who{Resource: "payments-admin", Ago: 90 * time.Minute}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.text)
		if err != nil {
			t.Errorf("Parse(%q) error = %v, want %#v", tt.text, err, tt.want)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.text, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text string
		want string // a substring of the message
	}{
		{"foo", `unknown command "foo"; try /access help`},
		{"Foo bar", `unknown command "Foo"; try /access help`},
		{"reqest payments-admin 2h x", `unknown command "reqest"; did you mean /access request? Try /access help`},
		{"lsit", `unknown command "lsit"; did you mean /access list?`},
		{"resorces", `did you mean /access resources?`},
		{"request payments-admin", "a duration is required: /access request RESOURCE DURATION REASON…, e.g. /access request payments-admin 2h"},
		{"request payments-admin   ", "a duration is required"},
		{"request payments-admin 2h", "a reason is required: /access request RESOURCE DURATION REASON…"},
		{"request payments-admin 2h   ", "a reason is required"},
		{"request payments-admin 2x fix", `malformed duration "2x": ` + approvals.DurationHint},
		{"request payments-admin 2 hourz fix", `malformed duration "2 hourz"`},
		{"request payments-admin 2 hours", "a reason is required"},
		{"request payments-admin INC-4211 hotfix", `malformed duration "INC-4211"`},
		{"request payments-admin 0s fix", `duration "0s" must be positive`},
		{"request payments-admin -1h fix", `duration "-1h" must be positive`},
		{"request payments-admin 999999999999d fix", `duration "999999999999d" is too long`},
		{"list all", `/access list takes no arguments; remove "all"`},
		{"resources mine please", `/access resources takes no arguments; remove "mine please"`},
		{"revoke", "a request ID is required: /access revoke ID"},
		{"revoke  ", "a request ID is required"},
		{"revoke 01J9 01JA", `too many arguments: /access revoke ID; remove "01JA"`},
		{"extend", "a request ID is required: /access extend ID DURATION REASON…"},
		{"extend 01J9", "a duration is required: /access extend ID DURATION REASON…"},
		{"extend 01J9 1h", "a reason is required: /access extend ID DURATION REASON…"},
		{"extend 01J9 soon please", `malformed duration "soon"`},
		{"who", "a resource is required: /access who RESOURCE"},
		{"who a b", `too many arguments: /access who RESOURCE [at TIME]; remove "b"`},
		{"who a at", "a time is required after at"},
		{"who a at yesterday", `malformed time "yesterday": give a UTC time like`},
		{"who a at 2 parsecs ago", `malformed time "2 parsecs ago"`},
		{"who a at 22/11/2026", `malformed time "22/11/2026"`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.text)
		if err == nil {
			t.Errorf("Parse(%q) = %#v, want error containing %q", tt.text, got, tt.want)
			continue
		}
		if got != nil {
			t.Errorf("Parse(%q) returned command %#v with error %v, want nil command", tt.text, got, err)
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.text, err, tt.want)
		}
		var e *approvals.Error
		if !errors.As(err, &e) || e.Code != approvals.EINVALID {
			t.Errorf("Parse(%q) error = %#v, want *approvals.Error with code %q", tt.text, err, approvals.EINVALID)
		}
	}
}

func TestHelpListsEverySubcommand(t *testing.T) {
	h := Help()
	for _, want := range []string{
		"/access request RESOURCE DURATION REASON…",
		"/access request payments-admin 2h INC-4211 hotfix",
		"`/access request`",
		"/access list",
		"/access resources",
		"/access revoke ID",
		"/access extend ID DURATION REASON…",
		"/access who RESOURCE [at TIME]",
		"/access help",
		"1h30m",
		"1d",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("Help() does not mention %q:\n%s", want, h)
		}
	}
	// Every example in the help text must parse to what it illustrates.
	for _, line := range strings.Split(h, "\n") {
		_, ex, ok := strings.Cut(line, "e.g. `/access ")
		if !ok {
			continue
		}
		ex, _, _ = strings.Cut(ex, "`")
		if _, err := Parse(ex); err != nil {
			t.Errorf("help example %q does not parse: %v", ex, err)
		}
	}
}
