package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// readCached reads buf from f at off only if it is all in the page cache,
// without waiting for the disk: ok is false when it is not (or when the
// kernel cannot tell), and the caller reads it the usual way.
func readCached(f *os.File, buf []byte, off int64) (ok bool) {
	n, err := unix.Preadv2(int(f.Fd()), [][]byte{buf}, off, unix.RWF_NOWAIT)
	if errors.Is(err, unix.EAGAIN) || err != nil {
		return false
	}
	return n == len(buf)
}

// prefetch asks the kernel to start reading f's bytes [off, off+n) into
// the page cache, without waiting: many reads then wait on the disk at
// once instead of one after the other. Best effort.
func prefetch(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
}
