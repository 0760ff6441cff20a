package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/accessbot/accessbot/store"
)

// compactFlags are the flags of compact, shared with its help.
func compactFlags() (*flag.FlagSet, *string) {
	fs := newFlags("compact")
	return fs, fs.String("output", "", "write the packed copy to `FILE` (which must not exist) and leave the database as it is")
}

// compactCommand is `accessbot compact [--output FILE]`: a packed copy of
// the database (bbolt never gives freed pages back to the file system),
// written to FILE, or by default put in place of the database file. serve
// must be stopped: it holds the file for writing, and a copy taken while
// it writes would lose what it writes afterwards. The copy's audit chain is
// verified before anything is replaced.
func compactCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs, output := compactFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("compact: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.postgres() {
		return notWithPostgres("accessbot compact", "PostgreSQL reclaims space itself (autovacuum; VACUUM FULL for more)")
	}
	opts, err := cfg.storeOptions(true)
	if err != nil {
		return err
	}
	if conn, served, err := dialAdmin(cfg.AdminSocket); err == nil && served {
		conn.Close()
		return fmt.Errorf("compact: accessbot serve is running (it answers on ACCESSBOT_ADMIN_SOCKET=%s): stop it first; `accessbot backup FILE` copies the database while it runs", cfg.AdminSocket)
	}
	src := cfg.DBPath
	before, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("compact: database %s: %w (set ACCESSBOT_DB_PATH to the file `accessbot serve` uses)", src, err)
	}
	// Holding the file read-only (bbolt's shared lock) for the whole
	// command keeps a serve from opening it until the packed copy is in
	// place: a serve started meanwhile fails to start rather than writing
	// to a file about to be replaced.
	held, err := store.OpenWith(src, opts)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	defer held.Close()

	dst := *output
	replace := dst == ""
	if replace {
		dst = filepath.Join(filepath.Dir(src), fmt.Sprintf(".%s.compact-%d", filepath.Base(src), os.Getpid()))
	}
	if err := store.Compact(src, dst); err != nil {
		return err
	}
	kept := false
	defer func() {
		if replace && !kept {
			os.Remove(dst)
		}
	}()
	copyDB, err := store.OpenWith(dst, opts)
	if err != nil {
		return fmt.Errorf("compact: the copy does not open: %w", err)
	}
	res, verr := copyDB.Verify(ctx)
	if err := copyDB.Close(); err != nil && verr == nil {
		verr = err
	}
	if verr != nil {
		if !replace {
			os.Remove(dst)
		}
		return fmt.Errorf("compact: the copy's audit log is NOT intact, nothing replaced: %w", verr)
	}
	after, err := os.Stat(dst)
	if err != nil {
		return err
	}
	if replace {
		if err := os.Rename(dst, src); err != nil {
			return fmt.Errorf("compact: put the copy in place of %s: %w", src, err)
		}
		kept = true
		if err := syncDir(filepath.Dir(src)); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		fmt.Fprintf(stdout, "compacted %s: %d bytes, was %d\n", src, after.Size(), before.Size())
	} else {
		fmt.Fprintf(stdout, "packed copy of %s written to %s: %d bytes, the database has %d\n", src, dst, after.Size(), before.Size())
	}
	if res.Count > 0 {
		fmt.Fprintf(stdout, "audit log intact: %d records, anchor %s\n", res.Count, res.Anchor())
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // a file system that cannot sync a directory
	}
	return err
}
