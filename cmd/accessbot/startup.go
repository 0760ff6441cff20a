package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startError adds to a failed start what to change: every failure of
// serve at start names the variable or the policy field to fix. Policy
// errors already carry file:line and field, and configuration errors their
// variable; file errors are matched here by the path they name.
func startError(cfg Config, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case samePath(pe.Path, cfg.PolicyFile):
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w\nset ACCESSBOT_POLICY_FILE to your policy file (examples/policy.yaml is a start; check it with accessbot policy check FILE)", err)
		}
		return fmt.Errorf("%w\nset ACCESSBOT_POLICY_FILE to a policy file this user can read", err)
	case samePath(pe.Path, cfg.DBPath) || samePath(pe.Path, filepath.Dir(cfg.DBPath)):
		dir := filepath.Dir(cfg.DBPath)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w\nthe directory %s does not exist: create it, or set ACCESSBOT_DB_PATH to a file in a directory that exists", err, dir)
		}
		return fmt.Errorf("%w\nset ACCESSBOT_DB_PATH to a file in a directory this user (uid %d) can write, such as a mounted volume", err, os.Getuid())
	}
	return err
}

// samePath reports whether a and b name the same path, however spelt.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// routeMetrics serves /metrics on the public mux, or, when
// ACCESSBOT_METRICS_ADDR is set, on a listener of its own, so that metrics
// can stay on an internal interface while LISTEN_ADDR faces Slack. /healthz
// is served on both, so that a probe can use either address.
func (m *Main) routeMetrics(public *http.ServeMux) error {
	handler := promhttp.HandlerFor(m.metrics.registry, promhttp.HandlerOpts{})
	if m.Config.MetricsAddr == "" {
		public.Handle("GET /metrics", handler)
		return nil
	}
	ln := m.MetricsListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.Config.MetricsAddr); err != nil {
			return fmt.Errorf("listen on ACCESSBOT_METRICS_ADDR=%s: %w", m.Config.MetricsAddr, err)
		}
		m.MetricsListener = ln
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", handler)
	mux.HandleFunc("GET /healthz", m.healthz)
	m.metricsServer = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	srv := m.metricsServer
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("metrics listener", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// MetricsAddr returns the address /metrics is served on when
// ACCESSBOT_METRICS_ADDR is set, or "".
func (m *Main) MetricsAddr() string {
	if m.metricsServer == nil || m.MetricsListener == nil {
		return ""
	}
	return m.MetricsListener.Addr().String()
}
