package bot

import (
	"strings"
	"testing"
)

func TestReasonText(t *testing.T) {
	const zwj = "\u200d"
	cases := []struct {
		name, in, want string
	}{
		{"plain", "INC-4211 hotfix", "“INC-4211 hotfix”"},
		{"line breaks and tabs", "a\n\n:x: b\r\nc\td\u2028e\u00a0 f", "“a :x: b c d e f”"},
		{"formatting", "*Approved* _i_ ~s~ `c`", "“" + zwj + "*" + zwj + "Approved" + zwj + "*" + zwj + " " + zwj + "_" + zwj + "i" + zwj + "_" + zwj + " " + zwj + "~" + zwj + "s" + zwj + "~" + zwj + " " + zwj + "`" + zwj + "c" + zwj + "`" + zwj + "”"},
		{"control characters", "<!channel> & > quote", "“&lt;!channel&gt; &amp; &gt; quote”"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reasonText(tc.in, maxReason); got != tc.want {
				t.Errorf("reasonText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	long := reasonText(strings.Repeat("*x* ", 1000), 100)
	if textLen(long) > 100 || !strings.HasSuffix(long, "…”") {
		t.Errorf("cut reason: %d characters, %q", textLen(long), long)
	}
}
