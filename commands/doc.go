// Package commands is the grammar of the /access slash command: it turns the
// text a user typed into a typed Command, and renders the usage text. It does
// no I/O and knows nothing of Slack or the policy; checking a command against
// the policy (does the resource exist, is the duration allowed) is the job of
// package approvals.
//
// Its errors are *approvals.Error with code approvals.EINVALID, whose
// messages say what to fix, so the bot can show them to the user as they are.
package commands
