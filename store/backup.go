package store

import (
	"fmt"
	"io"

	"go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database file to w and
// returns the number of bytes written. It runs in one read transaction,
// so it sees one committed state while writers go on: the copy is a valid
// bbolt file that opens like the original. Writers are not blocked, but
// pages they free stay allocated until the copy ends, so the file may grow
// during the backup of a busy, large database.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("back up bolt %s: %w", db.path, err)
	}
	return n, nil
}
