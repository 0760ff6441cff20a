package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/store"
)

// The admin socket lets the operator commands reach a running serve, which
// holds bbolt's exclusive lock on the database. It is a Unix socket at
// ACCESSBOT_ADMIN_SOCKET, mode 0600, that only the user serve runs as and
// root may use (checked on every connection with the peer's credentials).
//
// The protocol: the client sends one JSON object (adminRequest) on one
// line; the server answers with frames, each a kind byte, a 4-byte
// big-endian length and that many bytes: 'o' standard output, 'e'
// standard error, 'd' backup data, and last 'x' with the exit status in
// decimal. The server runs the same command functions as the CLI, against
// its own open database and service, so the output is the same.

// adminRequest is what the client asks.
type adminRequest struct {
	// Args are the command line after "accessbot", for grants and audit.
	Args []string `json:"args,omitempty"`
	// Backup asks for a consistent copy of the database as 'd' frames.
	Backup bool `json:"backup,omitempty"`
}

// Frame kinds.
const (
	frameStdout = 'o'
	frameStderr = 'e'
	frameData   = 'd'
	frameExit   = 'x'
)

const (
	// maxFrame bounds one frame, so a corrupt length cannot make the
	// client allocate without limit.
	maxFrame = 1 << 20
	// maxSocketPath is the longest path a Unix socket address holds
	// (sun_path is 108 bytes with its terminating NUL on Linux).
	maxSocketPath = 107
	// adminWriteTimeout bounds each write to a client: one that stops
	// reading must not hold serve's shutdown.
	adminWriteTimeout = time.Minute
)

// adminServer serves the admin socket of a running Main.
type adminServer struct {
	m      *Main
	ln     *net.UnixListener
	ctx    context.Context
	cancel context.CancelFunc
	conns  sync.WaitGroup
	done   chan struct{}
}

// listenAdmin starts the admin socket. A socket file left by a serve that
// crashed is removed; a socket another serve answers on, or a path that is
// not a socket, is refused. An empty path (Main built by hand, as the demo
// does) means no socket.
func (m *Main) listenAdmin() error {
	path := m.Config.AdminSocket
	if path == "" {
		return nil
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("configuration: ACCESSBOT_ADMIN_SOCKET=%s is %d bytes long; a Unix socket path has at most %d: set a shorter one", path, len(path), maxSocketPath)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fmt.Errorf("configuration: ACCESSBOT_ADMIN_SOCKET=%s exists and is not a socket: set another path", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("configuration: another accessbot serve answers on ACCESSBOT_ADMIN_SOCKET=%s: stop it, or give each serve its own socket", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("configuration: ACCESSBOT_ADMIN_SOCKET=%s: %w", path, err)
		}
		// Nobody listens: a serve that crashed left it.
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("configuration: ACCESSBOT_ADMIN_SOCKET=%s: remove the stale socket: %w", path, err)
		}
		m.Logger.Info("removed a stale admin socket", "path", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on ACCESSBOT_ADMIN_SOCKET=%s: %w", path, err)
	}
	// Nothing is accepted before the mode is set, and every connection's
	// credentials are checked anyway: the mode keeps other users from
	// connecting at all.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("listen on ACCESSBOT_ADMIN_SOCKET=%s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &adminServer{m: m, ln: ln, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	m.admin = a
	go a.accept()
	return nil
}

func (a *adminServer) accept() {
	defer close(a.done)
	for {
		c, err := a.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			a.m.Logger.Error("admin socket", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		a.conns.Go(func() { a.serve(c) })
	}
}

// close stops accepting, removes the socket file and waits for the
// commands under way, cancelling them if they outlast ctx.
func (a *adminServer) close(ctx context.Context) {
	a.ln.Close() // removes the socket file
	<-a.done
	finished := make(chan struct{})
	go func() { a.conns.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		a.cancel()
		<-finished
	}
	a.cancel()
}

// serve answers one connection.
func (a *adminServer) serve(c *net.UnixConn) {
	defer c.Close()
	out := &frameWriter{conn: c}
	uid, err := peerUID(c)
	if err == nil && uid != os.Getuid() && uid != 0 {
		err = fmt.Errorf("uid %d may not use the admin socket: only the user accessbot serve runs as (uid %d) and root may", uid, os.Getuid())
	}
	if err != nil {
		a.m.Logger.Warn("admin socket: connection refused", "err", err)
		fmt.Fprintf(out.stream(frameStderr), "accessbot: admin socket: %v\n", err)
		out.exit(1)
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var req adminRequest
	line, err := bufio.NewReader(io.LimitReader(c, maxFrame)).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		a.m.Logger.Warn("admin socket: unreadable request", "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	// The client sends nothing more: its end of the connection closing
	// (Ctrl-C) cancels the command.
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, c)
		cancel()
	}()
	who := osUser(uid)
	if req.Backup {
		a.m.Logger.Info("admin socket: backup", "os_user", who)
		w := bufio.NewWriterSize(out.stream(frameData), 256<<10)
		// The admin socket is served with the bbolt store only.
		_, err := a.m.db.(*store.DB).Backup(w)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			fmt.Fprintf(out.stream(frameStderr), "accessbot: %v\n", err)
			out.exit(1)
			return
		}
		out.exit(0)
		return
	}
	a.m.Logger.Info("admin socket: command", "args", req.Args, "os_user", who)
	env := &opsEnv{served: true, cfg: a.m.Config, db: a.m.db, svc: a.m.svc, actor: approvals.OperatorAs(who)}
	code := runOperator(ctx, env, req.Args, out.stream(frameStdout), out.stream(frameStderr))
	out.exit(code)
}

// frameWriter writes frames to one client.
type frameWriter struct {
	mu   sync.Mutex
	conn net.Conn
	err  error
}

// frameStream writes everything as frames of one kind.
type frameStream struct {
	w    *frameWriter
	kind byte
}

func (w *frameWriter) stream(kind byte) io.Writer { return frameStream{w: w, kind: kind} }

func (s frameStream) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += maxFrame {
		end := min(off+maxFrame, len(p))
		if err := s.w.frame(s.kind, p[off:end]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

func (w *frameWriter) frame(kind byte, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	hdr := [5]byte{kind}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	w.conn.SetWriteDeadline(time.Now().Add(adminWriteTimeout))
	if _, err := w.conn.Write(hdr[:]); err != nil {
		w.err = err
		return err
	}
	if _, err := w.conn.Write(p); err != nil {
		w.err = err
	}
	return w.err
}

func (w *frameWriter) exit(code int) { w.frame(frameExit, []byte(strconv.Itoa(code))) }

// dialAdmin connects to the admin socket at path. It returns ok false,
// and no error, when no serve answers there, so that the command opens
// the database itself.
func dialAdmin(path string) (conn *net.UnixConn, ok bool, err error) {
	if path == "" || len(path) > maxSocketPath {
		return nil, false, nil // serve cannot listen there
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	switch {
	case err == nil:
		return c.(*net.UnixConn), true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, false, nil
	case errors.Is(err, fs.ErrPermission):
		return nil, false, fmt.Errorf("admin socket ACCESSBOT_ADMIN_SOCKET=%s: %w: run the command as the user accessbot serve runs as (or root)", path, err)
	}
	return nil, false, fmt.Errorf("admin socket ACCESSBOT_ADMIN_SOCKET=%s: %w", path, err)
}

// forward sends req over conn and copies the answer: standard output and
// error to stdout and stderr, backup data to data. It returns the exit
// status the server sent.
func forward(ctx context.Context, conn *net.UnixConn, req adminRequest, stdout, stderr, data io.Writer) (int, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	body, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	// A server that refuses the caller answers before reading the request
	// and closes: its answer is still there to read after a failed write.
	_, writeErr := conn.Write(append(body, '\n'))
	r := bufio.NewReaderSize(conn, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if writeErr != nil {
				err = writeErr
			}
			return 0, fmt.Errorf("admin socket: accessbot serve ended the connection before the command finished (%v)", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > maxFrame {
			return 0, fmt.Errorf("admin socket: frame of %d bytes, more than %d", n, maxFrame)
		}
		var dst io.Writer
		switch hdr[0] {
		case frameStdout:
			dst = stdout
		case frameStderr:
			dst = stderr
		case frameData:
			dst = data
		case frameExit:
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return 0, fmt.Errorf("admin socket: %w", err)
			}
			code, err := strconv.Atoi(string(b))
			if err != nil {
				return 0, fmt.Errorf("admin socket: exit status %q", b)
			}
			return code, nil
		default:
			return 0, fmt.Errorf("admin socket: unknown frame kind %q", hdr[0])
		}
		if dst == nil {
			return 0, fmt.Errorf("admin socket: unexpected frame kind %q", hdr[0])
		}
		if _, err := io.CopyN(dst, r, int64(n)); err != nil {
			return 0, fmt.Errorf("admin socket: %w", err)
		}
	}
}
