package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveEnv sets a configuration serve accepts, with a valid policy whose
// one resource uses GitHub, and returns the directory of its files.
func serveEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	policyPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(e2ePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"ACCESSBOT_SLACK_BOT_TOKEN":      "xoxb-start-test",
		"ACCESSBOT_SLACK_SIGNING_SECRET": "secret",
		"ACCESSBOT_SLACK_API_URL":        "http://127.0.0.1:1/api/",
		"ACCESSBOT_DB_PATH":              filepath.Join(dir, "accessbot.db"),
		"ACCESSBOT_POLICY_FILE":          policyPath,
		"ACCESSBOT_LISTEN_ADDR":          "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"ACCESSBOT_GITHUB_APP_ID", "ACCESSBOT_GITHUB_APP_INSTALLATION_ID", "ACCESSBOT_ADMIN_SOCKET",
		"ACCESSBOT_SLACK_APP_TOKEN", "ACCESSBOT_GITHUB_TOKEN", "ACCESSBOT_LOG_FORMAT", "ACCESSBOT_LOG_LEVEL", "ACCESSBOT_METRICS_ADDR",
		"ACCESSBOT_EXPIRY_SCHEDULE", "ACCESSBOT_SUMMARY_SCHEDULE", "ACCESSBOT_AUDIT_CHANNEL"} {
		unsetenv(t, k)
	}
	return dir
}

// unsetenv removes k from the environment for the test.
func unsetenv(t *testing.T, k string) {
	t.Setenv(k, "") // restores the value at the end of the test
	os.Unsetenv(k)
}

// serveFails runs serve, which must fail at start, and returns its error.
func serveFails(t *testing.T) string {
	t.Helper()
	var log bytes.Buffer
	err := serve(context.Background(), &log)
	if err == nil {
		t.Fatal("serve started; want a start-up failure")
	}
	return err.Error()
}

// TestServeStartFailuresNameTheVariable: each way serve can fail at start
// says which variable to change, in a sentence, not a library's raw error.
func TestServeStartFailuresNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(dir string) map[string]string
		want []string
		not  []string
	}{
		{"missing policy file", func(dir string) map[string]string {
			return map[string]string{"ACCESSBOT_POLICY_FILE": filepath.Join(dir, "nope.yaml")}
		}, []string{"ACCESSBOT_POLICY_FILE", "nope.yaml"}, nil},
		{"database directory missing", func(dir string) map[string]string {
			return map[string]string{"ACCESSBOT_DB_PATH": filepath.Join(dir, "no-such-dir", "accessbot.db"), "ACCESSBOT_GITHUB_TOKEN": "ghp-x"}
		}, []string{"ACCESSBOT_DB_PATH", "no-such-dir"}, nil},
		{"database under a file", func(dir string) map[string]string {
			file := filepath.Join(dir, "plain-file")
			os.WriteFile(file, nil, 0o600)
			return map[string]string{"ACCESSBOT_DB_PATH": filepath.Join(file, "accessbot.db"), "ACCESSBOT_GITHUB_TOKEN": "ghp-x"}
		}, []string{"ACCESSBOT_DB_PATH"}, nil},
		{"GitHub App ID not a number", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_GITHUB_APP_ID": "my-app"}
		}, []string{"ACCESSBOT_GITHUB_APP_ID", `"my-app"`, "not a number", "App ID"}, []string{"envconfig", "int64", "GitHubAppID"}},
		{"installation ID not a number", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_GITHUB_APP_INSTALLATION_ID": "12a"}
		}, []string{"ACCESSBOT_GITHUB_APP_INSTALLATION_ID", "not a number"}, []string{"envconfig"}},
		{"numeric variable set but empty", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_GITHUB_APP_ID": ""}
		}, []string{"ACCESSBOT_GITHUB_APP_ID", "empty"}, []string{"envconfig"}},
		{"unknown log format", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_LOG_FORMAT": "xml"}
		}, []string{"ACCESSBOT_LOG_FORMAT", `"xml"`, "text or json"}, nil},
		{"unknown log level", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_LOG_LEVEL": "loud"}
		}, []string{"ACCESSBOT_LOG_LEVEL"}, nil},
		{"no bot token", func(string) map[string]string {
			return map[string]string{"ACCESSBOT_SLACK_BOT_TOKEN": ""}
		}, []string{"ACCESSBOT_SLACK_BOT_TOKEN"}, nil},
		{"provider without credentials", func(string) map[string]string { return nil },
			[]string{"ACCESSBOT_GITHUB"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := serveEnv(t)
			for k, v := range tc.env(dir) {
				t.Setenv(k, v)
			}
			msg := serveFails(t)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("serve failed with\n%s\nwant it to contain %q", msg, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(msg, n) {
					t.Errorf("serve failed with\n%s\nwhich should not contain %q", msg, n)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "accessbot.db")); err == nil {
				t.Errorf("a failed start left %s behind", filepath.Join(dir, "accessbot.db"))
			}
		})
	}
}

// TestFailedStartKeepsAnExistingDatabase: the clean-up after a failed start
// removes only a file that start created, never one that was there.
func TestFailedStartKeepsAnExistingDatabase(t *testing.T) {
	dir := serveEnv(t)
	dbPath := filepath.Join(dir, "accessbot.db")
	// A start that gets past opening the store fails at the GitHub
	// provider, which has no credentials.
	serveFails(t)
	if _, err := os.Stat(dbPath); err == nil {
		t.Fatalf("a failed start left a new %s behind", dbPath)
	}
	// A real database, made by a start that worked.
	t.Setenv("ACCESSBOT_GITHUB_TOKEN", "ghp-x")
	m := &Main{Config: mustConfig(t), Logger: e2eLogger()}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatalf("Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	before := events(t, dbPath)
	if len(before) == 0 {
		t.Fatal("the start that worked recorded nothing")
	}
	t.Setenv("ACCESSBOT_GITHUB_TOKEN", "")
	serveFails(t)
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("a failed start removed the existing database: %v", err)
	}
	if after := events(t, dbPath); len(after) != len(before) {
		t.Errorf("the database had %d audit events, and %d after a failed start", len(before), len(after))
	}
}

func mustConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLogFormat: ACCESSBOT_LOG_FORMAT=json writes one JSON object a line.
func TestLogFormat(t *testing.T) {
	for _, format := range []string{"json", "text", ""} {
		cfg := Config{LogLevel: "info", LogFormat: format}
		var buf bytes.Buffer
		h, err := cfg.logHandler(&buf)
		if err != nil {
			t.Fatalf("LOG_FORMAT=%q: %v", format, err)
		}
		slog.New(h).Info("hello", "request_id", "R1")
		var obj map[string]any
		isJSON := json.Unmarshal(buf.Bytes(), &obj) == nil
		if isJSON != (format == "json") || !strings.Contains(buf.String(), "request_id") {
			t.Errorf("LOG_FORMAT=%q wrote %q", format, buf.String())
		}
	}
}

// TestAdminSocketDefault: the admin socket sits next to the database.
func TestAdminSocketDefault(t *testing.T) {
	t.Setenv("ACCESSBOT_DB_PATH", "/data/accessbot.db")
	t.Setenv("ACCESSBOT_ADMIN_SOCKET", "")
	if got := mustConfig(t).AdminSocket; got != "/data/accessbot.db.sock" {
		t.Errorf("AdminSocket = %q", got)
	}
	t.Setenv("ACCESSBOT_ADMIN_SOCKET", "/run/accessbot.sock")
	if got := mustConfig(t).AdminSocket; got != "/run/accessbot.sock" {
		t.Errorf("AdminSocket = %q", got)
	}
}

// TestServeUnwritableDatabaseDirectory: a directory serve may not write
// names ACCESSBOT_DB_PATH and the user. Root writes anywhere, so this runs
// only as another user (as in CI containers that drop root, and the image).
func TestServeUnwritableDatabaseDirectory(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root may write any directory")
	}
	dir := serveEnv(t)
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACCESSBOT_DB_PATH", filepath.Join(locked, "accessbot.db"))
	t.Setenv("ACCESSBOT_GITHUB_TOKEN", "ghp-x")
	msg := serveFails(t)
	if !strings.Contains(msg, "ACCESSBOT_DB_PATH") || !strings.Contains(msg, "can write") {
		t.Errorf("serve failed with\n%s\nwant it to name ACCESSBOT_DB_PATH", msg)
	}
}
