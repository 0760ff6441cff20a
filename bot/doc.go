// Package bot is accessbot's Slack adapter: the HTTP endpoints Slack calls
// (POST /slack/commands, POST /slack/interactions), their signature check,
// the /access command and the approval buttons, and the Deliverer that
// renders the approval flow back into Slack (approval messages, DMs to the
// requester, the audit channel: one thread per request, whose first message
// shows the request's current state, and the periodic summary).
//
// It is thin and defensive. Every request is verified before it is read;
// a click carries only a request ID and the request is reloaded through
// approvals.Service, which decides who may do what. What Slack waits for
// is only a store commit (and, for the request modal, views.open); grants
// and revokes run in the background, and what people must be told is
// committed to the store's outbox with each change and delivered by the
// Deliverer: one sender per conversation, every call with a deadline,
// retried until Slack accepts it or refuses for good.
//
// Wiring:
//
//	client := slack.New(token, slack.OptionAPIURL(apiURL))
//	svc := approvals.New(approvals.Config{Store: db, ...})
//	d, _ := bot.NewDeliverer(bot.DelivererConfig{Client: client, Outbox: db, AuditChannel: ch, Undeliverable: svc.Undeliverable})
//	go d.Run(ctx)
//	b, _ := bot.New(bot.Config{Client: client, SigningSecret: secret, Service: svc})
//	mux.Handle("/slack/", b.Handler())
//
// In Socket Mode (an app-level token) the client also carries
// slack.OptionAppLevelToken, Config.SocketMode is set, and RunSocketMode
// replaces the HTTP handler.
package bot
