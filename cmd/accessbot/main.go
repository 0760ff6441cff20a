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
//
// Configuration comes from ACCESSBOT_* environment variables; README.md
// lists them.
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

const usage = `usage:
  accessbot serve
  accessbot demo
  accessbot policy check [FILE]
  accessbot grants list
  accessbot grants revoke ID
  accessbot audit verify [--expect-head HASH@N]
  accessbot audit export [--format jsonl|csv] [--since T] [--until T]
  accessbot audit who RESOURCE [--at RFC3339]
`

// run dispatches a subcommand and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serve(ctx, stderr)
	case "demo":
		err = demo(ctx, stdout)
	case "policy":
		err = policyCommand(rest, stdout)
	case "grants":
		err = grantsCommand(ctx, rest, stdout)
	case "audit":
		err = auditCommand(ctx, rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		err = usageError("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(stderr, "accessbot: %v\n", err)
		if _, ok := err.(*errUsage); ok {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return 1
	}
	return 0
}

// errUsage is a command line mistake: the usage text follows it.
type errUsage struct{ msg string }

func (e *errUsage) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &errUsage{msg: fmt.Sprintf(format, args...)}
}
