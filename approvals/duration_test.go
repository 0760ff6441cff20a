package approvals

import (
	"testing"
	"time"
)

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
		// Words, spaces and capitals.
		{"2 hours", 2 * time.Hour},
		{"2 Hours", 2 * time.Hour},
		{"2H", 2 * time.Hour},
		{"90 minutes", 90 * time.Minute},
		{"1 day", 24 * time.Hour},
		{"2 days", 48 * time.Hour},
		{"1 hour", time.Hour},
		{"2 hrs", 2 * time.Hour},
		{"2hrs", 2 * time.Hour},
		{"1 hr", time.Hour},
		{"30 min", 30 * time.Minute},
		{"30min", 30 * time.Minute},
		{"30 mins", 30 * time.Minute},
		{"1 minute", time.Minute},
		{"45 sec", 45 * time.Second},
		{"10 seconds", 10 * time.Second},
		{"1.5 hours", 90 * time.Minute},
		{"1 h", time.Hour},
		{"1h 30m", 90 * time.Minute},
		{"1 hour 30 minutes", 90 * time.Minute},
		{"1 day 2 hours", 26 * time.Hour},
		{"  2h  ", 2 * time.Hour},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const hint = DurationHint
	tests := []struct {
		in   string
		want string
	}{
		{"", "a duration is required: " + hint},
		{"2x", `malformed duration "2x": ` + hint},
		{"2", `malformed duration "2": ` + hint},
		{"h", `malformed duration "h": ` + hint},
		{"hours", `malformed duration "hours": ` + hint},
		{".h", `malformed duration ".h": ` + hint},
		{"1h30", `malformed duration "1h30": ` + hint},
		{"2 hourz", `malformed duration "2 hourz": ` + hint},
		{"1dd", `malformed duration "1dd": ` + hint},
		{"+1h", `malformed duration "+1h": ` + hint},
		{"-", `malformed duration "-": ` + hint},
		{"--1h", `malformed duration "--1h": ` + hint},
		{"1w", `malformed duration "1w": ` + hint},
		{"2 weeks", `malformed duration "2 weeks": ` + hint},
		{"1 hour and 30 minutes", `malformed duration "1 hour and 30 minutes": ` + hint},
		{"0", `duration "0" must be positive`},
		{"0s", `duration "0s" must be positive`},
		{"0 hours", `duration "0 hours" must be positive`},
		{"0d0h", `duration "0d0h" must be positive`},
		{"-1h", `duration "-1h" must be positive`},
		{"-1d", `duration "-1d" must be positive`},
		{"-2 hours", `duration "-2 hours" must be positive`},
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
		if ErrorCode(err) != EINVALID {
			t.Errorf("ParseDuration(%q) error code = %q, want %q", tt.in, ErrorCode(err), EINVALID)
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

// TestFormatDurationParses checks that what FormatDuration prints reads
// back as the same duration.
func TestFormatDurationParses(t *testing.T) {
	for _, d := range []time.Duration{45 * time.Minute, 2 * time.Hour, 90 * time.Minute, 24 * time.Hour, 36 * time.Hour, 5 * time.Second, time.Hour + time.Second, 1500 * time.Millisecond} {
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v; want %v", d, back, err, d)
		}
	}
}
