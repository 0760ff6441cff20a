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
		{"WHO Payments-Admin", Who{Resource: "Payments-Admin"}},
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
		{"request payments-admin", "a duration is required: /access request RESOURCE DURATION REASON…, e.g. /access request payments-admin 2h"},
		{"request payments-admin   ", "a duration is required"},
		{"request payments-admin 2h", "a reason is required: /access request RESOURCE DURATION REASON…"},
		{"request payments-admin 2h   ", "a reason is required"},
		{"request payments-admin 2x fix", `malformed duration "2x": use Go duration syntax plus d for days, e.g. 45m, 2h, 1h30m, 1d`},
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
		{"who a b", `too many arguments: /access who RESOURCE; remove "b"`},
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

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"5s", 5 * time.Second},
		{"45m", 45 * time.Minute},
		{"2h", 2 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"30m1h", 90 * time.Minute},
		{"1d", 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"1.5h", 90 * time.Minute},
		{".5h", 30 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1d1h1m1s", 24*time.Hour + time.Hour + time.Minute + time.Second},
		{"300ms", 300 * time.Millisecond},
		{"1µs", time.Microsecond},
		{"1μs", time.Microsecond},
		{"1us", time.Microsecond},
		{"1ns", time.Nanosecond},
		{"106751d", 106751 * 24 * time.Hour},
		{"9223372036854775807ns", 1<<63 - 1},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const hint = "use Go duration syntax plus d for days, e.g. 45m, 2h, 1h30m, 1d"
	tests := []struct {
		in   string
		want string
	}{
		{"", "a duration is required: " + hint},
		{"2x", `malformed duration "2x": ` + hint},
		{"2", `malformed duration "2": ` + hint},
		{"h", `malformed duration "h": ` + hint},
		{".h", `malformed duration ".h": ` + hint},
		{"1h30", `malformed duration "1h30": ` + hint},
		{"1 h", `malformed duration "1 h": ` + hint},
		{"2H", `malformed duration "2H": ` + hint},
		{"1dd", `malformed duration "1dd": ` + hint},
		{"+1h", `malformed duration "+1h": ` + hint},
		{"-", `malformed duration "-": ` + hint},
		{"--1h", `malformed duration "--1h": ` + hint},
		{"1w", `malformed duration "1w": ` + hint},
		{"0", `duration "0" must be positive`},
		{"0s", `duration "0s" must be positive`},
		{"0d0h", `duration "0d0h" must be positive`},
		{"-1h", `duration "-1h" must be positive`},
		{"-1d", `duration "-1d" must be positive`},
		{"106752d", `duration "106752d" is too long`},
		{"9223372036854775808ns", `duration "9223372036854775808ns" is too long`},
		{"99999999999999999999h", `duration "99999999999999999999h" is too long`},
		{"100000d100000d", `duration "100000d100000d" is too long`},
		{"2562047h47m16.854775808s", `duration "2562047h47m16.854775808s" is too long`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseDuration(%q) error = %q, want %q", tt.in, err, tt.want)
		}
		if approvals.ErrorCode(err) != approvals.EINVALID {
			t.Errorf("ParseDuration(%q) error code = %q, want %q", tt.in, approvals.ErrorCode(err), approvals.EINVALID)
		}
	}
}

// TestParseDurationMatchesGo checks that, where both accept the input,
// ParseDuration agrees with time.ParseDuration.
func TestParseDurationMatchesGo(t *testing.T) {
	for _, s := range []string{"1h", "1.25h", "3m20.5s", "1h2m3s4ms5us6ns", "0.000000001s", "2562047h47m16.854775807s", "1.0000000001s"} {
		want, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("time.ParseDuration(%q): %v", s, err)
		}
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", s, got, err, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{45 * time.Minute, "45m"},
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "1h30m"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "1d12h"},
		{5 * time.Second, "5s"},
		{time.Hour + time.Second, "1h1s"},
		{1500 * time.Millisecond, "1.5s"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in > 0 {
			if back, err := ParseDuration(FormatDuration(tt.in)); err != nil || back != tt.in {
				t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v; want %v", tt.in, back, err, tt.in)
			}
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
		"/access who RESOURCE",
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
