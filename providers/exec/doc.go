// Package exec is the accessbot provider that delegates to a program: a
// resource names a command, and accessbot runs it to grant, revoke, check
// and list access in any system a script can reach (an HR tool, payroll, a
// SaaS admin API). It implements the exec plugin protocol of DESIGN.md A11:
//
//	exec:
//	  command: [/usr/local/bin/payroll-access, --tenant, acme]
//	  timeout: 30s                                  # default 30s
//	  env: {PAYROLL_URL: https://payroll.internal}  # the only variables passed, besides PATH
//	  settings: {group: exporters}                  # passed through to the program
//
// accessbot runs `command… ACTION`, ACTION being grant, revoke, check or
// list, and writes one JSON object to the program's standard input:
//
//	{"action": "grant", "request_id": "…", "resource": "payroll-export",
//	 "identity": "alice", "requester": "U0ALICE", "approvers": ["U0HR"],
//	 "reason": "…", "duration_seconds": 3600, "expires_at": "2026-11-22T10:00:00Z",
//	 "settings": {"group": "exporters"}}
//
// Every key is always present. Only grant fills requester, approvers,
// reason, duration_seconds and expires_at (RFC 3339, UTC); the other
// actions send "", [], 0 and null. check and list have no request_id, and
// list no identity. settings is {} when the policy gives none.
//
// The program answers with one JSON object on standard output: for check
// {"held": true|false}, for list {"holders": ["alice", …]}, for grant and
// revoke {} or {"message": "…"}. The message of a grant is shown to the
// requester; a failing program may also print {"message": "…"}, which goes
// into the error. An answer that is missing, not one JSON object, or lacks
// the field its action needs is a permanent failure.
//
// Exit status 0 is success, 75 (EX_TEMPFAIL) a transient failure, returned
// as *approvals.TransientError so that approvals retries it; any other
// status is permanent. A program still running after its timeout is killed
// with its whole process group (it runs in a group of its own, so the
// children of a shell script die too) and the failure is transient; so is a
// call whose context ends first. Processes a program leaves behind in its
// group are killed when it exits.
//
// The program's environment is PATH (accessbot's own) plus the policy's env,
// and nothing else: accessbot's secrets are never inherited. The identity
// and the other request fields travel on standard input only, never on the
// command line. Standard error is logged line by line (bounded) with the
// request_id, resource and action. Errors and logs name the program
// (command[0]) but never its arguments or env values, which may hold
// secrets.
//
// examples/exec-plugin is a complete plugin to copy.
package exec
