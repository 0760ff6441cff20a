package store

import (
	"errors"
	"fmt"
	"os"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// compactTxSize bounds how many bytes of keys and values Compact copies
// per write transaction, so memory stays flat whatever the file's size.
const compactTxSize = 64 << 20

// Compact copies the accessbot database at src into a new file dst (mode
// 0600), packed: bbolt never shrinks a file, and a copy holds only what is
// in use, with every page filled (the audit bucket's too, which only ever
// grows at its end). It refuses a dst that exists and a src that is not an
// accessbot database of a version this package reads, and removes dst if
// it fails. src is opened read-only, so it may be read by others meanwhile
// but not written: like Open, it fails after about a second if a process
// (a running `accessbot serve`) holds it for writing.
func Compact(src, dst string) (err error) {
	in, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("compact: open bolt %s: the database is locked by another process, likely a running `accessbot serve`: %w", src, err)
	}
	if err != nil {
		return fmt.Errorf("compact: open bolt %s: %w", src, err)
	}
	defer in.Close()
	if err := in.View(checkSchema); err != nil {
		return fmt.Errorf("compact: %s: %w", src, err)
	}

	// O_EXCL: never overwrite a file, even one created a moment ago.
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	out, err := bbolt.Open(dst, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("compact: open bolt %s: %w", dst, err)
	}
	if err := bbolt.Compact(out, in, compactTxSize); err != nil {
		out.Close()
		return fmt.Errorf("compact %s into %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("compact: close bolt %s: %w", dst, err)
	}
	return nil
}
