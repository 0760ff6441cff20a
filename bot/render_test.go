package bot

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	got := escape("<!channel> & <@U1|x> > y")
	want := "&lt;!channel&gt; &amp; &lt;@U1|x&gt; &gt; y"
	if got != want {
		t.Errorf("escape = %q, want %q", got, want)
	}
}

func TestCut(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"long", "hello world", 6, "hello…"},
		{"inside a mention", "hi <@U0ALICE> there", 8, "hi …"},
		{"inside an entity", "a &amp; b", 5, "a …"},
		{"after a mention", "<@U1> abc", 7, "<@U1> …"},
		{"multibyte", "ééééé", 3, "éé…"},
		{"surrogate pairs count twice", "😀😀😀", 5, "😀😀…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cut(tc.in, tc.max); got != tc.want {
				t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
	long := strings.Repeat("x", 5000)
	if got := cut(long, maxSectionText); textLen(got) > maxSectionText || !utf8.ValidString(got) {
		t.Errorf("cut to %d characters", textLen(got))
	}
}

func TestMention(t *testing.T) {
	cases := map[string]string{
		"U0ALICE":   "<@U0ALICE>",
		"accessbot": "accessbot",
		"<!here>":   "&lt;!here&gt;",
		"":          "",
	}
	for in, want := range cases {
		if got := mention(in); got != want {
			t.Errorf("mention(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWhen(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	got := when(at)
	want := "<!date^1795338000^{date_short_pretty} {time}|2026-11-22T09:00:00Z> (2026-11-22T09:00:00Z)"
	if got != want {
		t.Errorf("when = %q, want %q", got, want)
	}
}
