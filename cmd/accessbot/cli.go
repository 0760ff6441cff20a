package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/providers"
	"github.com/accessbot/accessbot/store"
)

// policyCommand is `accessbot policy check [FILE]`.
func policyCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		return usageError("policy: expected `policy check [FILE]`")
	}
	path := "policy.yaml"
	if len(args) == 2 {
		path = args[1]
	} else if cfg, err := loadConfig(); err == nil {
		path = cfg.PolicyFile
	}
	pol, err := loadPolicy(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok, %d resources, %d admins, policy hash %s\n", path, len(pol.Resources), len(pol.Admins), pol.Hash)
	return nil
}

// openStoreForCLI opens the database named by ACCESSBOT_DB_PATH for an
// operator command, with the audit keys of ACCESSBOT_AUDIT_KEY_FILE:
// read-only (store.Options.ReadOnly) for the commands that only read, so
// that they never write to the file, for writing for grants revoke. The
// file must exist: a
// mistyped path must not answer "intact, 0 records" from a new, empty
// database. A serve that answers on the admin socket runs the command
// itself; one that does not (another socket path) holds bbolt's lock, so
// this fails after about a second with a message saying how to proceed.
//
// With ACCESSBOT_STORE=postgres it opens the PostgreSQL store, which any
// number of processes may open beside a running serve; the commands that
// only read still only read.
func openStoreForCLI(readOnly bool) (Config, storeDB, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	if cfg.postgres() {
		db, err := openPostgres(context.Background(), cfg)
		if err != nil {
			return cfg, nil, err
		}
		return cfg, db, nil
	}
	opts, err := cfg.storeOptions(readOnly)
	if err != nil {
		return cfg, nil, err
	}
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return cfg, nil, fmt.Errorf("database %s: %w (set ACCESSBOT_DB_PATH to the file `accessbot serve` uses)", cfg.DBPath, err)
	}
	db, err := store.OpenWith(cfg.DBPath, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return cfg, nil, fmt.Errorf("%w\n%s", err, lockedHint)
	}
	if err != nil {
		return cfg, nil, err
	}
	return cfg, db, nil
}

// lockedHint says what to do when the database is held by `accessbot serve`.
const lockedHint = `a running accessbot serve holds the database, and no serve answers on the admin socket
(ACCESSBOT_ADMIN_SOCKET, default: the database path + .sock):
  - set ACCESSBOT_ADMIN_SOCKET to the socket that serve listens on, and run the command again;
  - to revoke a grant now, use /access revoke ID in Slack (admins may revoke any grant);
  - to verify, export or query the audit log, run the command on a backup copy of the file
    (ACCESSBOT_DB_PATH=copy.db), or stop accessbot serve for the moment it takes`

// grantsCommand is `accessbot grants list` and `accessbot grants revoke ID`.
func grantsCommand(ctx context.Context, env *opsEnv, args []string) error {
	stdout := env.stdout
	if len(args) == 0 {
		return usageError("grants: expected `grants list` or `grants revoke ID`")
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		_, db, done, err := env.readStore()
		if err != nil {
			return err
		}
		defer done()
		open, err := db.OpenRequests(ctx, "")
		if err != nil {
			return err
		}
		tw := newTable(stdout, "ID", "STATUS", "RESOURCE", "REQUESTER", "IDENTITY", "APPROVERS", "EXPIRES")
		for _, r := range open {
			expires := "-"
			if !r.ExpiresAt.IsZero() {
				expires = r.ExpiresAt.UTC().Format(time.RFC3339)
			}
			tw.row(r.ID, string(r.Status), r.Resource, r.Requester, r.Identity, strings.Join(r.Approvers(), ","), expires)
		}
		return tw.flush()
	case args[0] == "revoke" && len(args) == 2:
		return cliRevoke(ctx, env, args[1])
	}
	return usageError("grants: expected `grants list` or `grants revoke ID`")
}

// cliRevoke revokes one grant at once through its provider, as the
// operator named by env.actor. Inside serve the running service revokes
// it; otherwise the command opens the database and builds the grant's
// provider itself. Either way it returns once the provider call's outcome
// is recorded.
func cliRevoke(ctx context.Context, env *opsEnv, id string) error {
	var (
		cfg     Config
		db      storeDB
		svc     *approvals.Service
		waitFor func(before *approvals.Request) (*approvals.Request, error)
	)
	if env.served {
		cfg, db, svc = env.cfg, env.db, env.svc
		waitFor = func(before *approvals.Request) (*approvals.Request, error) {
			return awaitRevoke(ctx, db, before)
		}
	} else {
		var err error
		cfg, db, err = openStoreForCLI(false)
		if err != nil {
			return err
		}
		defer db.Close()
	}
	r, err := db.Request(ctx, id)
	if err != nil {
		return fmt.Errorf("%s", approvals.ErrorMessage(err))
	}
	if r.Status == approvals.StatusApproved || r.Status == approvals.StatusGranting {
		// Only the server finishes a grant; until it has, there is
		// nothing recorded to revoke.
		return fmt.Errorf("%s is %s: accessbot serve completes (or fails) the grant when it runs; revoke it once it is active", r.ID, r.Status)
	}
	if svc == nil {
		pol, err := loadPolicy(cfg.PolicyFile)
		if err != nil {
			return err
		}
		// Only the provider of this grant is built: an emergency revoke of
		// a GitHub grant must not wait for a PostgreSQL DSN, and a grant
		// whose resource has left the policy is still revoked, with the
		// settings it was made with.
		used := &approvals.Policy{Resources: []approvals.Resource{{Name: r.Resource, Provider: r.Provider}}}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		set, err := providers.Build(ctx, used, providers.Config{
			GitHubToken: cfg.GitHubToken, GitHubAppID: cfg.GitHubAppID, GitHubAppInstallationID: cfg.GitHubAppInstallationID,
			GitHubAppPrivateKeyFile: cfg.GitHubAppPrivateKeyFile, GitHubAPIURL: cfg.GitHubAPIURL, PostgresDSN: cfg.PostgresDSN, Logger: log,
		})
		if err != nil {
			return err
		}
		defer set.Close()
		// What people must be told is queued in the outbox with the
		// revoke; accessbot serve delivers it when it runs.
		svc = approvals.New(approvals.Config{Store: db, Providers: set.Providers, Policy: pol, Logger: log})
		waitFor = func(*approvals.Request) (*approvals.Request, error) {
			svc.Shutdown()
			return db.Request(ctx, id)
		}
	}
	if _, err := svc.Revoke(ctx, env.actor, id); err != nil {
		return fmt.Errorf("%s", approvals.ErrorMessage(err))
	}
	r, err = waitFor(r)
	if err != nil {
		return err
	}
	switch r.Status {
	case approvals.StatusRevoked, approvals.StatusExpired, approvals.StatusCancelled:
		fmt.Fprintf(env.stdout, "%s: %s (%s of %s for %s)\n", r.ID, r.Status, r.Identity, r.Resource, r.Requester)
		return nil
	case approvals.StatusActive:
		return fmt.Errorf("%s: the provider revoke failed (%s); it stays due and the next sweep of `accessbot serve` retries it", r.ID, r.LastError)
	}
	fmt.Fprintf(env.stdout, "%s: already %s\n", r.ID, r.Status)
	return nil
}

// awaitRevoke waits until the revoke of the request before describes has
// an outcome recorded: the grant ended, or one more failed attempt. The
// service revokes in the background and other work goes on in serve, so
// the request itself says when this revoke is done.
func awaitRevoke(ctx context.Context, db storeDB, before *approvals.Request) (*approvals.Request, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := db.Request(ctx, before.ID)
		if err != nil {
			return nil, err
		}
		if r.Status != approvals.StatusActive || r.RevokeFailures > before.RevokeFailures {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: stopped waiting for the provider revoke (%w); it stays due, and `accessbot grants list` shows whether it is done", before.ID, ctx.Err())
		case <-tick.C:
		}
	}
}

// auditCommand is `accessbot audit verify|export|who`.
func auditCommand(ctx context.Context, env *opsEnv, args []string) error {
	if len(args) == 0 {
		return usageError("audit: expected verify, export or who")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, env, args[1:])
	case "export":
		return auditExport(ctx, env, args[1:])
	case "who":
		return auditWho(ctx, env, args[1:])
	}
	return usageError("audit: unknown subcommand %q", args[0])
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError("%s: %v", fs.Name(), err)
	}
	return nil
}

// auditVerifyFlags are the flags of audit verify, shared with its help.
func auditVerifyFlags() (*flag.FlagSet, *string) {
	fs := newFlags("audit verify")
	return fs, fs.String("expect-head", "", "record N (counting from 1) must have hash `HASH@N`, as an audit summary or verify printed it")
}

// auditVerify is `accessbot audit verify [--expect-head HASH@N]`.
func auditVerify(ctx context.Context, env *opsEnv, args []string) error {
	stdout := env.stdout
	fs, anchor := auditVerifyFlags()
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("audit verify: unexpected argument %q", fs.Arg(0))
	}
	var hash string
	var n uint64
	if *anchor != "" {
		h, count, ok := strings.Cut(*anchor, "@")
		var err error
		n, err = strconv.ParseUint(count, 10, 64)
		if !ok || h == "" || err != nil || n == 0 {
			return usageError("audit verify: --expect-head wants HASH@N (as printed by audit verify and the audit summary), got %q", *anchor)
		}
		hash = h
	}
	cfg, db, done, err := env.readStore()
	if err != nil {
		return err
	}
	defer done()
	res, err := db.Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit log NOT intact: %w", err)
	}
	if cfg.AuditKeyFile != "" && res.Count > 0 && res.KeyedFrom == 0 {
		// With a key, serve chains every record it appends with it: a log
		// with records and none keyed is one recomputed by someone
		// without the key, from its first keyed record on.
		return fmt.Errorf("audit log NOT intact: ACCESSBOT_AUDIT_KEY_FILE is set, yet none of its %d records is chained with an audit key: the chain was recomputed without the key (if this log was never written with a key, unset the variable)", res.Count)
	}
	if hash != "" {
		if err := db.VerifyAnchor(ctx, hash, n); err != nil {
			return fmt.Errorf("audit log NOT intact: it does not extend the anchor %s@%d: %w", hash, n, err)
		}
	}
	// The log intact, the state must agree with it: each request, its
	// status and expiry, and the index entries written from it.
	var disagree []store.Disagreement
	if err := db.CheckState(ctx, func(d store.Disagreement) { disagree = append(disagree, d) }); err != nil {
		return fmt.Errorf("audit verify: replaying the log against the requests: %w", err)
	}
	if res.Count == 0 {
		fmt.Fprintln(stdout, "audit log intact: 0 records (empty)")
	} else {
		fmt.Fprintf(stdout, "audit log intact: %d records, head %s\n", res.Count, res.Head)
		if res.KeyedFrom > 0 {
			fmt.Fprintf(stdout, "keyed (HMAC-SHA-256) from record %d on\n", res.KeyedFrom)
		}
		if hash != "" {
			fmt.Fprintf(stdout, "extends the anchor %s@%d\n", hash, n)
		}
		fmt.Fprintf(stdout, "anchor now: %s\n", res.Anchor())
	}
	for _, d := range disagree {
		fmt.Fprintln(stdout, d.Text)
	}
	if len(disagree) > 0 {
		return fmt.Errorf("the requests do NOT agree with the audit log: %d disagreements (listed above)", len(disagree))
	}
	return nil
}

// parseTimeFlag accepts RFC 3339 (fractional seconds optional) or a date,
// which means midnight UTC.
func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError("--%s %q: use RFC 3339 (2026-11-22T09:00:00Z) or a date (2026-11-22)", name, v)
}

// exportRecord is one line of `accessbot audit export`: the stable export
// schema documented in docs/audit.md. Fields are only ever added, at the
// end; every field is always present.
type exportRecord struct {
	Seq             uint64   `json:"seq"`
	Time            string   `json:"time"`
	Actor           string   `json:"actor"`
	Action          string   `json:"action"`
	RequestID       string   `json:"request_id"`
	Resource        string   `json:"resource"`
	Provider        string   `json:"provider"`
	Requester       string   `json:"requester"`
	Identity        string   `json:"identity"`
	Duration        string   `json:"duration"`
	DurationSeconds int64    `json:"duration_seconds"`
	ExpiresAt       string   `json:"expires_at"`
	Reason          string   `json:"reason"`
	Approvers       []string `json:"approvers"`
	Outcome         string   `json:"outcome"`
	Detail          string   `json:"detail"`
	PolicyHash      string   `json:"policy_hash"`
	PrevHash        string   `json:"prev_hash"`
	Hash            string   `json:"hash"`
}

// exportColumns are the CSV columns, in order: the JSON field names of
// exportRecord.
var exportColumns = []string{"seq", "time", "actor", "action", "request_id", "resource", "provider",
	"requester", "identity", "duration", "duration_seconds", "expires_at", "reason", "approvers",
	"outcome", "detail", "policy_hash", "prev_hash", "hash"}

// newExportRecord maps an event to the export schema.
func newExportRecord(ev approvals.Event) exportRecord {
	rec := exportRecord{
		Seq: ev.Seq, Time: formatTime(ev.Time), Actor: ev.Actor, Action: ev.Action,
		RequestID: ev.RequestID, Resource: ev.Resource, Provider: ev.Provider, Requester: ev.Requester,
		Identity: ev.Identity, ExpiresAt: formatTime(ev.ExpiresAt), Reason: ev.Reason,
		Approvers: ev.Approvers, Outcome: ev.Outcome, Detail: ev.Detail,
		PolicyHash: ev.PolicyHash, PrevHash: ev.PrevHash, Hash: ev.Hash,
	}
	if rec.Approvers == nil {
		rec.Approvers = []string{}
	}
	if ev.Duration > 0 {
		rec.Duration = approvals.FormatDuration(ev.Duration)
		rec.DurationSeconds = int64(ev.Duration / time.Second)
	}
	return rec
}

// row returns rec as CSV cells in exportColumns order, each made safe to
// open in a spreadsheet.
func (rec exportRecord) row() []string {
	cells := []string{
		strconv.FormatUint(rec.Seq, 10), rec.Time, rec.Actor, rec.Action, rec.RequestID, rec.Resource,
		rec.Provider, rec.Requester, rec.Identity, rec.Duration, strconv.FormatInt(rec.DurationSeconds, 10),
		rec.ExpiresAt, rec.Reason, strings.Join(rec.Approvers, " "), rec.Outcome, rec.Detail,
		rec.PolicyHash, rec.PrevHash, rec.Hash,
	}
	for i, c := range cells {
		cells[i] = spreadsheetSafe(c)
	}
	return cells
}

// formatTime is RFC 3339 in UTC with as many fractional digits as needed,
// or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// exportFlags are the flags of audit export, shared with its help.
type exportFlags struct {
	fs                   *flag.FlagSet
	format, since, until *string
}

func newExportFlags() exportFlags {
	fs := newFlags("audit export")
	return exportFlags{
		fs:     fs,
		format: fs.String("format", "jsonl", "output `jsonl|csv`"),
		since:  fs.String("since", "", "only events at or after `T` (RFC 3339, or a date: midnight UTC)"),
		until:  fs.String("until", "", "only events before `T` (RFC 3339, or a date: midnight UTC)"),
	}
}

// auditExport is `accessbot audit export [--format jsonl|csv] [--since T]
// [--until T]`. Events are written as they are read, a batch at a time, so
// memory does not grow with the log.
func auditExport(ctx context.Context, env *opsEnv, args []string) error {
	stdout := env.stdout
	f := newExportFlags()
	fs, format, sinceFlag, untilFlag := f.fs, f.format, f.since, f.until
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("audit export: unexpected argument %q", fs.Arg(0))
	}
	since, err := parseTimeFlag("since", *sinceFlag)
	if err != nil {
		return err
	}
	until, err := parseTimeFlag("until", *untilFlag)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return usageError("audit export: --since %s is not before --until %s", *sinceFlag, *untilFlag)
	}
	if *format != "jsonl" && *format != "csv" {
		return usageError("audit export: --format must be jsonl or csv, got %q", *format)
	}
	_, db, done, err := env.readStore()
	if err != nil {
		return err
	}
	defer done()
	out := bufio.NewWriter(stdout)
	var write func(exportRecord) error
	if *format == "jsonl" {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		write = func(rec exportRecord) error { return enc.Encode(rec) }
	} else {
		w := csv.NewWriter(out)
		w.Write(exportColumns)
		write = func(rec exportRecord) error {
			w.Write(rec.row())
			w.Flush() // into out, which buffers
			return w.Error()
		}
	}
	err = db.EventsBetween(ctx, since, until, func(ev approvals.Event) error { return write(newExportRecord(ev)) })
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write export: %w", ferr)
	}
	return err
}

// spreadsheetSafe defuses a cell a spreadsheet would run as a formula: one
// starting with = + - @, a tab or a carriage return gets a leading
// apostrophe. A cell that already starts with an apostrophe gets another,
// so that dropping the first character of every cell starting with an
// apostrophe gives back the exact text.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditWhoFlags are the flags of audit who, shared with its help.
func auditWhoFlags() (*flag.FlagSet, *string) {
	fs := newFlags("audit who")
	return fs, fs.String("at", "", "the instant to ask about, `RFC3339` or a date (default now)")
}

// auditWho is `accessbot audit who RESOURCE [--at RFC3339]`. It reads the
// grants_by_resource index (store.DB.HoldersAt), not the audit log, so its
// cost follows the grants of that resource made before the instant.
func auditWho(ctx context.Context, env *opsEnv, args []string) error {
	stdout := env.stdout
	fs, atFlag := auditWhoFlags()
	// The resource may come before or after the flag.
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError("audit who: expected RESOURCE [--at RFC3339]")
	}
	resource := fs.Arg(0)
	if err := parseFlags(fs, fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("audit who: unexpected argument %q", fs.Arg(0))
	}
	at, err := parseTimeFlag("at", *atFlag)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now()
	}
	cfg, db, done, err := env.readStore()
	if err != nil {
		return err
	}
	defer done()
	holders, err := db.HoldersAt(ctx, resource, at)
	if err != nil {
		return err
	}
	if len(holders) == 0 {
		if err := knownResource(ctx, cfg, db, resource); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s at %s: %d holder(s)\n", resource, at.UTC().Format(time.RFC3339Nano), len(holders))
	if len(holders) == 0 {
		return nil
	}
	tw := newTable(stdout, "ID", "REQUESTER", "IDENTITY", "GRANTED", "UNTIL", "APPROVERS")
	for _, r := range holders {
		until := r.ExpiresAt
		if !r.EndedAt.IsZero() && r.EndedAt.Before(until) {
			until = r.EndedAt
		}
		tw.row(r.ID, r.Requester, r.Identity, r.GrantedAt.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), strings.Join(r.Approvers(), ","))
	}
	return tw.flush()
}

// errFound stops a walk of the audit log once it has found what it looked for.
var errFound = errors.New("found")

// knownResource returns an error when resource is neither in the policy nor
// named by any audit event: "nobody held it" would hide a typo. The policy
// is read first; the audit log is read, until the first event of the
// resource, only for a resource the policy does not have, such as one
// removed from it since.
func knownResource(ctx context.Context, cfg Config, db storeDB, resource string) error {
	pol, polErr := loadPolicy(cfg.PolicyFile)
	if polErr == nil {
		if _, ok := pol.Resource(resource); ok {
			return nil
		}
	}
	err := db.Events(ctx, func(ev approvals.Event) error {
		if ev.Resource == resource {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return nil
	case err != nil:
		return err
	case polErr != nil:
		return fmt.Errorf("unknown resource %q: the audit log never names it, and the policy could not be read to look for it there (%v)", resource, polErr)
	}
	names := make([]string, 0, len(pol.Resources))
	for _, r := range pol.Resources {
		names = append(names, r.Name)
	}
	return fmt.Errorf("unknown resource %q: it is not in the policy %s (resources: %s) and the audit log never names it", resource, cfg.PolicyFile, strings.Join(names, ", "))
}
