package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
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

// openStoreForCLI opens the database named by ACCESSBOT_DB_PATH. bbolt
// locks the file, so while `accessbot serve` runs this fails within a
// second or two with a message saying so.
func openStoreForCLI() (Config, *store.DB, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cfg, nil, err
	}
	db, err := store.Open(cfg.DBPath)
	if err != nil {
		return cfg, nil, fmt.Errorf("%w\n(stop `accessbot serve` first, or copy the file and point ACCESSBOT_DB_PATH at the copy for read-only commands; in Slack, admins can `/access revoke ID` while it runs)", err)
	}
	return cfg, db, nil
}

// grantsCommand is `accessbot grants list` and `accessbot grants revoke ID`.
func grantsCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("grants: expected `grants list` or `grants revoke ID`")
	}
	switch {
	case args[0] == "list" && len(args) == 1:
		_, db, err := openStoreForCLI()
		if err != nil {
			return err
		}
		defer db.Close()
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
		return cliRevoke(ctx, args[1], stdout)
	}
	return usageError("grants: expected `grants list` or `grants revoke ID`")
}

// cliRevoke revokes one grant at once through its provider, as an operator.
func cliRevoke(ctx context.Context, id string, stdout io.Writer) error {
	cfg, db, err := openStoreForCLI()
	if err != nil {
		return err
	}
	defer db.Close()
	pol, err := loadPolicy(cfg.PolicyFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	set, err := providers.Build(ctx, pol, providers.Config{
		GitHubToken: cfg.GitHubToken, GitHubAppID: cfg.GitHubAppID, GitHubAppInstallationID: cfg.GitHubAppInstallationID,
		GitHubAppPrivateKeyFile: cfg.GitHubAppPrivateKeyFile, GitHubAPIURL: cfg.GitHubAPIURL, PostgresDSN: cfg.PostgresDSN, Logger: log,
	})
	if err != nil {
		return err
	}
	defer set.Close()
	var notifier approvals.Notifier = quietNotifier{}
	if cfg.SlackBotToken != "" {
		if notifier, err = bot.NewNotifier(bot.NotifierConfig{
			Client: slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL)), AuditChannel: cfg.AuditChannel, Logger: log,
		}); err != nil {
			return err
		}
	}
	svc := approvals.New(approvals.Config{Store: db, Providers: set.Providers, Notifier: notifier, Policy: pol, Logger: log})
	if _, err := svc.Revoke(ctx, approvals.OperatorActor, id); err != nil {
		return fmt.Errorf("%s", approvals.ErrorMessage(err))
	}
	svc.Shutdown()
	r, err := db.Request(ctx, id)
	if err != nil {
		return err
	}
	switch r.Status {
	case approvals.StatusRevoked, approvals.StatusExpired, approvals.StatusCancelled:
		fmt.Fprintf(stdout, "%s: %s (%s of %s for %s)\n", r.ID, r.Status, r.Identity, r.Resource, r.Requester)
		return nil
	case approvals.StatusActive:
		return fmt.Errorf("%s: the provider revoke failed (%s); it stays due and the next sweep of `accessbot serve` retries it", r.ID, r.LastError)
	}
	fmt.Fprintf(stdout, "%s: already %s\n", r.ID, r.Status)
	return nil
}

// quietNotifier is used by CLI commands run without Slack credentials.
type quietNotifier struct{}

func (quietNotifier) PostApprovalRequest(context.Context, *approvals.Request, approvals.Resource) ([]approvals.MessageRef, error) {
	return nil, nil
}
func (quietNotifier) UpdateApprovalMessages(context.Context, *approvals.Request) error { return nil }
func (quietNotifier) NotifyRequester(context.Context, *approvals.Request, approvals.Event) error {
	return nil
}
func (quietNotifier) PostAudit(context.Context, *approvals.Request, approvals.Event) error {
	return nil
}

// auditCommand is `accessbot audit verify|export|who`.
func auditCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("audit: expected verify, export or who")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout)
	case "export":
		return auditExport(ctx, args[1:], stdout)
	case "who":
		return auditWho(ctx, args[1:], stdout)
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

func auditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("audit verify")
	anchor := fs.String("expect-head", "", "HASH@N: record N must have hash HASH")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var hash string
	var n uint64
	if *anchor != "" {
		h, count, ok := strings.Cut(*anchor, "@")
		var err error
		n, err = strconv.ParseUint(count, 10, 64)
		if !ok || h == "" || err != nil || n == 0 {
			return usageError("audit verify: --expect-head wants HASH@N (as printed in the audit summary), got %q", *anchor)
		}
		hash = h
	}
	_, db, err := openStoreForCLI()
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit log NOT intact: %w", err)
	}
	if hash != "" {
		if err := db.VerifyAnchor(ctx, hash, n); err != nil {
			return fmt.Errorf("audit log does not extend the anchor %s@%d: %w", hash, n, err)
		}
	}
	fmt.Fprintf(stdout, "audit log intact: %d records, head %s\n", res.Count, res.Head)
	return nil
}

// parseTimeFlag accepts RFC 3339 or a date.
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

// exportColumns is the documented, stable export schema (README "Audit").
var exportColumns = []string{"seq", "time", "actor", "action", "request_id", "resource", "provider",
	"requester", "identity", "duration", "expires_at", "reason", "approvers", "outcome", "detail",
	"policy_hash", "prev_hash", "hash"}

func auditExport(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("audit export")
	format := fs.String("format", "jsonl", "jsonl or csv")
	sinceFlag := fs.String("since", "", "RFC 3339 time")
	untilFlag := fs.String("until", "", "RFC 3339 time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	since, err := parseTimeFlag("since", *sinceFlag)
	if err != nil {
		return err
	}
	until, err := parseTimeFlag("until", *untilFlag)
	if err != nil {
		return err
	}
	if *format != "jsonl" && *format != "csv" {
		return usageError("audit export: --format must be jsonl or csv, got %q", *format)
	}
	_, db, err := openStoreForCLI()
	if err != nil {
		return err
	}
	defer db.Close()
	if *format == "jsonl" {
		enc := json.NewEncoder(stdout)
		return db.EventsBetween(ctx, since, until, func(ev approvals.Event) error { return enc.Encode(exportRecord(ev)) })
	}
	w := csv.NewWriter(stdout)
	w.Write(exportColumns)
	err = db.EventsBetween(ctx, since, until, func(ev approvals.Event) error {
		rec := exportRecord(ev)
		row := make([]string, len(exportColumns))
		for i, c := range exportColumns {
			row[i] = spreadsheetSafe(fmt.Sprint(rec[c]))
		}
		return w.Write(row)
	})
	w.Flush()
	if err != nil {
		return err
	}
	return w.Error()
}

// exportRecord maps an event to the export schema.
func exportRecord(ev approvals.Event) map[string]any {
	expires := ""
	if !ev.ExpiresAt.IsZero() {
		expires = ev.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	duration := ""
	if ev.Duration > 0 {
		duration = approvals.FormatDuration(ev.Duration)
	}
	return map[string]any{
		"seq": ev.Seq, "time": ev.Time.UTC().Format(time.RFC3339Nano), "actor": ev.Actor, "action": ev.Action,
		"request_id": ev.RequestID, "resource": ev.Resource, "provider": ev.Provider, "requester": ev.Requester,
		"identity": ev.Identity, "duration": duration, "expires_at": expires, "reason": ev.Reason,
		"approvers": strings.Join(ev.Approvers, " "), "outcome": ev.Outcome, "detail": ev.Detail,
		"policy_hash": ev.PolicyHash, "prev_hash": ev.PrevHash, "hash": ev.Hash,
	}
}

// spreadsheetSafe defuses cells a spreadsheet would run as a formula.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func auditWho(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError("audit who: expected RESOURCE [--at RFC3339]")
	}
	resource := args[0]
	fs := newFlags("audit who")
	atFlag := fs.String("at", "", "RFC 3339 instant (default now)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	at, err := parseTimeFlag("at", *atFlag)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now()
	}
	_, db, err := openStoreForCLI()
	if err != nil {
		return err
	}
	defer db.Close()
	holders, err := db.HoldersAt(ctx, resource, at)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s at %s: %d holder(s)\n", resource, at.UTC().Format(time.RFC3339), len(holders))
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
