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
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("JSON: unterminated string at byte %d", i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipValue(data, j)
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
	for j < len(data) && bytes.IndexByte([]byte(",}] \t\r\n"), data[j]) < 0 {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("JSON: value expected at byte %d", i)
	}
	return j, nil
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
