package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// TestPageFileReadsWhatBboltReads builds buckets of several shapes (a
// tree several levels deep, values spilling over into overflow pages,
// keys deleted and rewritten, a bucket small enough to be inline, an empty
// one) and checks that the page reader sees exactly what bbolt's cursor
// sees: every key and value in order, and the values of sorted lookups,
// among them keys that are not there.
func TestPageFileReadsWhatBboltReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pages.db")
	b, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	names := [][]byte{[]byte("big"), []byte("small"), []byte("empty"), []byte("huge")}
	for round := range 20 {
		err := b.Update(func(tx *bbolt.Tx) error {
			for _, name := range names {
				bk, err := tx.CreateBucketIfNotExists(name)
				if err != nil {
					return err
				}
				n := map[string]int{"big": 500, "small": 1, "empty": 0, "huge": 3}[string(name)]
				for range n {
					k := fmt.Appendf(nil, "ar-%08x", rng.Uint32()%20000)
					size := rng.IntN(900)
					if string(name) == "huge" {
						size = 5000 + rng.IntN(20000) // overflow pages
					}
					v := bytes.Repeat([]byte{byte(round)}, size)
					if err := bk.Put(k, v); err != nil {
						return err
					}
				}
				if round%3 == 2 && string(name) == "big" {
					c := bk.Cursor()
					for k, _ := c.First(); k != nil; k, _ = c.Next() {
						if rng.IntN(4) == 0 {
							if err := c.Delete(); err != nil {
								return err
							}
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Twice: with the file in the page cache, then out of it, when the
	// reader prefetches what a branch leads to.
	for _, cold := range []bool{false, true} {
		readAsBbolt(t, b, path, names, rng, cold)
	}
}

// readAsBbolt compares what the page reader reads of the buckets names
// with what bbolt reads; cold first drops the file from the page cache.
func readAsBbolt(t *testing.T, b *bbolt.DB, path string, names [][]byte, rng *rand.Rand, cold bool) {
	t.Helper()
	err := b.View(func(tx *bbolt.Tx) error {
		pf, err := openPageFile(path, tx)
		if err != nil {
			return err
		}
		defer pf.Close()
		r := pf.reader()
		for _, name := range names {
			// The page reader reads first: bbolt's reads would bring the
			// pages back into the page cache.
			if cold {
				releasePages(tx) // pages mapped stay cached
				evict(t, path)
			}
			var keys [][]byte
			for i := range 25000 {
				if rng.IntN(3) == 0 {
					keys = append(keys, fmt.Appendf(nil, "ar-%08x", i))
				}
			}
			keys = append([][]byte{[]byte("a")}, append(keys, []byte("zz"))...)
			gotLook := map[int]string{}
			if err := r.lookup(name, len(keys), func(i int) []byte { return keys[i] }, func(i int, v []byte) error {
				if _, dup := gotLook[i]; dup {
					t.Errorf("lookup %s: key %s twice", name, keys[i])
				}
				gotLook[i] = fmt.Sprintf("%x", v)
				return nil
			}); err != nil {
				t.Fatalf("lookup %s: %v", name, err)
			}
			var got []string
			if err := r.each(name, func(k, v []byte) error {
				got = append(got, fmt.Sprintf("%s=%x", k, v))
				return nil
			}); err != nil {
				t.Fatalf("each %s: %v", name, err)
			}

			var want []string
			tx.Bucket(name).ForEach(func(k, v []byte) error {
				want = append(want, fmt.Sprintf("%s=%x", k, v))
				return nil
			})
			if !slices.Equal(got, want) {
				t.Errorf("each %s: %d entries, bbolt has %d, or they differ", name, len(got), len(want))
			}
			if string(name) == "big" && uint64(tx.Bucket(name).Root()) == 0 {
				t.Fatal("the big bucket is inline: the test no longer reads pages")
			}
			wantLook := map[int]string{}
			for i, k := range keys {
				if v := tx.Bucket(name).Get(k); v != nil {
					wantLook[i] = fmt.Sprintf("%x", v)
				}
			}
			if len(gotLook) != len(wantLook) {
				t.Errorf("lookup %s: found %d keys, bbolt %d", name, len(gotLook), len(wantLook))
			}
			for i, v := range wantLook {
				if gotLook[i] != v {
					t.Errorf("lookup %s %s: value differs from bbolt's", name, keys[i])
				}
			}
		}
		if cold && runtime.GOOS == "linux" && !pf.cold.Load() {
			t.Error("every page was in the page cache after it was dropped: the prefetching reads were not tested")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPageFileRefusesAPageOfAnotherKind checks that a page that does not
// identify itself as the one asked for is an error, not a guess.
func TestPageFileRefusesAPageOfAnotherKind(t *testing.T) {
	db := history(t)
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		pf, err := openPageFile(db.path, tx)
		if err != nil {
			return err
		}
		defer pf.Close()
		r := pf.reader()
		if _, err := r.node(0, 0); err == nil {
			t.Error("page 0 (a meta page) read as a branch or leaf")
		}
		if _, err := r.page(1<<40, 0); err == nil {
			t.Error("a page past the end of the file read")
		}

		// A copy of the file whose requests root claims more overflow
		// pages than the file holds.
		root := uint64(tx.Bucket(bucketRequests).Root())
		if root == 0 {
			t.Fatal("the requests bucket is inline: the test reads no page of its own")
		}
		data, err := os.ReadFile(db.path)
		if err != nil {
			return err
		}
		at := int(root) * pf.pageSize
		binary.NativeEndian.PutUint32(data[at+12:], 1<<30)
		damaged := filepath.Join(t.TempDir(), "damaged.db")
		if err := os.WriteFile(damaged, data, 0o600); err != nil {
			return err
		}
		f, err := os.Open(damaged)
		if err != nil {
			return err
		}
		defer f.Close()
		bad := &pageFile{f: f, pageSize: pf.pageSize, tx: tx, buckets: pf.buckets, size: pf.size}
		if _, err := bad.reader().page(root, 0); err == nil || !strings.Contains(err.Error(), "past the end") {
			t.Errorf("a page with 2^30 overflow pages: %v, want an error", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
