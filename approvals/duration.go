package approvals

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Day is the length of a day in durations: always 24 hours, since a
// grant's clock ignores calendars and daylight saving time.
const Day = 24 * time.Hour

// DurationHint ends every malformed-duration message, so that the user
// sees the syntax right next to the mistake.
const DurationHint = "use a number and a unit, e.g. 45m, 2h, 1h30m, 1d, 90 minutes, 2 hours"

// units are time.ParseDuration's units plus days, and the words people
// type for the units a grant is measured in. Weeks are left out on
// purpose: access that long is not just-in-time.
var units = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek small letter mu
	"ms": uint64(time.Millisecond),

	"s": uint64(time.Second), "sec": uint64(time.Second), "secs": uint64(time.Second),
	"second": uint64(time.Second), "seconds": uint64(time.Second),
	"m": uint64(time.Minute), "min": uint64(time.Minute), "mins": uint64(time.Minute),
	"minute": uint64(time.Minute), "minutes": uint64(time.Minute),
	"h": uint64(time.Hour), "hr": uint64(time.Hour), "hrs": uint64(time.Hour),
	"hour": uint64(time.Hour), "hours": uint64(time.Hour),
	"d": uint64(Day), "day": uint64(Day), "days": uint64(Day),
}

// ParseDuration parses a positive duration the way people write one: Go's
// syntax (see time.ParseDuration) extended with d for days of 24 hours
// (45m, 2h, 1h30m, 1d, 1.5h), or in words (90 minutes, 2 hours, 1 day,
// 2 hrs, 30 min, 1 hour 30 minutes). Units are case-insensitive, spaces
// may separate a number from its unit and one part from the next, and
// every number needs a unit. Signs are not accepted. This is the one
// parser of durations: the /access grammar, the request modal and the
// policy file all read durations with it. Its errors are *Error with code
// EINVALID and say what to fix.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	switch {
	case err == errMalformed && strings.HasPrefix(strings.TrimSpace(s), "-"):
		if _, e := parseDuration(strings.TrimSpace(s)[1:]); e == nil {
			return 0, Errorf(EINVALID, "duration %q must be positive", s)
		}
		return 0, Errorf(EINVALID, "malformed duration %q: %s", s, DurationHint)
	case err == errMalformed:
		if strings.TrimSpace(s) == "" {
			return 0, Errorf(EINVALID, "a duration is required: %s", DurationHint)
		}
		return 0, Errorf(EINVALID, "malformed duration %q: %s", s, DurationHint)
	case err == errTooLong:
		return 0, Errorf(EINVALID, "duration %q is too long", s)
	case d == 0:
		return 0, Errorf(EINVALID, "duration %q must be positive", s)
	}
	return d, nil
}

// Sentinels of parseDuration, turned into user-facing errors by
// ParseDuration.
var (
	errMalformed = errors.New("malformed duration")
	errTooLong   = errors.New("duration too long")
)

// parseDuration follows time.ParseDuration part by part, without signs,
// with days and unit words, and with spaces allowed around units. It does
// its own arithmetic rather than rewriting days into hours, so that an
// overflow is told apart from a typo.
func parseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "0" {
		return 0, nil // as time.ParseDuration; ParseDuration refuses it as zero
	}
	if s == "" {
		return 0, errMalformed
	}
	const max = 1<<63 - 1
	var total uint64
	for s != "" {
		// A part is a number (digits, optionally with a fraction) and a unit.
		i := 0
		var v uint64
		for ; i < len(s) && isDigit(s[i]); i++ {
			digit := uint64(s[i] - '0')
			if v > (max-digit)/10 {
				return 0, errTooLong
			}
			v = v*10 + digit
		}
		digits := i > 0
		var frac, scale uint64 = 0, 1
		if i < len(s) && s[i] == '.' {
			i++
			start := i
			for ; i < len(s) && isDigit(s[i]); i++ {
				if scale > max/10 {
					continue // more precision than a nanosecond: ignore the rest
				}
				frac = frac*10 + uint64(s[i]-'0')
				scale *= 10
			}
			digits = digits || i > start
		}
		if !digits {
			return 0, errMalformed
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		for ; j < len(s) && s[j] != '.' && s[j] != ' ' && !isDigit(s[j]); j++ {
		}
		unit, ok := units[s[i:j]]
		if !ok {
			return 0, errMalformed
		}
		s = strings.TrimLeft(s[j:], " ")
		if v > max/unit {
			return 0, errTooLong
		}
		v *= unit
		if frac > 0 {
			v += uint64(float64(frac) * (float64(unit) / float64(scale)))
			if v > max {
				return 0, errTooLong
			}
		}
		total += v
		if total > max {
			return 0, errTooLong
		}
	}
	return time.Duration(total), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// FormatDuration prints d the way users type it: 2h, 1h30m, 1d, 45s.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	out := ""
	if days := d / (24 * time.Hour); days > 0 {
		out += fmt.Sprintf("%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		out += fmt.Sprintf("%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		out += fmt.Sprintf("%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		out += fmt.Sprintf("%gs", d.Seconds())
	}
	return out
}
