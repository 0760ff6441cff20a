// Package bot is accessbot's Slack adapter: the HTTP endpoints Slack calls
// (POST /slack/commands, POST /slack/interactions), their signature check,
// the /access command and the approval buttons, and the Notifier that
// renders the approval flow back into Slack (approval messages, DMs to the
// requester, the audit channel: one thread per request, whose first message
// shows the request's current state, and the periodic summary).
//
// It is thin and defensive. Every request is verified before it is read;
// a click carries only a request ID and the request is reloaded through
// approvals.Service, which decides who may do what. What Slack waits for
// is only a store commit (and, for the request modal, views.open); grants,
// revokes and chat posts run in the background.
//
// Wiring, which breaks the cycle between the Service (it needs a Notifier)
// and the Bot (it needs the Service):
//
//	client := slack.New(token, slack.OptionAPIURL(apiURL))
//	notifier, _ := bot.NewNotifier(bot.NotifierConfig{Client: client, AuditChannel: ch})
//	svc := approvals.New(approvals.Config{Notifier: notifier, ...})
//	b, _ := bot.New(bot.Config{Client: client, SigningSecret: secret, Service: svc})
//	mux.Handle("/slack/", b.Handler())
//
// In Socket Mode (an app-level token) the client also carries
// slack.OptionAppLevelToken, Config.SocketMode is set, and RunSocketMode
// replaces the HTTP handler.
package bot
