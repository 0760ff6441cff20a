package approvals

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Count renders n of noun in English, "1 approval" or "2 approvals", so
// that no message has to say "approval(s)". noun is a regular noun.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Closest returns the candidate that word is most likely a typo of, or ""
// when none is close: at most one edit for words of up to four
// characters, two for longer ones, where swapping two neighbouring
// characters is one edit. Case is ignored. Ties go to the earlier
// candidate, so the caller's order decides.
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	limit := 2
	if utf8.RuneCountInString(w) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := editDistance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// in characters: insertions, deletions, substitutions and transpositions
// of neighbours ("raed" for "read") each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// rows i-2, i-1 and i of the table.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
