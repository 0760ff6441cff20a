package slackfake

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// trouble is the misbehaviour a test asks of the fake: an outage, calls
// that never answer, targets refused for good, channels rate limited.
type trouble struct {
	outageUntil  time.Time
	outageStatus int
	hang         chan struct{} // closed to release hung calls; nil when calls answer
	refused      map[string]string
	limits       map[string]*channelLimit
	noRetryAfter bool
	hanging      map[string]int // method -> calls hanging now
}

// channelLimit is a token bucket for chat.postMessage in one channel.
type channelLimit struct {
	burst  float64
	tokens float64
	every  time.Duration
	last   time.Time
}

// Outage makes every Web API call answer with HTTP status for d, from
// now, as Slack does during an incident.
func (s *Server) Outage(status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trouble.outageUntil, s.trouble.outageStatus = time.Now().Add(d), status
}

// Hang makes every Web API call accept the connection and never answer,
// until Unhang or the caller gives up.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trouble.hang == nil {
		s.trouble.hang = make(chan struct{})
	}
}

// Hanging returns how many calls of method are hanging right now.
func (s *Server) Hanging(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trouble.hanging[method]
}

// Unhang releases hung calls (they then answer normally) and makes new
// calls answer again.
func (s *Server) Unhang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trouble.hang != nil {
		close(s.trouble.hang)
		s.trouble.hang = nil
	}
}

// Refuse makes every call about target (a channel for chat.postMessage,
// a user for conversations.open) fail with the Slack error code, for good:
// "not_in_channel" for a channel the bot was not invited to,
// "user_not_found" for a user who left.
func (s *Server) Refuse(target, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trouble.refused == nil {
		s.trouble.refused = map[string]string{}
	}
	s.trouble.refused[target] = code
}

// LimitPosts rate limits chat.postMessage in channel as Slack does: a
// burst, then one post per every; a post over the limit gets 429 with
// Retry-After (in whole seconds, rounded up), or without the header when
// RetryAfterMissing was called.
func (s *Server) LimitPosts(channel string, burst int, every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trouble.limits == nil {
		s.trouble.limits = map[string]*channelLimit{}
	}
	s.trouble.limits[channel] = &channelLimit{burst: float64(burst), tokens: float64(burst), every: every, last: time.Now()}
}

// RetryAfterMissing makes rate-limited answers leave out Retry-After.
func (s *Server) RetryAfterMissing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trouble.noRetryAfter = true
}

// misbehave answers the call c as the trouble asked, and reports whether
// it did. It is called with s.mu held and may release it while a call
// hangs.
func (s *Server) misbehave(w http.ResponseWriter, r *http.Request, c *Call, method string) bool {
	for s.trouble.hang != nil {
		release := s.trouble.hang
		if s.trouble.hanging == nil {
			s.trouble.hanging = map[string]int{}
		}
		s.trouble.hanging[method]++
		s.mu.Unlock()
		unhung := func() { s.trouble.hanging[method]-- }
		select {
		case <-release:
			s.mu.Lock()
			unhung()
			if r.Context().Err() == nil {
				continue
			}
			// The caller gave up (or died) before the release: the
			// call never took effect.
			c.Error = "hung"
			s.calls = append(s.calls, *c)
			return true
		case <-r.Context().Done():
			s.mu.Lock()
			unhung()
			c.Error = "hung"
			s.calls = append(s.calls, *c)
			return true
		}
	}
	if time.Now().Before(s.trouble.outageUntil) {
		c.Error = "http_" + strconv.Itoa(s.trouble.outageStatus)
		s.calls = append(s.calls, *c)
		w.WriteHeader(s.trouble.outageStatus)
		_, _ = w.Write([]byte("<html>Slack is having trouble</html>"))
		return true
	}
	target := c.Channel
	if method == "conversations.open" {
		target = c.User
	}
	if code, ok := s.trouble.refused[target]; ok && (method == "chat.postMessage" || method == "conversations.open") {
		c.Error = code
		s.calls = append(s.calls, *c)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return true
	}
	if l, ok := s.trouble.limits[c.Channel]; ok && method == "chat.postMessage" {
		now := time.Now()
		l.tokens = math.Min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
		l.last = now
		if l.tokens < 1 {
			wait := time.Duration((1 - l.tokens) * float64(l.every))
			c.Error = "ratelimited"
			s.calls = append(s.calls, *c)
			if !s.trouble.noRetryAfter {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			}
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
			return true
		}
		l.tokens--
	}
	return false
}
