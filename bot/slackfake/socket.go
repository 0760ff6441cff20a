package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socketPath is where apps.connections.open sends Socket Mode clients.
const socketPath = "/socket"

// socketState is the fake's side of a Socket Mode connection.
type socketState struct {
	mu   sync.Mutex // guards conn, acks and seq, and serializes writes
	conn *websocket.Conn
	acks map[string]chan json.RawMessage // envelope ID -> its ack's payload
	seq  int
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveSocket accepts a Socket Mode connection, says hello, and routes the
// client's acks to the senders waiting for them.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.violation("socket mode: upgrade: %v", err)
		return
	}
	hello := map[string]any{
		"type": "hello", "num_connections": 1,
		"debug_info":      map[string]any{"host": "slackfake", "approximate_connection_time": 3600},
		"connection_info": map[string]any{"app_id": AppID},
	}
	st := &s.socket
	st.mu.Lock()
	if st.conn != nil {
		st.conn.Close()
	}
	st.conn = conn
	err = conn.WriteJSON(hello)
	st.mu.Unlock()
	if err != nil {
		return
	}
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if len(msg) > 20_000 {
			// Slack drops acks over 20 KB (DESIGN.md Part C).
			s.violation("socket mode: ack of %d bytes dropped, max 20000", len(msg))
			continue
		}
		if err := json.Unmarshal(msg, &ack); err != nil || ack.EnvelopeID == "" {
			s.violation("socket mode: unreadable ack %q", msg)
			continue
		}
		st.mu.Lock()
		ch, ok := st.acks[ack.EnvelopeID]
		delete(st.acks, ack.EnvelopeID)
		st.mu.Unlock()
		if !ok {
			s.violation("socket mode: ack of unknown or already acknowledged envelope %s", ack.EnvelopeID)
			continue
		}
		ch <- ack.Payload
	}
}

func (s *Server) closeSocket() {
	st := &s.socket
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conn != nil {
		st.conn.Close()
		st.conn = nil
	}
}

// SendSocket sends an envelope of envelopeType ("slash_commands",
// "interactive") carrying payload over the Socket Mode connection, waits
// for the client to acknowledge it, and returns the ack's payload (nil for
// a bare ack). It fails the test when no client connects or no ack comes
// within timeout; Slack itself would retry after 3 s.
func (s *Server) SendSocket(t TB, envelopeType string, payload []byte, timeout time.Duration) json.RawMessage {
	t.Helper()
	st := &s.socket
	deadline := time.Now().Add(timeout)
	for {
		st.mu.Lock()
		connected := st.conn != nil
		st.mu.Unlock()
		if connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slackfake: no Socket Mode client connected within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ch := make(chan json.RawMessage, 1)
	st.mu.Lock()
	st.seq++
	id := fmt.Sprintf("envelope-%d", st.seq)
	st.acks[id] = ch
	err := st.conn.WriteJSON(map[string]any{
		"envelope_id": id, "type": envelopeType, "payload": json.RawMessage(payload),
		"accepts_response_payload": true, "retry_attempt": 0, "retry_reason": "",
	})
	st.mu.Unlock()
	if err != nil {
		t.Fatalf("slackfake: send %s envelope: %v", envelopeType, err)
	}
	select {
	case p := <-ch:
		if string(p) == "null" {
			return nil
		}
		return p
	case <-time.After(time.Until(deadline)):
		t.Fatalf("slackfake: %s envelope %s not acknowledged within %s", envelopeType, id, timeout)
		return nil
	}
}

// CommandJSON returns a slash command form as the JSON object Slack sends
// in a Socket Mode slash_commands envelope.
func CommandJSON(form url.Values) []byte {
	m := map[string]string{}
	for k, v := range form {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}
