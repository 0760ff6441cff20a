package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheckTimeout bounds the whole probe: a container runtime runs it
// every few seconds, and a hung serve must read as unhealthy, not as a
// hung probe.
const healthcheckTimeout = 3 * time.Second

// healthcheckCommand is `accessbot healthcheck`: GET /healthz of the serve
// on this host. It reads only ACCESSBOT_LISTEN_ADDR, so it works in a
// container image with no shell and no curl.
func healthcheckCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError("healthcheck: unexpected argument %q", args[0])
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	url, err := healthzURL(cfg.ListenAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %v (is accessbot serve running, listening on ACCESSBOT_LISTEN_ADDR=%s?)", err, cfg.ListenAddr)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "healthy: %s answered %s\n", url, strings.TrimSpace(string(body)))
	return nil
}

// healthzURL is the /healthz URL of a serve listening on addr, as seen from
// the same host: an address that listens everywhere (":8080",
// "0.0.0.0:8080", "[::]:8080") is probed on 127.0.0.1.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", fmt.Errorf("ACCESSBOT_LISTEN_ADDR=%q: healthcheck needs a host:port with a fixed port, such as :8080", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
