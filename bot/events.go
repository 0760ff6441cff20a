package bot

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/slack-go/slack/slackevents"
)

// serveEvents answers the Events API: the URL check Slack makes when the
// request URL is set (url_verification, answered with its challenge), and
// event_callback envelopes, acknowledged at once; the work they start runs
// afterwards.
func (b *Bot) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := b.readSigned(w, r)
	if !ok {
		return
	}
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	switch outer.Type {
	case slackevents.URLVerification:
		writeJSON(w, map[string]string{"challenge": outer.Challenge})
		return
	case slackevents.CallbackEvent:
		// The signature vouches for the body; the deprecated
		// verification token adds nothing.
		ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
		if err != nil {
			b.log.Warn("undecodable slack event", "err", err)
			http.Error(w, "malformed event", http.StatusBadRequest)
			return
		}
		b.Event(r.Context(), ev)
	}
	w.WriteHeader(http.StatusOK)
}

// Event handles one Events API event without waiting on Slack: an
// app_home_opened on the Home tab publishes that user's Home afterwards.
// Other events are ignored.
func (b *Bot) Event(_ context.Context, ev slackevents.EventsAPIEvent) {
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	var user, tab string
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		user, tab = e.User, e.Tab
	case slackevents.AppHomeOpenedEvent:
		user, tab = e.User, e.Tab
	default:
		return
	}
	if tab == "home" {
		b.homeOpened(user)
	}
}
