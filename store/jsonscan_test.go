package store

import (
	"encoding/json"
	"testing"
	"time"
)

// TestEachMemberAgreesWithEncodingJSON checks the member walk of the
// state checks on values whose strings hold escaped quotes and runs of
// backslashes, nested objects and arrays, and scalars: each member's raw
// value is what encoding/json reads there.
func TestEachMemberAgreesWithEncodingJSON(t *testing.T) {
	doc := `{"a":"x\"y","b":"ends with a backslash \\","c":"\\\\\"","d":{"e":["}",{"f":"]\\"}],"g":1},` +
		`"h":[1,2,[3]],"i":-1.5e3,"j":true,"k":null , "l" : "after spaces","m":"\u00e9\\"}`
	var want map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := eachMember([]byte(doc), func(name, raw []byte) { got[string(name)] = string(raw) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d members, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != string(v) {
			t.Errorf("member %s = %s, want %s", k, got[k], v)
		}
	}
	for _, bad := range []string{`{"a":"unterminated}`, `{"a":"x\"}`, `{"a":{"b":1}`, `{"a" 1}`} {
		if err := eachMember([]byte(bad), func(_, _ []byte) {}); err == nil {
			t.Errorf("eachMember(%s) = nil, want an error", bad)
		}
	}
}

// TestJSONTimeAgreesWithEncodingJSON checks the fast reading of UTC
// times against encoding/json, and that any other form still reads.
func TestJSONTimeAgreesWithEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`"2026-12-03T08:33:55.944728774Z"`, `"2026-12-03T08:33:55Z"`, `"2026-12-03T08:33:55.9Z"`,
		`"2026-12-03T08:33:55.000000001Z"`, `"0001-01-01T00:00:00Z"`, `"2024-02-29T23:59:59.5Z"`,
		`"2026-12-03T09:33:55.944+01:00"`, `null`,
	} {
		var want time.Time
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		got, err := jsonTime([]byte(raw))
		if err != nil || !got.Equal(want) || got.Location().String() != want.Location().String() && raw != "null" {
			t.Errorf("jsonTime(%s) = %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, bad := range []string{`"2026-02-30T00:00:00Z"`, `"2026-13-01T00:00:00Z"`, `"2026-12-03T24:00:00Z"`, `"2026-12-03T08:33:55.Z"`} {
		if _, err := jsonTime([]byte(bad)); err == nil {
			t.Errorf("jsonTime(%s) = nil error, want one", bad)
		}
	}
}
