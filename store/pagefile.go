package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"sync/atomic"

	"go.etcd.io/bbolt"
)

// pageFile reads the B+tree pages of a bucket with pread instead of
// through bbolt's memory map, for the scans of the start's state check,
// which read every open request's record. Read through the map, each page
// becomes resident with its cached neighbours (the kernel maps the pages
// around a fault), and records that lie all over the file soon make most
// of it resident: about 130 MB for 100,000 grants. Unmapping as the scan
// goes costs about a millisecond a call. Read with pread, a page costs a
// copy into a buffer that is reused.
//
// The pages read are those of tx's snapshot, which must stay open while
// the pageFile is used: bbolt never writes over a page that an open
// transaction can reach. The layout read is bbolt's file format (page
// header, branch and leaf elements, in the byte order of the machine that
// wrote it), which bbolt keeps stable across releases; a page that does not
// identify itself as the one asked for, or is of a kind a bucket cannot
// hold, is an error, never a guess.
type pageFile struct {
	f        *os.File
	pageSize int
	tx       *bbolt.Tx
	// buckets are the file's top-level buckets, looked up once, so that
	// the goroutines sharing the pageFile never call into tx itself.
	buckets map[string]*bbolt.Bucket
	// size is the file's size in tx's snapshot.
	size int64
	// cold is set once a page was not in the page cache: from then on,
	// the pages a branch leads to are prefetched before they are read.
	cold atomic.Bool
}

// The parts of bbolt's page format the reader needs (go.etcd.io/bbolt's
// internal/common: Page, branchPageElement, leafPageElement).
const (
	pageHeaderSize  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	pageElementSize = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	branchPageFlag  = 0x01
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01 // a leaf element that is a nested bucket
)

// openPageFile opens the file of tx for reading its pages.
func openPageFile(path string, tx *bbolt.Tx) (*pageFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buckets := map[string]*bbolt.Bucket{}
	if err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
		buckets[string(name)] = b
		return nil
	}); err != nil {
		f.Close()
		return nil, err
	}
	return &pageFile{f: f, pageSize: tx.DB().Info().PageSize, tx: tx, buckets: buckets, size: tx.Size()}, nil
}

// bucket returns the named top-level bucket, nil when the file has none.
func (pf *pageFile) bucket(name []byte) *bbolt.Bucket { return pf.buckets[string(name)] }

func (pf *pageFile) Close() error { return pf.f.Close() }

// maxDepth bounds the levels of a tree the reader descends: bbolt's trees
// are a few levels deep, and a damaged branch that leads back up must end
// in an error, not in a stack overflow.
const maxDepth = 64

// pageReader reads pages for one goroutine: buffers, one per depth of the
// tree, are its own. The pageFile may be shared.
type pageReader struct {
	pf   *pageFile
	bufs [][]byte
}

func (pf *pageFile) reader() *pageReader { return &pageReader{pf: pf} }

// page reads page id, with its overflow pages, into the buffer of depth.
func (r *pageReader) page(id uint64, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("page %d: more than %d levels below the root (a damaged tree)", id, maxDepth)
	}
	for len(r.bufs) <= depth {
		r.bufs = append(r.bufs, make([]byte, r.pf.pageSize))
	}
	size := r.pf.pageSize
	buf := r.bufs[depth][:size]
	if !readCached(r.pf.f, buf, int64(id)*int64(size)) {
		r.pf.cold.Store(true)
		if _, err := r.pf.f.ReadAt(buf, int64(id)*int64(size)); err != nil {
			return nil, fmt.Errorf("read page %d: %w", id, err)
		}
	}
	if got := binary.NativeEndian.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d identifies itself as page %d", id, got)
	}
	if overflow := int(binary.NativeEndian.Uint32(buf[12:])); overflow > 0 {
		n := (overflow + 1) * size
		if int64(id)*int64(size)+int64(n) > r.pf.size {
			return nil, fmt.Errorf("page %d: %d overflow pages run past the end of the file", id, overflow)
		}
		if cap(r.bufs[depth]) < n {
			grown := make([]byte, n)
			copy(grown, buf)
			r.bufs[depth] = grown
		}
		buf = r.bufs[depth][:n]
		if _, err := r.pf.f.ReadAt(buf[size:], int64(id)*int64(size)+int64(size)); err != nil {
			return nil, fmt.Errorf("read page %d: %w", id, err)
		}
	}
	return buf, nil
}

// node is a page read: a branch or a leaf.
type node struct {
	p      []byte
	id     uint64
	branch bool
	count  int
}

func (r *pageReader) node(id uint64, depth int) (node, error) {
	p, err := r.page(id, depth)
	if err != nil {
		return node{}, err
	}
	n := node{p: p, id: id, count: int(binary.NativeEndian.Uint16(p[10:]))}
	switch binary.NativeEndian.Uint16(p[8:]) {
	case branchPageFlag:
		n.branch = true
	case leafPageFlag:
	default:
		return node{}, fmt.Errorf("page %d: not a branch or leaf page (flags %#x)", id, binary.NativeEndian.Uint16(p[8:]))
	}
	if pageHeaderSize+n.count*pageElementSize > len(p) {
		return node{}, fmt.Errorf("page %d: %d elements do not fit", id, n.count)
	}
	return n, nil
}

// slice returns p[at:at+size], or an error naming the page when it does
// not fit: a damaged page must not panic the start.
func (n node) slice(at, size int) ([]byte, error) {
	if at < 0 || size < 0 || at+size > len(n.p) {
		return nil, fmt.Errorf("page %d: element out of the page", n.id)
	}
	return n.p[at : at+size], nil
}

// key returns the key of element i, of a branch or a leaf.
func (n node) key(i int) ([]byte, error) {
	e := pageHeaderSize + i*pageElementSize
	if n.branch {
		pos, ksize := binary.NativeEndian.Uint32(n.p[e:]), binary.NativeEndian.Uint32(n.p[e+4:])
		return n.slice(e+int(pos), int(ksize))
	}
	pos, ksize := binary.NativeEndian.Uint32(n.p[e+4:]), binary.NativeEndian.Uint32(n.p[e+8:])
	return n.slice(e+int(pos), int(ksize))
}

// child returns the page of branch element i.
func (n node) child(i int) uint64 {
	return binary.NativeEndian.Uint64(n.p[pageHeaderSize+i*pageElementSize+8:])
}

// leaf returns the key and value of leaf element i, and whether it is a
// nested bucket rather than a value.
func (n node) leaf(i int) (k, v []byte, bucket bool, err error) {
	e := pageHeaderSize + i*pageElementSize
	flags := binary.NativeEndian.Uint32(n.p[e:])
	pos, ksize, vsize := int(binary.NativeEndian.Uint32(n.p[e+4:])), int(binary.NativeEndian.Uint32(n.p[e+8:])), int(binary.NativeEndian.Uint32(n.p[e+12:]))
	if k, err = n.slice(e+pos, ksize); err != nil {
		return nil, nil, false, err
	}
	if v, err = n.slice(e+pos+ksize, vsize); err != nil {
		return nil, nil, false, err
	}
	return k, v, flags&bucketLeafFlag != 0, nil
}

// start returns where child j's keys begin, given where each child's end.
func (r *pageReader) start(ends []int, j, lo int) int {
	if j == 0 {
		return lo
	}
	return ends[j-1]
}

// prefetch starts reading the pages of branch n's children from..to,
// once a page had to come from the disk: a check of a file that is not in
// the page cache then waits on many reads at once.
func (r *pageReader) prefetch(n node, from, to int) {
	if !r.pf.cold.Load() {
		return
	}
	size := int64(r.pf.pageSize)
	for j := from; j < to; j++ {
		prefetch(r.pf.f, int64(n.child(j))*size, size)
	}
}

// root returns the root page of the named bucket, or 0 when it is inline
// (stored in its parent's value, as a small bucket is), which the page
// reader leaves to bbolt's cursor.
func (pf *pageFile) root(name []byte) uint64 {
	return uint64(pf.bucket(name).Root())
}

// each calls fn with every key and value of the named bucket, in key
// order. k and v are valid only during fn.
func (r *pageReader) each(name []byte, fn func(k, v []byte) error) error {
	root := r.pf.root(name)
	if root == 0 {
		return r.pf.bucket(name).ForEach(fn)
	}
	return r.eachIn(root, 0, fn)
}

func (r *pageReader) eachIn(id uint64, depth int, fn func(k, v []byte) error) error {
	n, err := r.node(id, depth)
	if err != nil {
		return err
	}
	if n.branch {
		r.prefetch(n, 0, n.count)
	}
	for i := range n.count {
		if n.branch {
			if err := r.eachIn(n.child(i), depth+1, fn); err != nil {
				return err
			}
			continue
		}
		k, v, bucket, err := n.leaf(i)
		if err != nil {
			return err
		}
		if bucket {
			continue // no accessbot bucket nests another
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// lookup calls fn(i, v) with the value of each key(i), for i from 0 to
// n, that the named bucket holds, in order; the keys must be sorted and
// distinct. It reads only the pages on the way to them, each once. v is
// valid only during fn.
func (r *pageReader) lookup(name []byte, n int, key func(i int) []byte, fn func(i int, v []byte) error) error {
	root := r.pf.root(name)
	if root == 0 {
		b := r.pf.bucket(name)
		for i := range n {
			if v := b.Get(key(i)); v != nil {
				if err := fn(i, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return r.lookupIn(root, 0, 0, n, key, fn)
}

// lookupIn looks up keys lo to hi under page id.
func (r *pageReader) lookupIn(id uint64, depth, lo, hi int, key func(i int) []byte, fn func(i int, v []byte) error) error {
	n, err := r.node(id, depth)
	if err != nil {
		return err
	}
	if n.branch {
		// Child j holds the keys from its first key up to the next
		// child's; keys before the first child's go to it, as bbolt's
		// search sends them.
		ends := make([]int, n.count)
		at := lo
		for j := range n.count {
			ends[j] = hi
			if j+1 < n.count {
				next, err := n.key(j + 1)
				if err != nil {
					return err
				}
				ends[j] = at + sort.Search(hi-at, func(i int) bool { return bytes.Compare(key(at+i), next) >= 0 })
			}
			at = ends[j]
		}
		if r.pf.cold.Load() {
			for j := range n.count {
				if start := r.start(ends, j, lo); ends[j] > start {
					r.prefetch(n, j, j+1)
				}
			}
		}
		for j := range n.count {
			if start := r.start(ends, j, lo); ends[j] > start {
				if err := r.lookupIn(n.child(j), depth+1, start, ends[j], key, fn); err != nil {
					return err
				}
			}
		}
		return nil
	}
	e := 0
	for i := lo; i < hi; i++ {
		want := key(i)
		for ; e < n.count; e++ {
			k, v, bucket, err := n.leaf(e)
			if err != nil {
				return err
			}
			c := bytes.Compare(k, want)
			if c < 0 {
				continue
			}
			if c == 0 && !bucket {
				if err := fn(i, v); err != nil {
					return err
				}
				e++
			}
			break
		}
	}
	return nil
}
