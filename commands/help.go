package commands

// help is the usage text, in Slack mrkdwn. It lists every subcommand of the
// /access grammar that Parse accepts.
const help = "*/access* — just-in-time access: ask for exactly what you need, for as long as you need it.\n" +
	"\n" +
	"• `" + usageRequest + "` — ask for access; the resource's approvers are asked, and the clock starts when access is granted.\n" +
	"    e.g. `/access request payments-admin 2h INC-4211 hotfix`\n" +
	"• `/access request` — the same, in a form.\n" +
	"• `/access list` — your pending requests and active grants, with their IDs and expiry.\n" +
	"• `/access resources` — what you may request, and for how long at most.\n" +
	"• `" + usageRevoke + "` — end a grant early (its holder, an approver of the resource, or an admin).\n" +
	"    e.g. `/access revoke ar-4wwftt2k`\n" +
	"• `" + usageExtend + "` — ask for more time on an active grant: DURATION is added to its expiry once the approvers approve again; the ID stays the same.\n" +
	"    e.g. `/access extend ar-4wwftt2k 1h still debugging`\n" +
	"• `" + usageWho + "` — who holds the resource now, or held it at TIME (approvers of the resource and admins).\n" +
	"    e.g. `/access who payments-admin`, `/access who payments-admin at 2026-11-22 10:00`, `/access who payments-admin at 2 hours ago`\n" +
	helpBreakGlass +
	"• `/access help` — this text.\n" +
	"\n" +
	"DURATION is a number and a unit, combinable: `45m`, `2h`, `1h30m`, `1d`, `1.5h`, or in words: `90 minutes`, `2 hours`, `1 day`, up to the resource's maximum. " +
	"REASON is required and kept as typed: give a ticket or incident and a few words."

// Help returns the usage text of /access, in Slack mrkdwn, for an ephemeral
// message.
func Help() string { return help }
