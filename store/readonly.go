package store

import (
	"errors"
	"fmt"
	"os"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// readableSchemas are the layout versions OpenReadOnly reads. Reading
// writes nothing, so it accepts the version this package writes and the
// one before it, which a newer accessbot migrates from; a file of an
// unknown version is refused, as Open refuses it.
var readableSchemas = []string{"1", "2"}

// OpenReadOnly opens an existing database for reading only, for the
// operator commands that must not change the file (audit verify, export,
// who, grants list, backup). It never creates the file or a bucket, and
// takes bbolt's shared lock: it waits about a second for a writer (a
// running `accessbot serve`) and then fails, as Open does. Methods that
// write fail on the returned DB.
func OpenReadOnly(path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open bolt %s: the database is locked by another process, likely a running `accessbot serve`: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	if err := b.View(checkReadable); err != nil {
		b.Close()
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	return &DB{bolt: b, path: path, outboxSignal: make(chan struct{}, 1)}, nil
}

// checkReadable refuses a file that is not an accessbot database of a
// version this package reads, or that lacks one of its buckets.
func checkReadable(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || meta.Get(keySchema) == nil {
		return errors.New("not an accessbot database: it has no schema version")
	}
	version := string(meta.Get(keySchema))
	known := false
	for _, v := range readableSchemas {
		known = known || v == version
	}
	if !known {
		return fmt.Errorf("database schema version %q is not supported by this accessbot (it reads versions %v); use the accessbot release that wrote it", version, readableSchemas)
	}
	for _, name := range allBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s missing", name)
		}
	}
	return nil
}
