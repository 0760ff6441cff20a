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
// emulator and a local fake GitHub, narrating one full cycle. It needs no
// credentials and no network, and leaves nothing behind.
func demo(ctx context.Context, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "accessbot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
	defer m.Close()
	d := &demoRun{out: stdout, m: m, slack: slk, github: gh, ctx: ctx}
	return d.run()
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
	fmt.Fprintf(d.out, format+"\n", args...)
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

	d.say("")
	d.say("5. The audit summary (ACCESSBOT_SUMMARY_SCHEDULE) goes to the audit channel, anchoring the log:")
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
	d.say("6. The hash-chained audit log (`accessbot audit export`):")
	err = d.m.db.Events(d.ctx, func(ev approvals.Event) error {
		who := ev.Actor
		if approvals.SystemActor != who {
			who = "<@" + who + ">"
		}
		d.say("   #%d %s  %-16s %-8s %s  hash %.12s…", ev.Seq, ev.Time.Format("15:04:05.000"), ev.Action, ev.RequestID, who, ev.Hash)
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
	d.say("Done: requested → approved → granted → expired → revoked → summarised.")
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
