//go:build !linux

package store

import "go.etcd.io/bbolt"

// releasePages is releasePages of release_linux.go, which other systems do
// without.
func releasePages(*bbolt.Tx) {}
