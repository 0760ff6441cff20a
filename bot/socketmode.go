package bot

import (
	"context"
	"fmt"
	"sync"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives slash commands and interactions over Socket Mode
// until ctx ends, and answers each with the acknowledgement the HTTP
// endpoints would have sent (Command, Interaction). Config.Client must
// carry the app-level token (slack.OptionAppLevelToken); the connection is
// authenticated by that token, so no signing secret is involved. It
// returns nil when ctx ends and an error when Slack refuses the connection.
func (b *Bot) RunSocketMode(ctx context.Context) error {
	sm := socketmode.New(b.client)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()

	// Each envelope is handled in its own goroutine, as each HTTP request
	// is: a views.open waiting for Slack must not hold up a click.
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket mode: %w", err)
		case evt := <-sm.Events:
			wg.Go(func() { b.socketEvent(ctx, sm, evt) })
		}
	}
}

// socketEvent handles one Socket Mode event.
func (b *Bot) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.log.Info("socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		b.log.Warn("socket mode", "event", string(evt.Type), "detail", fmt.Sprint(evt.Data))
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		reply := b.Command(ctx, cmd)
		if reply == nil {
			b.ack(sm, evt.Request)
			return
		}
		if err := sm.Ack(*evt.Request, reply); err != nil {
			// Slack drops acks of 20 KB or more: acknowledge bare and
			// answer through the response_url instead.
			b.log.Warn("socket mode ack refused; answering through response_url", "err", err)
			b.ack(sm, evt.Request)
			if cmd.ResponseURL != "" {
				b.background(ctx, func(ctx context.Context) {
					if err := b.api.respond(ctx, cmd.ResponseURL, reply.Text); err != nil {
						b.log.Error("answer slash command through response_url", "user", cmd.UserID, "err", err)
					}
				})
			}
		}
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		if resp := b.Interaction(ctx, ic); resp != nil {
			if err := sm.Ack(*evt.Request, resp); err != nil {
				b.log.Error("socket mode ack", "err", err)
			}
			return
		}
		b.ack(sm, evt.Request)
	case socketmode.EventTypeEventsAPI:
		if evt.Request != nil {
			b.ack(sm, evt.Request)
		}
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			b.Event(ctx, ev)
		}
	default:
		// Anything newer: acknowledge so Slack does not retry it.
		if evt.Request != nil && evt.Request.EnvelopeID != "" {
			b.ack(sm, evt.Request)
		}
	}
}

func (b *Bot) ack(sm *socketmode.Client, req *socketmode.Request) {
	if err := sm.Ack(*req); err != nil {
		b.log.Error("socket mode ack", "err", err)
	}
}
