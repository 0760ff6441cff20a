package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The state checks read a few fields of many records, at start and over
// the whole log. Decoding every record with encoding/json costs several
// microseconds each, most of it spent on fields the check does not use,
// so these helpers walk the top level of a JSON object and hand back the
// raw bytes of each member instead.

// eachMember calls fn with the name and the raw value of each member of
// the JSON object data, in order, without decoding the values. Names are
// raw too: json.Marshal writes ours without escapes.
func eachMember(data []byte, fn func(name, value []byte)) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for i < len(data) {
		if data[i] != '"' {
			return fmt.Errorf("JSON object: member name expected at byte %d", i)
		}
		end, err := skipValue(data, i)
		if err != nil {
			return err
		}
		name := data[i+1 : end-1]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return fmt.Errorf("JSON object: ':' expected at byte %d", i)
		}
		start := skipSpace(data, i+1)
		end, err = skipValue(data, start)
		if err != nil {
			return err
		}
		fn(name, data[start:end])
		i = skipSpace(data, end)
		if i >= len(data) {
			break
		}
		switch data[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(data, i+1)
		default:
			return fmt.Errorf("JSON object: ',' or '}' expected at byte %d", i)
		}
	}
	return fmt.Errorf("JSON object: unexpected end")
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at i.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, fmt.Errorf("JSON: value expected at the end")
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("JSON: unterminated value at byte %d", i)
	}
	j := i
	for j < len(data) && !endsScalar(data[j]) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("JSON: value expected at byte %d", i)
	}
	return j, nil
}

// endsScalar reports whether c ends a number, true, false or null.
func endsScalar(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipString returns the end of the JSON string that starts at i: the
// first quote after it that an odd run of backslashes does not escape.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			break
		}
		j += k
		b := j - 1
		for b > i && data[b] == '\\' {
			b--
		}
		if (j-1-b)%2 == 0 {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("JSON: unterminated string at byte %d", i)
}

// jsonString returns the string a raw JSON value holds ("" for null).
func jsonString(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// jsonTime returns the instant a raw JSON value holds (zero for null).
func jsonTime(raw []byte) (time.Time, error) {
	if t, ok := utcTime(raw); ok {
		return t, nil
	}
	s, err := jsonString(raw)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, s)
}

// nonEmpty reports whether a raw JSON array or object has members.
func nonEmpty(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 2 && (t[0] == '[' || t[0] == '{')
}

// utcTime reads the form encoding/json gives a UTC time.Time, quoted
// "2006-01-02T15:04:05.999999999Z", without time.Parse, which costs more
// than the rest of reading a record; ok is false for any other form,
// which jsonTime leaves to time.Parse.
func utcTime(raw []byte) (t time.Time, ok bool) {
	if len(raw) < 22 || raw[0] != '"' || raw[len(raw)-1] != '"' || raw[len(raw)-2] != 'Z' {
		return time.Time{}, false
	}
	b := raw[1 : len(raw)-2] // 2006-01-02T15:04:05[.999999999]
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19:]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31 April and the like: time.Parse says why
	}
	return t, true
}
