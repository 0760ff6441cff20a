package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck runs the real program and probes it the way a container
// runtime does, through `accessbot healthcheck`.
func TestHealthcheck(t *testing.T) {
	w := newE2EWorld(t)
	m := w.start()
	t.Setenv("ACCESSBOT_LISTEN_ADDR", m.Addr())
	code, out, errOut := runCLI(t, "healthcheck")
	if code != 0 || !strings.Contains(out, "healthy") {
		t.Errorf("healthcheck of a running serve = %d, %q, %q", code, out, errOut)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "healthcheck")
	if code != 1 || !strings.Contains(errOut, "unhealthy") || !strings.Contains(errOut, "ACCESSBOT_LISTEN_ADDR="+m.Addr()) {
		t.Errorf("healthcheck of a stopped serve = %d, %q", code, errOut)
	}
}

// TestHealthcheckWithMetricsAddr: with ACCESSBOT_METRICS_ADDR set, /metrics
// moves off the public listener, and the health check still passes.
func TestHealthcheckWithMetricsAddr(t *testing.T) {
	w := newE2EWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.config()
	cfg.MetricsAddr = "127.0.0.1:0"
	m := &Main{Config: cfg, Logger: e2eLogger(), Now: w.clock.Now, Listener: ln}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	t.Setenv("ACCESSBOT_LISTEN_ADDR", m.Addr())
	t.Setenv("ACCESSBOT_METRICS_ADDR", m.MetricsAddr())
	if code, out, errOut := runCLI(t, "healthcheck"); code != 0 {
		t.Errorf("healthcheck = %d, %q, %q", code, out, errOut)
	}
	get := func(addr, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(m.Addr(), "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404", code)
	}
	if code, body := get(m.MetricsAddr(), "/metrics"); code != http.StatusOK || !strings.Contains(body, "accessbot_expiry_sweeps_total") {
		t.Errorf("/metrics on ACCESSBOT_METRICS_ADDR = %d", code)
	}
	if code, _ := get(m.MetricsAddr(), "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on ACCESSBOT_METRICS_ADDR = %d", code)
	}
}

func TestHealthcheckUnhealthyAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			t.Errorf("probed %s", r.URL.Path)
		}
		http.Error(w, "scheduler not running", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	t.Setenv("ACCESSBOT_LISTEN_ADDR", srv.Listener.Addr().String())
	code, _, errOut := runCLI(t, "healthcheck")
	if code != 1 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "scheduler not running") {
		t.Errorf("healthcheck = %d, %q", code, errOut)
	}
}

func TestHealthzURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/healthz",
		"[::]:8080":      "http://127.0.0.1:8080/healthz",
		"127.0.0.1:8080": "http://127.0.0.1:8080/healthz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/healthz",
		"[::1]:8080":     "http://[::1]:8080/healthz",
	} {
		if got, err := healthzURL(addr); err != nil || got != want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, addr := range []string{"8080", ":0", ""} {
		if _, err := healthzURL(addr); err == nil || !strings.Contains(err.Error(), "ACCESSBOT_LISTEN_ADDR") {
			t.Errorf("healthzURL(%q) = %v, want an error naming the variable", addr, err)
		}
	}
}
