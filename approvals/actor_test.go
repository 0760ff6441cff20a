package approvals

import "testing"

func TestOperatorActor(t *testing.T) {
	for _, tc := range []struct {
		actor    string
		operator bool
		shown    string
	}{
		{OperatorActor, true, "operator"},
		{OperatorAs("alice (uid 1000)"), true, "operator:alice (uid 1000)"},
		{OperatorAs(""), true, "operator"},
		{SystemActor, false, "accessbot"},
		{"U0ADMIN", false, "<@U0ADMIN>"},
		{"operatorX", false, "<@operatorX>"},
	} {
		if got := IsOperator(tc.actor); got != tc.operator {
			t.Errorf("IsOperator(%q) = %v", tc.actor, got)
		}
		if got := mentionActor(tc.actor); got != tc.shown {
			t.Errorf("mentionActor(%q) = %q, want %q", tc.actor, got, tc.shown)
		}
	}
}
