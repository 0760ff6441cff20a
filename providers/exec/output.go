package exec

import (
	"bytes"
	"log/slog"
	"sync"
)

const (
	// maxLine bounds one logged line of standard error.
	maxLine = 2048
	// maxStderr bounds what is logged of one run's standard error.
	maxStderr = 64 << 10
)

// boundedBuffer keeps the first max bytes written to it and drops the rest,
// without ever failing a write (which would block or kill the program).
type boundedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - b.buf.Len()
	if len(p) > room {
		b.truncated = true
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return len(p), nil
}

// result returns a copy of what was kept and whether anything was dropped.
func (b *boundedBuffer) result() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.truncated
}

// lineLogger logs what is written to it one line at a time: lines longer
// than maxLine are cut, and after maxStderr bytes the rest is dropped with
// one note saying so.
type lineLogger struct {
	mu      sync.Mutex
	log     *slog.Logger
	line    []byte
	cut     bool // the current line was cut: skip to its end
	logged  int
	dropped bool
}

// Write always reports the whole of p written, so the program never blocks
// or fails on its standard error.
func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.cut {
			room := maxLine - len(w.line)
			if len(chunk) > room {
				w.line = append(w.line, chunk[:room]...)
				w.emit(true)
				w.cut = true
			} else {
				w.line = append(w.line, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !w.cut {
			w.emit(false)
		}
		w.cut = false
		p = p[i+1:]
	}
	return n, nil
}

// flush logs a last line that had no newline.
func (w *lineLogger) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.line) > 0 && !w.cut {
		w.emit(false)
	}
	w.line, w.cut = w.line[:0], false
}

// emit logs the current line, within the budget, and clears it.
func (w *lineLogger) emit(cut bool) {
	line := string(bytes.TrimRight(w.line, "\r"))
	w.line = w.line[:0]
	if w.dropped || line == "" {
		return
	}
	if w.logged+len(line) > maxStderr {
		w.dropped = true
		w.log.Warn("exec plugin stderr: more output dropped", "limit_bytes", maxStderr)
		return
	}
	w.logged += len(line)
	if cut {
		w.log.Info("exec plugin stderr", "line", line, "cut", true)
		return
	}
	w.log.Info("exec plugin stderr", "line", line)
}
