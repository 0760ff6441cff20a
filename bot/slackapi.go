package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// Retry policy for Slack's 429 answers. slack-go reports them as
// *slack.RateLimitedError carrying Retry-After; chat.postMessage is limited
// to about one message per second per channel, so a short wait usually
// suffices. A longer demand is not waited out on a notification path.
const (
	rateLimitRetries = 2
	maxRetryAfter    = 30 * time.Second
)

// slackAPI wraps the few Web API calls the bot makes with a deadline per
// call and rate-limit retries, and caches DM channels so that repeated DMs
// to one person do not each cost a conversations.open.
type slackAPI struct {
	client *slack.Client
	log    *slog.Logger
	// retries is how many 429 answers a call waits out before failing;
	// the Deliverer sets 0 and retries in its conversation's order.
	retries int
	// callTimeout bounds each call.
	callTimeout time.Duration
	// observe, when set, is told of each call's method and error code.
	observe func(method, code string)

	mu  sync.Mutex
	dms map[string]string // user ID -> DM channel ID
}

func newSlackAPI(client *slack.Client, log *slog.Logger) *slackAPI {
	return &slackAPI{client: client, log: log, dms: map[string]string{}, retries: rateLimitRetries, callTimeout: DefaultCallTimeout}
}

// do calls fn with a deadline, and again after the Retry-After Slack asks
// for when it answers 429, up to a.retries times, as long as ctx allows.
func (a *slackAPI) do(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, a.callTimeout)
		err := fn(callCtx)
		cancel()
		if a.observe != nil {
			a.observe(method, errorCode(err))
		}
		if err == nil {
			return nil
		}
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt >= a.retries || rl.RetryAfter > maxRetryAfter {
			return fmt.Errorf("slack %s: %w", method, err)
		}
		a.log.Warn("slack rate limit; retrying", "method", method, "retry_after", rl.RetryAfter, "attempt", attempt+1)
		t := time.NewTimer(rl.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("slack %s: %w", method, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}

// post sends a message to channel and returns where it landed.
func (a *slackAPI) post(ctx context.Context, channel, text string, blocks []slack.Block) (approvals.MessageRef, error) {
	var ref approvals.MessageRef
	err := a.do(ctx, "chat.postMessage", func(ctx context.Context) error {
		ch, ts, err := a.client.PostMessageContext(ctx, channel,
			slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionDisableLinkUnfurl())
		ref = approvals.MessageRef{ChannelID: ch, TS: ts}
		return err
	})
	return ref, err
}

// reply posts a message in the thread of parent.
func (a *slackAPI) reply(ctx context.Context, parent approvals.MessageRef, text string, blocks []slack.Block) (approvals.MessageRef, error) {
	var ref approvals.MessageRef
	err := a.do(ctx, "chat.postMessage", func(ctx context.Context) error {
		ch, ts, err := a.client.PostMessageContext(ctx, parent.ChannelID, slack.MsgOptionTS(parent.TS),
			slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionDisableLinkUnfurl())
		ref = approvals.MessageRef{ChannelID: ch, TS: ts}
		return err
	})
	return ref, err
}

// update rewrites a posted message.
func (a *slackAPI) update(ctx context.Context, ref approvals.MessageRef, text string, blocks []slack.Block) error {
	return a.do(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := a.client.UpdateMessageContext(ctx, ref.ChannelID, ref.TS,
			slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
}

// dmChannel returns the DM channel with user, opening it if needed.
func (a *slackAPI) dmChannel(ctx context.Context, user string) (string, error) {
	a.mu.Lock()
	ch, ok := a.dms[user]
	a.mu.Unlock()
	if ok {
		return ch, nil
	}
	err := a.do(ctx, "conversations.open", func(ctx context.Context) error {
		c, _, _, err := a.client.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
		if err == nil {
			if c == nil || c.ID == "" {
				return errors.New("no channel in the answer")
			}
			ch = c.ID
		}
		return err
	})
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	a.dms[user] = ch
	a.mu.Unlock()
	return ch, nil
}

// dm sends a direct message to user.
func (a *slackAPI) dm(ctx context.Context, user, text string, blocks []slack.Block) (approvals.MessageRef, error) {
	ch, err := a.dmChannel(ctx, user)
	if err != nil {
		return approvals.MessageRef{}, err
	}
	return a.post(ctx, ch, text, blocks)
}

// ephemeral shows text to user only, in channel.
func (a *slackAPI) ephemeral(ctx context.Context, channel, user, text string) error {
	return a.do(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := a.client.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
		return err
	})
}

// respond posts an ephemeral message to an interaction's response_url,
// leaving the original message alone.
func (a *slackAPI) respond(ctx context.Context, responseURL, text string) error {
	return a.do(ctx, "response_url", func(ctx context.Context) error {
		_, _, err := a.client.PostMessageContext(ctx, "",
			slack.MsgOptionText(text, false), slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral))
		return err
	})
}

// HTTPClient returns the HTTP client for Slack's Web API: every call has
// a deadline, and the delivery worker's senders, one per conversation,
// keep their connections to Slack open between calls rather than dialling
// anew (Go's default keeps two idle connections per host).
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Timeout: DefaultCallTimeout, Transport: t}
}

// replaceOriginal rewrites the message an interaction came from through
// its response_url (an ephemeral reply cannot be reached otherwise).
func (a *slackAPI) replaceOriginal(ctx context.Context, responseURL, text string) error {
	return a.do(ctx, "response_url", func(ctx context.Context) error {
		_, _, err := a.client.PostMessageContext(ctx, "",
			slack.MsgOptionText(text, false), slack.MsgOptionReplaceOriginal(responseURL))
		return err
	})
}
