package store

import "testing"

// TestHashIndexTakesEachEntryOnce checks the table the start check
// matches index entries with: an entry is found once, two entries of one
// hash twice, and what was not found is left.
func TestHashIndexTakesEachEntryOnce(t *testing.T) {
	// 1 and 17 share a slot in a table of 16; 5 is there twice.
	x := newHashIndex([]hashed{{1, 0}, {17, 1}, {5, 2}, {5, 3}, {9, 4}})
	for _, c := range []struct {
		hash uint64
		want bool
	}{{17, true}, {1, true}, {1, false}, {5, true}, {5, true}, {5, false}, {33, false}} {
		if got := x.take(c.hash); got != c.want {
			t.Errorf("take(%d) = %v, want %v", c.hash, got, c.want)
		}
	}
	if left := x.left(); len(left) != 1 || left[0] != (hashed{9, 4}) {
		t.Errorf("left = %v, want [{9 4}]", left)
	}
}
