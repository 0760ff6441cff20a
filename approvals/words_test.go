package approvals

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		n    int
		noun string
		want string
	}{
		{0, "approval", "0 approvals"},
		{1, "approval", "1 approval"},
		{2, "approval", "2 approvals"},
		{1, "time", "1 time"},
		{3, "holder", "3 holders"},
	}
	for _, tt := range tests {
		if got := Count(tt.n, tt.noun); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	resources := []string{"prod-db-read", "prod-db-write", "payments-admin", "sre-oncall"}
	subcommands := []string{"request", "list", "resources", "revoke", "extend", "who", "help"}
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"prod-db-raed", resources, "prod-db-read"}, // a swap is one edit
		{"prod-db-red", resources, "prod-db-read"},
		{"PROD-DB-READ", resources, "prod-db-read"},
		{"payment-admin", resources, "payments-admin"},
		{"sre-oncal", resources, "sre-oncall"},
		{"prod-db", resources, ""},
		{"billing", resources, ""},
		{"reqest", subcommands, "request"},
		{"reuqest", subcommands, "request"},
		{"lsit", subcommands, "list"},
		{"lst", subcommands, "list"},
		{"resorces", subcommands, "resources"},
		{"wh", subcommands, "who"},
		{"foo", subcommands, ""}, // two edits from "who": too far for a short word
		{"xyz", subcommands, ""},
		{"", subcommands, ""},
		{"anything", nil, ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.word, tt.candidates); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "abc", 3},
		{"read", "read", 0},
		{"raed", "read", 1},
		{"kitten", "sitting", 3},
		{"naïve", "naive", 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
