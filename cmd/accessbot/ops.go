package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// opsEnv is where an operator command (grants, audit) runs: inside a
// running serve, which hands it its own open database and service, or in
// the CLI's own process, which opens the database file.
type opsEnv struct {
	// served is set inside serve; cfg, db and svc are then serve's own.
	served bool
	cfg    Config
	db     storeDB
	svc    *approvals.Service
	// actor is the audit actor of what the command changes: the operator,
	// named by the operating system user who ran it.
	actor  string
	stdout io.Writer
}

// readStore returns the configuration and the database a reading command
// uses: serve's own, or the file opened read-only, so that reading never
// writes to it. done releases what readStore opened.
func (e *opsEnv) readStore() (Config, storeDB, func(), error) {
	if e.served {
		return e.cfg, e.db, func() {}, nil
	}
	cfg, db, err := openStoreForCLI(true)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, db, func() { db.Close() }, nil
}

// operatorCommand runs `accessbot grants …` or `accessbot audit …`: through
// the admin socket when a serve answers on it, otherwise against the
// database file. The output and the exit status are the same either way.
func operatorCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// A configuration error is reported by the command itself, at the
	// point where it would be without a socket.
	if cfg, err := loadConfig(); err == nil && !cfg.postgres() {
		conn, ok, err := dialAdmin(cfg.AdminSocket)
		if err != nil {
			return fail(stderr, err)
		}
		if ok {
			code, err := forward(ctx, conn, adminRequest{Args: args}, stdout, stderr, nil)
			if err != nil {
				return fail(stderr, err)
			}
			return code
		}
	}
	env := &opsEnv{actor: approvals.OperatorAs(osUser(os.Getuid()))}
	return runOperator(ctx, env, args, stdout, stderr)
}

// runOperator runs an operator command in env and returns its exit status,
// having written its output and any error.
func runOperator(ctx context.Context, env *opsEnv, args []string, stdout, stderr io.Writer) int {
	env.stdout = stdout
	var err error
	switch {
	case len(args) > 0 && args[0] == "grants":
		err = grantsCommand(ctx, env, args[1:])
	case len(args) > 0 && args[0] == "audit":
		err = auditCommand(ctx, env, args[1:])
	case len(args) > 0:
		err = usageError("unknown command %q", args[0])
	default:
		err = usageError("no command")
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// osUser names the operating system user uid for the audit log, as
// "alice (uid 1000)", or "uid 1000" when it has no name here.
func osUser(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// backupCommand is `accessbot backup FILE`: a consistent copy of the
// database, taken by a running serve through the admin socket or from the
// file itself, written to FILE (mode 0600; an existing file is never
// overwritten). The copy is then opened and its audit chain verified, and
// its anchor printed.
func backupCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageError("backup: expected `backup FILE`")
	}
	file := args[0]
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.postgres() {
		return notWithPostgres("accessbot backup", "back the database up with pg_dump --schema=SCHEMA (or the server's own backups), and check a restored copy with accessbot audit verify")
	}
	// The copy is verified with the audit keys, read before anything is
	// written.
	opts, err := cfg.storeOptions(true)
	if err != nil {
		return err
	}
	conn, served, err := dialAdmin(cfg.AdminSocket)
	if err != nil {
		return err
	}
	if conn != nil {
		defer conn.Close()
	}
	var db *store.DB
	if !served {
		// Open before creating FILE, so that a wrong path leaves nothing.
		_, sdb, err := openStoreForCLI(true)
		if err != nil {
			return err
		}
		defer sdb.Close()
		db = sdb.(*store.DB)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s exists: give a new file name (a backup never overwrites a file)", file)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			f.Close()
			os.Remove(file)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if served {
		var errOut strings.Builder
		code, err := forward(ctx, conn, adminRequest{Backup: true}, io.Discard, &errOut, w)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("backup: %s", strings.TrimPrefix(strings.TrimSpace(errOut.String()), "accessbot: "))
		}
	} else if _, err := db.Backup(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("backup: write %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: write %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: write %s: %w", file, err)
	}
	if err := checkBackup(ctx, file, opts, stdout); err != nil {
		return err
	}
	kept = true
	return nil
}

// checkBackup opens the copy at file with opts (read-only, with the audit
// keys), verifies its audit chain and prints what an operator keeps: the
// size and the anchor it ends at.
func checkBackup(ctx context.Context, file string, opts store.Options, stdout io.Writer) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	db, err := store.OpenWith(file, opts)
	if err != nil {
		return fmt.Errorf("backup: the copy does not open: %w", err)
	}
	defer db.Close()
	res, err := db.Verify(ctx)
	if err != nil {
		return fmt.Errorf("backup: the copy's audit log is NOT intact: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes)\n", file, fi.Size())
	if res.Count == 0 {
		fmt.Fprintln(stdout, "audit log intact: 0 records (empty)")
		return nil
	}
	fmt.Fprintf(stdout, "audit log intact: %d records, head %s\n", res.Count, res.Head)
	fmt.Fprintf(stdout, "anchor now: %s\n", res.Anchor())
	return nil
}
