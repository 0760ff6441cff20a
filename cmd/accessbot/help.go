package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// commandDoc documents one command or command group for `accessbot help`
// and `COMMAND --help`. Printing it never starts anything and never opens
// the database, so it is safe on a production host.
type commandDoc struct {
	path    string // "audit who"
	args    string // what follows the path in a usage line
	summary string // one line, for the command list
	text    string // what it does, in a few lines
	// flags returns the command's flag set, the same one the command
	// parses, so that the help lists exactly the flags that work.
	flags func() *flag.FlagSet
	// env lists the variables (without the prefix) the command reads;
	// allEnv means all of them.
	env []string
	// later marks a command that this version does not have yet: it is
	// listed so that the help shows where it will be, and running it says
	// what to do instead.
	later string
}

// allEnv stands for every configuration variable.
var allEnv = []string{"*"}

// commandDocs are every command, in the order of the top-level help.
var commandDocs = []commandDoc{
	{path: "serve", summary: "run the bot (HTTP mode, or Socket Mode when an app token is set)",
		text: `Runs the bot: the Slack endpoints (or the Socket Mode connection), the
expiry sweep and the audit summary on their schedules, /healthz and
/metrics. A missing or invalid setting stops it at once with a message
naming the variable or the policy field. SIGHUP reloads the policy;
SIGTERM and SIGINT stop it gracefully.`,
		env: allEnv},
	{path: "demo", summary: "a narrated full cycle against an in-process Slack and GitHub",
		text: `Runs the real bot, store, scheduler and approval flow against an
in-process Slack emulator and a local fake GitHub, narrating request,
approval, grant, expiry, revoke, a denial, a grant GitHub refuses and the
audit summary, with messages shown as Slack displays them. Needs no
credentials and no network, and reads no configuration. The database is
kept in a new directory under the system's temporary directory; the demo
prints it and the audit verify and audit export commands that read it.`},
	{path: "policy", summary: "policy file commands"},
	{path: "policy check", args: "[FILE]", summary: "validate a policy file",
		text: `Checks a policy file without starting anything: exit 0, or every problem
with file:line and field. FILE defaults to ACCESSBOT_POLICY_FILE.`,
		env: []string{"POLICY_FILE"}},
	{path: "grants", summary: "operator views and emergency revoke"},
	{path: "grants list", summary: "open requests and active grants",
		text: `Lists open requests and active grants. Like every operator command, it
goes through the admin socket of a running serve, or reads the database
file when no serve answers there.`,
		env: []string{"DB_PATH", "ADMIN_SOCKET"}},
	{path: "grants revoke", args: "ID", summary: "revoke a grant now, through its provider",
		text: `Revokes grant ID at once through its provider, as the operator, and
records it in the audit log under the operating system user who ran it.
Through the admin socket the running serve revokes it and tells Slack;
without a serve the command builds only the provider of that grant, and
what Slack must be told waits in the outbox for the next start.`,
		env: []string{"DB_PATH", "ADMIN_SOCKET", "POLICY_FILE",
			"GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_INSTALLATION_ID", "GITHUB_APP_PRIVATE_KEY_FILE", "GITHUB_API_URL", "POSTGRES_DSN"}},
	{path: "audit", summary: "audit log commands"},
	{path: "audit verify", summary: "check the audit log's hash chain, and the requests against it",
		text: `Exit 0 when the hash chain is intact, non-zero naming the first bad
record. With --expect-head HASH@N, record N (counting from 1) must have
hash HASH, so a log cut back below an earlier anchor is caught. The log
intact, it is replayed against the requests: every request's status and
expiry must be what its events say, and the open, revokes_by_time,
grants_by_resource and resume indexes must match the requests; each
disagreement is printed on a line of its own and the exit is non-zero.`,
		flags: func() *flag.FlagSet { fs, _ := auditVerifyFlags(); return fs },
		env:   []string{"DB_PATH", "ADMIN_SOCKET", "AUDIT_KEY_FILE"}},
	{path: "audit export", summary: "write audit events to stdout",
		text:  `Writes audit events in order, as JSON lines or CSV (docs/audit.md has the schema).`,
		flags: func() *flag.FlagSet { return newExportFlags().fs },
		env:   []string{"DB_PATH", "ADMIN_SOCKET"}},
	{path: "audit who", args: "RESOURCE", summary: "who held access to RESOURCE at an instant",
		text: `Lists who held RESOURCE at the instant (default now), from the grants
index. A resource that is neither in the policy nor in the audit log is an
error, so a typo does not read as "nobody".`,
		flags: func() *flag.FlagSet { fs, _ := auditWhoFlags(); return fs },
		env:   []string{"DB_PATH", "ADMIN_SOCKET", "POLICY_FILE"}},
	{path: "healthcheck", summary: "exit 0 when the local serve is healthy (container health checks)",
		text: `Asks the serve on this host for GET /healthz, at 127.0.0.1 and the port of
ACCESSBOT_LISTEN_ADDR (or its host, when it names one), with a short
timeout. Exit 0 when it answers 200; otherwise non-zero with the reason.`,
		env: []string{"LISTEN_ADDR"}},
	{path: "backup", args: "FILE", summary: "write a consistent copy of the database to FILE",
		text: `Writes a consistent copy of the database to FILE (mode 0600; an existing
file is never overwritten), taken by the running serve through the admin
socket while it goes on serving, or from the database file when no serve
answers there. Then opens the copy, verifies its audit chain and prints
its anchor.`,
		env: []string{"DB_PATH", "ADMIN_SOCKET"}},
	{path: "compact", summary: "rewrite the database file without its free space",
		text: `bbolt never gives freed space back to the file system. compact writes a
packed copy of the database, verifies its audit chain, and puts it in
place of the database file atomically (or, with --output FILE, writes it
to FILE and changes nothing else). accessbot serve must be stopped: the
command refuses while one answers on the admin socket or holds the file.`,
		flags: func() *flag.FlagSet { fs, _ := compactFlags(); return fs },
		env:   []string{"DB_PATH", "ADMIN_SOCKET", "AUDIT_KEY_FILE"}},
	{path: "migrate", summary: "copy the database between the bbolt file and PostgreSQL",
		text: `Copies the bbolt file ACCESSBOT_DB_PATH into the PostgreSQL schema of
ACCESSBOT_STORE_DSN (--to postgres), or back (--to bbolt): the requests
with their indexes, the audit records byte for byte, and the notices not
yet delivered. The target must be empty. Both audit logs are verified
afterwards and must end at the same head, which is printed. accessbot
serve must be stopped on the source's side: the bbolt file's lock, or the
replicas' leader lock in PostgreSQL, says whether it is. A log chained
with ACCESSBOT_AUDIT_KEY_FILE cannot go to PostgreSQL.`,
		flags: func() *flag.FlagSet { fs, _ := migrateFlags(); return fs },
		env:   []string{"DB_PATH", "STORE_DSN", "ADMIN_SOCKET"}},
	{path: "version", summary: "print the version, commit and Go version"},
	{path: "help", args: "[COMMAND]", summary: "print help for a command; COMMAND --help does the same"},
}

// findDoc returns the documentation of a command path such as "audit who".
func findDoc(path string) (commandDoc, bool) {
	for _, d := range commandDocs {
		if d.path == path {
			return d, true
		}
	}
	return commandDoc{}, false
}

// helpPath returns the command path that a help request is about and true,
// when args ask for help: `help [COMMAND…]`, or a -h or --help anywhere.
// The path is the longest run of leading arguments that names a command.
func helpPath(args []string) (string, bool, error) {
	if len(args) > 0 && args[0] == "help" {
		if len(args) == 2 && isHelpFlag(args[1]) {
			return "help", true, nil
		}
		path := strings.Join(args[1:], " ")
		if _, ok := findDoc(path); !ok && path != "" {
			return "", true, usageError("help: unknown command %q", path)
		}
		return path, true, nil
	}
	asked := false
	for _, a := range args {
		if isHelpFlag(a) {
			asked = true
		}
	}
	if !asked {
		return "", false, nil
	}
	path := ""
	for _, a := range args {
		next := strings.TrimSpace(path + " " + a)
		if _, ok := findDoc(next); !ok {
			break
		}
		path = next
	}
	if path == "" && !isHelpFlag(args[0]) {
		return "", true, usageError("unknown command %q", args[0])
	}
	return path, true, nil
}

func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// printUsage writes the list of commands.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: accessbot COMMAND [ARGS]")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range commandDocs {
		if d.isGroup() {
			continue
		}
		summary := d.summary
		if d.later != "" {
			summary += " (not in this version yet)"
		}
		fmt.Fprintf(tw, "  accessbot %s\t%s\n", d.usageLine(), summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`accessbot help COMMAND` or `accessbot COMMAND --help` says more.")
	fmt.Fprintln(w, "Configuration comes from ACCESSBOT_* environment variables: `accessbot serve --help` lists them.")
}

// isGroup reports whether d is only a parent of subcommands.
func (d commandDoc) isGroup() bool {
	prefix := d.path + " "
	for _, c := range commandDocs {
		if strings.HasPrefix(c.path, prefix) {
			return true
		}
	}
	return false
}

// usageLine is the path, its arguments and its flags in short form.
func (d commandDoc) usageLine() string {
	parts := []string{d.path}
	if d.args != "" {
		parts = append(parts, d.args)
	}
	if d.flags != nil {
		d.flags().VisitAll(func(f *flag.Flag) {
			name, _ := flag.UnquoteUsage(f)
			parts = append(parts, fmt.Sprintf("[--%s %s]", f.Name, name))
		})
	}
	return strings.Join(parts, " ")
}

// printHelp writes the help of one command, or the list of commands for
// the empty path.
func printHelp(w io.Writer, path string) {
	d, ok := findDoc(path)
	if !ok {
		printUsage(w)
		return
	}
	if d.isGroup() {
		fmt.Fprintf(w, "usage: accessbot %s COMMAND\n\n%s:\n", d.path, d.summary)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range commandDocs {
			if strings.HasPrefix(c.path, d.path+" ") {
				fmt.Fprintf(tw, "  accessbot %s\t%s\n", c.usageLine(), c.summary)
			}
		}
		tw.Flush()
		return
	}
	fmt.Fprintf(w, "usage: accessbot %s\n\n", d.usageLine())
	text := d.text
	if text == "" {
		text = strings.ToUpper(d.summary[:1]) + d.summary[1:] + "."
	}
	fmt.Fprintln(w, text)
	if d.later != "" {
		fmt.Fprintf(w, "\nThis version does not have it yet; meanwhile, %s.\n", d.later)
	}
	if d.flags != nil {
		fmt.Fprintln(w, "\nflags:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		d.flags().VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			if f.DefValue != "" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(tw, "  --%s %s\t%s\n", f.Name, name, usage)
		})
		tw.Flush()
	}
	if len(d.env) > 0 {
		fmt.Fprintln(w, "\nenvironment:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range envVars() {
			if !d.reads(v.Name) {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Name, v.Desc, v.defaultText())
		}
		tw.Flush()
	}
}

// reads reports whether the command reads the variable name.
func (d commandDoc) reads(name string) bool {
	for _, e := range d.env {
		if e == "*" || envPrefix+"_"+e == name {
			return true
		}
	}
	return false
}

// defaultText is what the help shows as the variable's default.
func (v envVar) defaultText() string {
	if v.Literal {
		return fmt.Sprintf("default %q", v.Default)
	}
	return v.Default
}

// laterCommand answers a command this version does not have yet.
func laterCommand(d commandDoc) error {
	return fmt.Errorf("%s is not in this version yet; meanwhile, %s", d.path, d.later)
}
