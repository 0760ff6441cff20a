package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/pgstore"
)

// migrateFlags are the flags of migrate, shared with its help.
func migrateFlags() (*flag.FlagSet, *string) {
	fs := newFlags("migrate")
	return fs, fs.String("to", "", "the store to copy into: `postgres|bbolt`")
}

// migrateCommand is `accessbot migrate --to postgres|bbolt`: it copies
// the bbolt file ACCESSBOT_DB_PATH into the PostgreSQL schema of
// ACCESSBOT_STORE_DSN, or back, with the audit chain intact (the records
// byte for byte), the requests with their indexes and the undelivered
// notices. The target must be empty. accessbot serve must be stopped on
// the source's side: the bbolt file's lock, or the replicas' leader lock
// in PostgreSQL, says whether it is. Both logs are verified afterwards and
// their heads compared.
func migrateCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs, to := migrateFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("migrate: unexpected argument %q", fs.Arg(0))
	}
	if *to != storePostgres && *to != storeBbolt {
		return usageError("migrate: --to must be postgres or bbolt, got %q", *to)
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.StoreDSN == "" {
		return errors.New("migrate: set ACCESSBOT_STORE_DSN (or ACCESSBOT_STORE_DSN_FILE) to the PostgreSQL database, and ACCESSBOT_DB_PATH to the bbolt file")
	}
	if *to == storePostgres {
		return migrateToPostgres(ctx, cfg, stdout)
	}
	return migrateToBbolt(ctx, cfg, stdout)
}

func migrateToPostgres(ctx context.Context, cfg Config, stdout io.Writer) error {
	if conn, served, err := dialAdmin(cfg.AdminSocket); err == nil && served {
		conn.Close()
		return fmt.Errorf("migrate: accessbot serve is running on %s (it answers on ACCESSBOT_ADMIN_SOCKET=%s): stop it first, so that nothing is written after the copy", cfg.DBPath, cfg.AdminSocket)
	}
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return fmt.Errorf("migrate: database %s: %w (set ACCESSBOT_DB_PATH to the file `accessbot serve` used)", cfg.DBPath, err)
	}
	opts, err := cfg.storeOptions(true)
	if err != nil {
		return err
	}
	src, err := store.OpenWith(cfg.DBPath, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("migrate: %s is held by a running accessbot serve: stop it first, so that nothing is written after the copy", cfg.DBPath)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()
	dst, err := openPostgres(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dst.Close()
	n, err := dst.Import(ctx, src)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return reportCopy(ctx, "bbolt "+cfg.DBPath, src, "PostgreSQL schema "+dst.Schema(), dst, n, stdout)
}

func migrateToBbolt(ctx context.Context, cfg Config, stdout io.Writer) error {
	src, err := openPostgres(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer src.Close()
	// The replicas' leader lock, held for the copy, says no serve runs
	// on the database; none can start to lead meanwhile.
	unlock, err := holdLeaderLock(ctx, cfg.StoreDSN, src)
	if err != nil {
		return err
	}
	defer unlock()
	opts, err := cfg.storeOptions(false)
	if err != nil {
		return err
	}
	_, statErr := os.Lstat(cfg.DBPath)
	created := errors.Is(statErr, fs.ErrNotExist)
	dst, err := store.OpenWith(cfg.DBPath, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("migrate: %s is held by a running accessbot serve: stop it, or name another file in ACCESSBOT_DB_PATH", cfg.DBPath)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	n, err := dst.Import(ctx, src)
	if err == nil {
		err = reportCopy(ctx, "PostgreSQL schema "+src.Schema(), src, "bbolt "+cfg.DBPath, dst, n, stdout)
	}
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if created {
			// A half-made file must not pass for a database.
			os.Remove(cfg.DBPath)
		}
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// holdLeaderLock takes the advisory lock the replicas of src's schema
// elect their leader with, on a connection of its own, and returns what
// releases it; it fails when a replica holds it.
func holdLeaderLock(ctx context.Context, dsn string, src *pgstore.DB) (func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate: ACCESSBOT_STORE_DSN: connect: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", leaderKey(src.Schema())).Scan(&got); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("migrate: take the leader lock: %w", err)
	}
	if !got {
		conn.Close(ctx)
		return nil, fmt.Errorf("migrate: an accessbot serve leads on PostgreSQL schema %s: stop every replica first, so that nothing is written after the copy", src.Schema())
	}
	return func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// reportCopy verifies both audit logs, checks that the copy ends at the
// source's head, and prints what was copied and the anchor.
func reportCopy(ctx context.Context, srcName string, src storeDB, dstName string, dst storeDB, n store.Copied, stdout io.Writer) error {
	sres, err := src.Verify(ctx)
	if err != nil {
		return fmt.Errorf("the source's audit log (%s) is NOT intact: %w", srcName, err)
	}
	dres, err := dst.Verify(ctx)
	if err != nil {
		return fmt.Errorf("the copy's audit log (%s) is NOT intact: %w", dstName, err)
	}
	if sres.Count != dres.Count || sres.Head != dres.Head {
		return fmt.Errorf("the copy ends at %s, the source at %s", dres.Anchor(), sres.Anchor())
	}
	fmt.Fprintf(stdout, "copied %s to %s: %d requests, %d audit records, %d undelivered notices\n", srcName, dstName, n.Requests, n.Records, n.Notices)
	if dres.Count == 0 {
		fmt.Fprintln(stdout, "audit log intact on both: 0 records (empty)")
		return nil
	}
	fmt.Fprintf(stdout, "audit log intact on both: %d records, head %s\n", dres.Count, dres.Head)
	fmt.Fprintf(stdout, "anchor: %s\n", dres.Anchor())
	return nil
}
