package store

// OpenReadOnly opens an existing database for reading only, for the
// operator commands that must not change the file (audit verify, export,
// who, grants list, backup): OpenWith with Options.ReadOnly. It never
// creates the file or a bucket, and takes bbolt's shared lock: it waits
// about a second for a writer (a running `accessbot serve`) and then fails,
// as Open does. Methods that write fail on the returned DB.
func OpenReadOnly(path string) (*DB, error) {
	return OpenWith(path, Options{ReadOnly: true})
}
