package store

import (
	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releasePages tells the kernel that the pages of the file mapped so far
// need not stay in this process's page tables. A scan of many records
// otherwise leaves every page it touched mapped, and the kernel maps the
// cached neighbours of each page it faults in too, so the resident size
// grows towards the size of the file. The pages stay in the page cache;
// a later read maps them again. It is safe while other transactions read:
// the mapping is shared and read-only, so nothing is lost but the mapping.
// tx must be open, which keeps bbolt from remapping meanwhile.
func releasePages(tx *bbolt.Tx) {
	info := tx.DB().Info()
	if info == nil || info.Data == 0 || tx.Size() <= 0 {
		return
	}
	// Best effort: a failure costs memory, not correctness.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, info.Data, uintptr(tx.Size()), unix.MADV_DONTNEED)
}
