// Command accessbot is a Slack bot for just-in-time, least-privilege access.
//
//	accessbot serve                       run the bot
//	accessbot demo                        a narrated full cycle against local fakes
//	accessbot policy check [FILE]         validate a policy file
//	accessbot grants list                 open requests and active grants
//	accessbot grants revoke ID            emergency revoke
//	accessbot audit verify [--expect-head HASH@N]
//	accessbot audit export [--format jsonl|csv] [--since T] [--until T]
//	accessbot audit who RESOURCE [--at RFC3339]
//	accessbot backup FILE                 a consistent copy of the database
//	accessbot compact [--output FILE]     pack the database file (serve stopped)
//	accessbot migrate --to postgres|bbolt copy the database between the stores (serve stopped)
//	accessbot healthcheck                 exit 0 when the local serve is healthy
//	accessbot version                     version, commit and Go version
//	accessbot help [COMMAND]              usage; COMMAND --help does the same
//
// The operator commands (grants, audit, backup) go through the admin
// socket of a running serve when one answers, and open the database file
// otherwise. Configuration comes from ACCESSBOT_* environment variables;
// README.md lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit status: 0, 1
// when the command failed, 2 for a command line mistake.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	// Help is answered before anything else, so that `serve --help` on a
	// production host starts nothing and touches no file.
	if path, ok, err := helpPath(args); ok {
		if err != nil {
			return fail(stderr, err)
		}
		printHelp(stdout, path)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		if len(rest) > 0 {
			err = usageError("serve: unexpected argument %q (serve is configured by ACCESSBOT_* variables)", rest[0])
			break
		}
		err = serve(ctx, stderr)
	case "demo":
		if len(rest) > 0 {
			err = usageError("demo: unexpected argument %q", rest[0])
			break
		}
		err = demo(ctx, stdout)
	case "policy":
		err = policyCommand(rest, stdout)
	case "grants", "audit":
		return operatorCommand(ctx, args, stdout, stderr)
	case "backup":
		err = backupCommand(ctx, rest, stdout)
	case "compact":
		err = compactCommand(ctx, rest, stdout)
	case "migrate":
		err = migrateCommand(ctx, rest, stdout)
	case "healthcheck":
		err = healthcheckCommand(ctx, rest, stdout)
	case "version":
		err = versionCommand(rest, stdout)
	default:
		if d, ok := findDoc(cmd); ok && d.later != "" {
			err = laterCommand(d)
			break
		}
		err = usageError("unknown command %q", cmd)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// fail reports err and returns the exit status for it.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "accessbot: %v\n", err)
	if _, ok := err.(*errUsage); ok {
		fmt.Fprintln(stderr)
		printUsage(stderr)
		return 2
	}
	return 1
}

// errUsage is a command line mistake: the usage text follows it.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &errUsage{msg: fmt.Sprintf(format, args...)}
}
