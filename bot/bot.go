package bot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// MaxBodyBytes bounds a Slack request body; Slack's own payloads are a few
// kilobytes, a modal submission some tens.
const MaxBodyBytes = 1 << 20

// viewsOpenTimeout bounds the views.open call on the acknowledgement path:
// Slack accepts a trigger_id for 3 s and waits 3 s for the answer.
const viewsOpenTimeout = 2 * time.Second

// backgroundTimeout bounds the Slack calls made after an acknowledgement.
const backgroundTimeout = time.Minute

// Config holds what a Bot is built from.
type Config struct {
	// Client talks to Slack's Web API. Required.
	Client *slack.Client
	// SigningSecret verifies that requests come from Slack. Required
	// unless SocketMode: an empty secret is refused (slack-go before
	// v0.23.1 let an empty secret verify forged requests), and with
	// SocketMode and no secret, Handler refuses every request.
	SigningSecret string
	// SocketMode says Slack's requests arrive through RunSocketMode, which
	// the app-level token authenticates, rather than through Handler.
	SocketMode bool
	// Service runs the approval flow. Required.
	Service *approvals.Service
	Logger  *slog.Logger
	// Now is the clock signatures are checked against; default time.Now.
	Now func() time.Time
}

// Bot is the Slack front end: it verifies and decodes Slack's requests,
// turns them into approvals.Service calls, and answers within Slack's
// deadline. It serves the slash command /access and the interactions of
// approval messages and of the request modal.
type Bot struct {
	api    *slackAPI
	client *slack.Client
	secret []byte
	svc    *approvals.Service
	log    *slog.Logger
	now    func() time.Time
	homes  *homes

	mu      sync.Mutex // guards closing and bg.Add
	closing bool
	bg      sync.WaitGroup
	// stopped ends background work that outlives the shutdown grace.
	stopped        context.Context
	stopBackground context.CancelFunc
}

// New returns a Bot. It refuses a missing client or service, and a missing
// signing secret unless cfg.SocketMode.
func New(cfg Config) (*Bot, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("bot: a slack client is required"))
	}
	if cfg.SigningSecret == "" && !cfg.SocketMode {
		errs = append(errs, errors.New("bot: the slack signing secret is required to verify requests from Slack"))
	}
	if cfg.Service == nil {
		errs = append(errs, errors.New("bot: an approvals service is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := &Bot{
		client: cfg.Client,
		secret: []byte(cfg.SigningSecret),
		svc:    cfg.Service,
		log:    cfg.Logger,
		now:    cfg.Now,
		homes:  newHomes(),
	}
	b.stopped, b.stopBackground = context.WithCancel(context.Background())
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.api = newSlackAPI(cfg.Client, b.log)
	return b, nil
}

// Handler returns the HTTP handler of POST /slack/commands, POST
// /slack/interactions (DESIGN.md A3) and POST /slack/events (the Events
// API, for the Home tab). Every request must carry a valid Slack
// signature no older than five minutes, or it gets 401 and changes
// nothing.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", b.serveCommand)
	mux.HandleFunc("POST /slack/interactions", b.serveInteraction)
	mux.HandleFunc("POST /slack/events", b.serveEvents)
	return mux
}

// Wait blocks until the background work started so far (ephemeral
// refusals sent after a click was answered) has finished.
func (b *Bot) Wait() { b.bg.Wait() }

// shutdownGrace is how long Shutdown lets background work finish before
// cancelling what is left: the decisions of clicks are committed in
// milliseconds; what can take longer is telling a clicker their click was
// refused, and a Slack that does not answer must not hold up a shutdown.
const shutdownGrace = 3 * time.Second

// Shutdown stops starting background work and waits for what runs, for
// at most shutdownGrace before cancelling it. Call it after the HTTP
// server has stopped accepting requests.
func (b *Bot) Shutdown() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.bg.Wait()
		b.homes.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		b.stopBackground()
		<-done
	}
}

// background runs fn after the request is answered, with the request's
// values but not its cancellation, bounded by backgroundTimeout.
func (b *Bot) background(ctx context.Context, fn func(ctx context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		b.log.Warn("shutting down; slack message dropped")
		return
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundTimeout)
		defer cancel()
		stop := context.AfterFunc(b.stopped, cancel)
		defer stop()
		fn(ctx)
	}()
}

// readVerified reads the form body, at most MaxBodyBytes, and checks its
// signature. On failure it has answered the request and returns false.
func (b *Bot) readVerified(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	body, ok := b.readSigned(w, r)
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

// readSigned reads the body, at most MaxBodyBytes, and checks its
// signature. On failure it has answered the request and returns false.
func (b *Bot) readSigned(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			b.log.Warn("slack request body too large", "path", r.URL.Path, "limit", MaxBodyBytes)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return nil, false
	}
	if err := verify(r.Header, body, b.secret, b.now()); err != nil {
		b.log.Warn("rejected slack request", "path", r.URL.Path, "reason", err.Error(), "remote_addr", r.RemoteAddr)
		http.Error(w, "invalid slack signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// serveCommand answers a slash command. The answer is the ephemeral reply.
func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request) {
	form, ok := b.readVerified(w, r)
	if !ok {
		return
	}
	if form.Get("ssl_check") == "1" {
		// Slack checking the certificate: nothing to do.
		w.WriteHeader(http.StatusOK)
		return
	}
	cmd := slashCommand(form)
	msg := b.Command(r.Context(), cmd)
	if msg == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, msg)
}

// serveInteraction answers an interaction payload.
func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request) {
	form, ok := b.readVerified(w, r)
	if !ok {
		return
	}
	var ic slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &ic); err != nil {
		b.log.Warn("undecodable interaction payload", "err", err)
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	resp := b.Interaction(r.Context(), ic)
	if resp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, resp)
}

// slashCommand decodes the form Slack posts for a slash command.
func slashCommand(form url.Values) slack.SlashCommand {
	return slack.SlashCommand{
		TeamID:      form.Get("team_id"),
		TeamDomain:  form.Get("team_domain"),
		ChannelID:   form.Get("channel_id"),
		ChannelName: form.Get("channel_name"),
		UserID:      form.Get("user_id"),
		UserName:    form.Get("user_name"),
		Command:     form.Get("command"),
		Text:        form.Get("text"),
		ResponseURL: form.Get("response_url"),
		TriggerID:   form.Get("trigger_id"),
		APIAppID:    form.Get("api_app_id"),
	}
}

// Reply is the answer to a slash command, sent as the acknowledgement's
// JSON body. It is written out rather than a slack.Msg, whose encoding
// carries null blocks and empty metadata.
type Reply struct {
	// ResponseType is "ephemeral": only the caller sees the reply.
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
	// Blocks, when set, render the reply (Text is then the fallback).
	Blocks []slack.Block `json:"blocks,omitempty"`
}

// ephemeral returns a slash command reply only the caller sees.
func ephemeral(text string) *Reply {
	return &Reply{ResponseType: slack.ResponseTypeEphemeral, Text: cut(text, maxMessageText)}
}

// maxMessageText is Slack's limit on a message's text.
const maxMessageText = 40000

// errorText is the user-facing text of err. Only internal errors are
// logged with their cause: the others are the user's to fix.
func (b *Bot) errorText(err error, what, user string) string {
	if approvals.ErrorCode(err) == approvals.EINTERNAL {
		b.log.Error(what, "user", user, "err", err)
	}
	return ":warning: " + errorMarkup(approvals.ErrorMessage(err))
}

// mentionToken matches, once escaped, the mentions approvals writes: a
// user (&lt;@U…&gt;), a user group (&lt;!subteam^S…&gt;) or a channel
// (&lt;#C…&gt;), by ID only, so no label or URL can ride along.
var mentionToken = regexp.MustCompile(`&lt;(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#[CG][A-Z0-9]+)&gt;`)

// errorMarkup makes an error message from approvals safe as mrkdwn. Such
// messages may quote what a user typed (a resource name, a reason), so
// everything is escaped; the mentions approvals writes (<@U…>,
// <!subteam^S…>, <#C…>, IDs only) are then the only markup let through. A link or a <!channel> typed by
// someone never becomes live, whoever is shown the error.
func errorMarkup(msg string) string {
	return mentionToken.ReplaceAllString(escape(msg), "<$1>")
}
