package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot/slackfake"
	"github.com/accessbot/accessbot/providers/github/githubtest"
)

// The demo's cast and world.
const (
	demoRequester   = "U0ALICE"
	demoApprover    = "U0BOB"
	demoApprovals   = "C0APPROVALS"
	demoAudit       = "C0SECURITY"
	demoSecret      = "demo-signing-secret"
	demoGitHubToken = "ghp-demo"
	demoDuration    = "5s"
)

const demoPolicy = `admins: [U0ADMIN]
identities:
  U0ALICE: {github: alice-gh}
  U0BOB: {github: bob-gh}
resources:
  - name: payments-admin
    description: Maintainer of the payments team
    provider: github
    github: {org: acme, team: payments-admins}
    approvers: [U0BOB]
    approval_channel: C0APPROVALS
    max_duration: 4h
`

// demoWait bounds each step of the demo.
const demoWait = 20 * time.Second

// demo is `accessbot demo`: the real program (store, scheduler, approval
// flow, Slack adapter, GitHub provider) against an in-process Slack
// emulator and a local fake GitHub, narrating one full cycle, then a
// denial and a grant the provider refuses. It needs no credentials and no
// network. It keeps its database, in a new directory under the system's
// temporary directory, and prints the commands that read it, so that the
// audit log it wrote can be verified and exported afterwards.
func demo(ctx context.Context, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "accessbot-demo-"+time.Now().UTC().Format("20060102T150405")+"-")
	if err != nil {
		return err
	}
	policyPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(demoPolicy), 0o600); err != nil {
		return err
	}

	slk := slackfake.Start()
	defer slk.Close()
	gh := githubtest.Start()
	defer gh.Close()
	gh.AddTeam("acme", "payments-admins")
	gh.RequireToken(demoGitHubToken)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m := &Main{
		Config: Config{
			SlackBotToken:      slackfake.Token,
			SlackSigningSecret: demoSecret,
			SlackAPIURL:        slk.APIURL(),
			DBPath:             filepath.Join(dir, "accessbot.db"),
			PolicyFile:         policyPath,
			AuditChannel:       demoAudit,
			ExpirySchedule:     "@every 1s",
			SummarySchedule:    "0 9 * * *",
			GitHubToken:        demoGitHubToken,
			GitHubAPIURL:       gh.URL(),
			LogLevel:           "warn",
		},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Listener: ln,
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	d := &demoRun{out: stdout, m: m, slack: slk, github: gh, ctx: ctx}
	err = d.run()
	// The database is closed before its path is printed: the commands
	// below open it.
	m.Close()
	if err != nil {
		return err
	}
	db := shellQuote(m.Config.DBPath)
	d.say("")
	d.say("The database is kept at %s. Check and read its audit log with:", m.Config.DBPath)
	d.say("  ACCESSBOT_DB_PATH=%s accessbot audit verify", db)
	d.say("  ACCESSBOT_DB_PATH=%s accessbot audit export", db)
	d.say("Remove %s when done.", shellQuote(dir))
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// demoNames are the names the demo's people go by in Slack.
var demoNames = map[string]string{"U0ALICE": "alice", "U0BOB": "bob", "U0ADMIN": "admin", "U0ACCESSBOT": "accessbot"}

// demoChannels are the names of the demo's channels.
var demoChannels = map[string]string{demoApprovals: "approvals", demoAudit: "security-audit"}

var (
	// slackToken matches what Slack renders in a message: a mention of a
	// user, a channel or a user group, or a date with its fallback text
	// (and the UTC time the bot writes after it, which is the same
	// instant).
	slackToken = regexp.MustCompile(`<@([UW][A-Z0-9]+)>|<#([CG][A-Z0-9]+)(?:\|[^>]*)?>|<!subteam\^(S[A-Z0-9]+)>|<!date\^[^|>]*\|([^>]*)>(?: \(([^)]*)\))?`)
	// entities are the escapes of mrkdwn, shown as the characters.
	entities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// humanize renders Slack markup as a person sees it in Slack: @alice for
// <@U0ALICE>, #approvals for <#C0APPROVALS>, the date's text for a date
// token, and <, > and & for their escapes.
func humanize(s string) string {
	s = slackToken.ReplaceAllStringFunc(s, func(tok string) string {
		m := slackToken.FindStringSubmatch(tok)
		switch {
		case m[1] != "":
			if name, ok := demoNames[m[1]]; ok {
				return "@" + name
			}
			return "@" + strings.ToLower(m[1])
		case m[2] != "":
			if name, ok := demoChannels[m[2]]; ok {
				return "#" + name
			}
			return "#" + strings.ToLower(m[2])
		case m[3] != "":
			return "@" + strings.ToLower(m[3])
		}
		if m[5] != "" && m[5] != m[4] {
			return m[4] + " (" + m[5] + ")"
		}
		return m[4]
	})
	return entities.Replace(s)
}

// demoRun narrates one cycle.
type demoRun struct {
	out    io.Writer
	m      *Main
	slack  *slackfake.Server
	github *githubtest.Server
	ctx    context.Context
}

func (d *demoRun) say(format string, args ...any) {
	fmt.Fprintln(d.out, humanize(fmt.Sprintf(format, args...)))
}

// shown is what Slack displays of a message: its blocks, or its
// fallback text when it has none.
func shown(c slackfake.Call) string {
	if len(c.Blocks) > 0 {
		c.Text = ""
	}
	return c.AllText()
}

// show prints a Slack message, indented.
func (d *demoRun) show(who string, text string) {
	text = strings.TrimSpace(text)
	d.say("    %s:", who)
	for _, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			d.say("      │ %s", line)
		}
	}
}

// wait polls cond until it holds, or fails after demoWait.
func (d *demoRun) wait(what string, cond func() bool) error {
	deadline := time.Now().Add(demoWait)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s did not happen within %s", what, demoWait)
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// post sends r to the running bot as Slack would, signed.
func (d *demoRun) post(r *http.Request) (string, error) {
	req, err := http.NewRequestWithContext(d.ctx, r.Method, "http://"+d.m.Addr()+r.URL.Path, r.Body)
	if err != nil {
		return "", err
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("demo: %s answered %d: %s", r.URL.Path, resp.StatusCode, body)
	}
	return string(body), nil
}

func (d *demoRun) run() error {
	gh := d.github
	d.say("accessbot demo: the real bot, store and scheduler against an in-process Slack and a local fake GitHub.")
	d.say("Policy: <@%s> may ask for payments-admin (GitHub team acme/payments-admins); <@%s> approves.", demoRequester, demoApprover)
	d.say("")

	text := "request payments-admin " + demoDuration + " INC-4211 hotfix for the refunds job"
	d.say("1. <@%s> types: /access %s", demoRequester, text)
	start := time.Now()
	reply, err := d.post(slackfake.SignedCommand(demoSecret, time.Now(), d.slack.Command(demoRequester, text)))
	if err != nil {
		return err
	}
	d.say("   acknowledged in %s", time.Since(start).Round(time.Millisecond))
	d.show("ephemeral reply", jsonText(reply))
	open, err := d.m.db.OpenRequests(d.ctx, demoRequester)
	if err != nil || len(open) != 1 {
		return fmt.Errorf("demo: the request was not filed (%d open, %v)", len(open), err)
	}
	id := open[0].ID

	var msg slackfake.Call
	if err := d.wait("the approval message", func() bool {
		for _, c := range d.slack.Posts(demoApprovals) {
			if bs := c.Buttons(); len(bs) == 2 && bs[0].Value == id {
				msg = c
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	d.say("")
	d.say("2. The approval message reaches #approvals (%s), with Approve / Deny buttons carrying %s:", demoApprovals, id)
	d.show("approval message", shown(msg))

	d.say("")
	d.say("3. <@%s> clicks Approve.", demoApprover)
	payload := d.slack.BlockActions(demoApprover, "approve", id, msg.Channel, msg.TS)
	if _, err := d.post(slackfake.SignedInteraction(demoSecret, time.Now(), payload)); err != nil {
		return err
	}
	if err := d.wait("the grant", func() bool {
		r, err := d.m.db.Request(d.ctx, id)
		return err == nil && r.Status == approvals.StatusActive
	}); err != nil {
		return err
	}
	r, err := d.m.db.Request(d.ctx, id)
	if err != nil {
		return err
	}
	role, state, _ := gh.TeamMembership("acme", "payments-admins", "alice-gh")
	d.say("   GitHub: PUT /orgs/acme/teams/payments-admins/memberships/alice-gh → alice-gh is a %s (%s)", role, state)
	d.say("   Active until %s (%s from the grant, not from the request).", r.ExpiresAt.Format(time.RFC3339), demoDuration)
	if err := d.wait("the requester's DM", func() bool { return len(d.slack.DMs(demoRequester)) > 0 }); err != nil {
		return err
	}
	dms := d.slack.DMs(demoRequester)
	d.show("DM to the requester", shown(dms[len(dms)-1]))
	if err := d.showDecided(msg, "Granted"); err != nil {
		return err
	}

	d.say("")
	d.say("4. Time passes; the expiry sweep (ACCESSBOT_EXPIRY_SCHEDULE, here @every 1s) revokes at the expiry…")
	if err := d.wait("the revoke", func() bool {
		r, err := d.m.db.Request(d.ctx, id)
		return err == nil && r.Status == approvals.StatusExpired
	}); err != nil {
		return err
	}
	d.m.Settle()
	r, err = d.m.db.Request(d.ctx, id)
	if err != nil {
		return err
	}
	_, _, still := gh.TeamMembership("acme", "payments-admins", "alice-gh")
	d.say("   GitHub: DELETE /orgs/acme/teams/payments-admins/memberships/alice-gh at %s (%s after the expiry); still a member: %v",
		r.EndedAt.Format(time.RFC3339), r.EndedAt.Sub(r.ExpiresAt).Round(time.Millisecond), still)

	if err := d.denial(); err != nil {
		return err
	}
	if err := d.providerFailure(); err != nil {
		return err
	}

	d.say("")
	d.say("7. The audit summary (ACCESSBOT_SUMMARY_SCHEDULE) goes to the audit channel, anchoring the log:")
	if err := d.m.PostSummary(d.ctx); err != nil {
		return err
	}
	d.m.Settle()
	d.say("")
	d.say("   The audit channel (%s) now reads:", demoAudit)
	for _, c := range d.slack.Calls() {
		if c.Channel == demoAudit && c.Error == "" && (c.Method == "chat.postMessage" || c.Method == "chat.update") {
			label := "post"
			if c.ThreadTS != "" {
				label = "reply in thread"
			} else if c.Method == "chat.update" {
				label = "edit of the thread's first message"
			}
			d.show(label, shown(c))
		}
	}

	d.say("")
	d.say("8. The hash-chained audit log (`accessbot audit export`):")
	err = d.m.db.Events(d.ctx, func(ev approvals.Event) error {
		who := ev.Actor
		if approvals.SystemActor != who {
			who = humanize("<@" + who + ">")
		}
		d.say("   #%-2d %s  %-14s %-11s %-9s  hash %.12s…", ev.Seq, ev.Time.Format("15:04:05.000"), ev.Action, ev.RequestID, who, ev.Hash)
		return nil
	})
	if err != nil {
		return err
	}
	res, err := d.m.db.Verify(d.ctx)
	if err != nil {
		return fmt.Errorf("demo: audit verify: %w", err)
	}
	d.say("   `accessbot audit verify`: intact, %d records, head %s", res.Count, res.Head)
	if u := gh.Unexpected(); len(u) > 0 {
		return errors.New("demo: unexpected GitHub requests: " + strings.Join(u, ", "))
	}
	d.say("")
	d.say("Done: requested → approved → granted → expired → revoked; denied; refused by GitHub; summarised.")
	return nil
}

// request files "/access text" as the requester and returns the new
// request's ID once its approval message is in #approvals.
func (d *demoRun) request(text string) (string, slackfake.Call, error) {
	d.say("   @alice types: /access %s", text)
	reply, err := d.post(slackfake.SignedCommand(demoSecret, time.Now(), d.slack.Command(demoRequester, text)))
	if err != nil {
		return "", slackfake.Call{}, err
	}
	open, err := d.m.db.OpenRequests(d.ctx, demoRequester)
	if err != nil || len(open) != 1 {
		return "", slackfake.Call{}, fmt.Errorf("demo: the request was not filed (%d open, %v): %s", len(open), err, jsonText(reply))
	}
	id := open[0].ID
	msg, err := d.approvalMessage(id)
	return id, msg, err
}

// approvalMessage waits for the approval message of request id.
func (d *demoRun) approvalMessage(id string) (slackfake.Call, error) {
	var msg slackfake.Call
	err := d.wait("the approval message of "+id, func() bool {
		for _, c := range d.slack.Posts(demoApprovals) {
			if bs := c.Buttons(); len(bs) == 2 && bs[0].Value == id {
				msg = c
				return true
			}
		}
		return false
	})
	return msg, err
}

// click sends the approver's click on button action of the approval
// message msg of request id.
func (d *demoRun) click(action, id string, msg slackfake.Call) error {
	payload := d.slack.BlockActions(demoApprover, action, id, msg.Channel, msg.TS)
	_, err := d.post(slackfake.SignedInteraction(demoSecret, time.Now(), payload))
	return err
}

// waitStatus waits for request id to reach status.
func (d *demoRun) waitStatus(id string, status approvals.Status) (*approvals.Request, error) {
	var r *approvals.Request
	err := d.wait("request "+id+" "+string(status), func() bool {
		var err error
		r, err = d.m.db.Request(d.ctx, id)
		return err == nil && r.Status == status
	})
	return r, err
}

// showDecided shows the approval message msg once it has been rewritten
// to show the decision (its text contains outcome), buttons gone.
func (d *demoRun) showDecided(msg slackfake.Call, outcome string) error {
	var now slackfake.Call
	if err := d.wait("the approval message's update", func() bool {
		c, ok := d.slack.Message(msg.Channel, msg.TS)
		now = c
		return ok && c.Method == "chat.update" && strings.Contains(c.AllText(), outcome) && len(c.Buttons()) == 0
	}); err != nil {
		return err
	}
	d.show("the approval message in #approvals, after the decision (buttons removed)", shown(now))
	return nil
}

// lastDM shows the requester's latest DM once it contains want.
func (d *demoRun) lastDM(want string) error {
	var dm slackfake.Call
	if err := d.wait("the requester's DM", func() bool {
		dms := d.slack.DMs(demoRequester)
		if len(dms) == 0 {
			return false
		}
		dm = dms[len(dms)-1]
		return strings.Contains(dm.AllText(), want)
	}); err != nil {
		return err
	}
	d.show("DM to the requester", shown(dm))
	return nil
}

// denial: a request the approver turns down.
func (d *demoRun) denial() error {
	d.say("")
	d.say("5. A request the approver turns down:")
	id, msg, err := d.request("request payments-admin 2h look around in the payments settings")
	if err != nil {
		return err
	}
	d.say("   @bob clicks Deny.")
	if err := d.click("deny", id, msg); err != nil {
		return err
	}
	if _, err := d.waitStatus(id, approvals.StatusDenied); err != nil {
		return err
	}
	if err := d.showDecided(msg, "Denied"); err != nil {
		return err
	}
	if err := d.lastDM("denied"); err != nil {
		return err
	}
	_, _, member := d.github.TeamMembership("acme", "payments-admins", "alice-gh")
	d.say("   GitHub was not called to grant anything; still a member: %v", member)
	return nil
}

// providerFailure: an approved request GitHub refuses to grant.
func (d *demoRun) providerFailure() error {
	d.say("")
	d.say("6. An approved request that GitHub refuses (the token lacks the right to change the team):")
	d.github.Inject(githubtest.Fault{
		Method: http.MethodPut, Path: "/orgs/acme/teams/payments-admins/memberships/alice-gh", Status: http.StatusForbidden,
		Body: `{"message":"Must have admin rights to this team.","documentation_url":"https://docs.github.com/rest/teams/members#add-or-update-team-membership-for-a-user"}`,
	})
	id, msg, err := d.request("request payments-admin 30m INC-4212 rerun the refunds job")
	if err != nil {
		return err
	}
	d.say("   @bob clicks Approve.")
	if err := d.click("approve", id, msg); err != nil {
		return err
	}
	r, err := d.waitStatus(id, approvals.StatusFailed)
	if err != nil {
		return err
	}
	d.say("   GitHub answered 403 to PUT /orgs/acme/teams/payments-admins/memberships/alice-gh; the request is %s, nothing was granted.", r.Status)
	if err := d.showDecided(msg, "Grant failed"); err != nil {
		return err
	}
	if err := d.lastDM("failed"); err != nil {
		return err
	}
	d.say("   GitHub's own answer goes to the log (stderr) and the audit channel (see 7), never to the requester.")
	return nil
}

// jsonText pulls the "text" field out of a Slack JSON answer.
func jsonText(body string) string {
	var v struct {
		Text string `json:"text"`
	}
	if json.Unmarshal([]byte(body), &v) != nil {
		return body
	}
	return v.Text
}
