package store_test

import (
	"path/filepath"
	"testing"

	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/storetest"
)

// TestConformance runs the store kit against the bbolt store, on a real
// file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := store.Open(filepath.Join(t.TempDir(), "accessbot.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
