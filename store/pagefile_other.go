//go:build !linux

package store

import "os"

// readCached is readCached of pagefile_linux.go: other systems cannot
// tell, so every read is taken as one from the disk, and prefetch then
// does nothing.
func readCached(*os.File, []byte, int64) bool { return false }

func prefetch(*os.File, int64, int64) {}
