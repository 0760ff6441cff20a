package commands

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
)

// Day is the length of the d unit of ParseDuration: always 24 hours, since
// a grant's clock ignores calendars and daylight saving time.
const Day = 24 * time.Hour

// durationHint ends every malformed-duration message, so that the user sees
// the syntax right next to the mistake.
const durationHint = "use Go duration syntax plus d for days, e.g. 45m, 2h, 1h30m, 1d"

// units are time.ParseDuration's units plus d.
var units = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond),
	"µs": uint64(time.Microsecond), // U+00B5 micro sign
	"μs": uint64(time.Microsecond), // U+03BC Greek small letter mu
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(Day),
}

// ParseDuration parses a positive duration in Go's syntax (see
// time.ParseDuration) extended with d for days of 24 hours: 45m, 2h, 1h30m,
// 1d, 1d12h, 1.5d, 5s. Signs are not accepted. Its errors are
// *approvals.Error with code approvals.EINVALID and say what to fix.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	switch {
	case err == errMalformed && strings.HasPrefix(s, "-"):
		if _, e := parseDuration(s[1:]); e == nil {
			return 0, approvals.Errorf(approvals.EINVALID, "duration %q must be positive", s)
		}
		return 0, approvals.Errorf(approvals.EINVALID, "malformed duration %q: %s", s, durationHint)
	case err == errMalformed:
		if s == "" {
			return 0, approvals.Errorf(approvals.EINVALID, "a duration is required: %s", durationHint)
		}
		return 0, approvals.Errorf(approvals.EINVALID, "malformed duration %q: %s", s, durationHint)
	case err == errTooLong:
		return 0, approvals.Errorf(approvals.EINVALID, "duration %q is too long", s)
	case d == 0:
		return 0, approvals.Errorf(approvals.EINVALID, "duration %q must be positive", s)
	}
	return d, nil
}

// Sentinels of parseDuration, turned into user-facing errors by
// ParseDuration.
var (
	errMalformed = errors.New("malformed duration")
	errTooLong   = errors.New("duration too long")
)

// parseDuration follows time.ParseDuration segment by segment, without
// signs and with the d unit. It does its own arithmetic rather than
// rewriting days into hours, so that an overflow is told apart from a typo.
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil // as time.ParseDuration; ParseDuration refuses it as zero
	}
	if s == "" {
		return 0, errMalformed
	}
	const max = 1<<63 - 1
	var total uint64
	for s != "" {
		// A segment is a number (digits, optionally with a fraction) and a unit.
		i := 0
		var v uint64
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
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
			for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
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
		j := i
		for ; j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9'); j++ {
		}
		unit, ok := units[s[i:j]]
		if !ok {
			return 0, errMalformed
		}
		s = s[j:]
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

// FormatDuration renders d the way ParseDuration reads it, largest units
// first and zero units left out: 45m, 2h, 1h30m, 1d, 1d12h. A duration that
// is not a whole number of seconds, or not positive, is rendered by
// time.Duration.String.
func FormatDuration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		size time.Duration
		name string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.size
		}
	}
	return b.String()
}
