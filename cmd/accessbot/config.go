package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Config is the whole configuration, read from ACCESSBOT_* environment
// variables (README.md lists them all).
type Config struct {
	SlackBotToken      string `envconfig:"SLACK_BOT_TOKEN"`
	SlackSigningSecret string `envconfig:"SLACK_SIGNING_SECRET"`
	SlackAppToken      string `envconfig:"SLACK_APP_TOKEN"`
	SlackAPIURL        string `envconfig:"SLACK_API_URL" default:"https://slack.com/api/"`
	ListenAddr         string `envconfig:"LISTEN_ADDR" default:":8080"`
	DBPath             string `envconfig:"DB_PATH" default:"accessbot.db"`
	PolicyFile         string `envconfig:"POLICY_FILE" default:"policy.yaml"`
	AuditChannel       string `envconfig:"AUDIT_CHANNEL"`
	ExpirySchedule     string `envconfig:"EXPIRY_SCHEDULE" default:"@every 10s"`
	SummarySchedule    string `envconfig:"SUMMARY_SCHEDULE" default:"0 9 * * *"`

	GitHubToken             string `envconfig:"GITHUB_TOKEN"`
	GitHubAppID             int64  `envconfig:"GITHUB_APP_ID"`
	GitHubAppInstallationID int64  `envconfig:"GITHUB_APP_INSTALLATION_ID"`
	GitHubAppPrivateKeyFile string `envconfig:"GITHUB_APP_PRIVATE_KEY_FILE"`
	GitHubAPIURL            string `envconfig:"GITHUB_API_URL"`
	PostgresDSN             string `envconfig:"POSTGRES_DSN"`
	LogLevel                string `envconfig:"LOG_LEVEL" default:"info"`
}

// loadConfig reads the environment. It checks only what every subcommand
// needs; serve adds its own checks in validateServe.
func loadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process("ACCESSBOT", &c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if _, err := c.logLevel(); err != nil {
		return c, err
	}
	return c, nil
}

// validateServe names every missing or unusable variable serve needs.
func (c Config) validateServe() error {
	var missing []string
	if c.SlackBotToken == "" {
		missing = append(missing, "ACCESSBOT_SLACK_BOT_TOKEN is required (the bot token, xoxb-…)")
	}
	if c.SlackAppToken == "" && c.SlackSigningSecret == "" {
		// An empty secret must never verify anything: refuse to start.
		missing = append(missing, "ACCESSBOT_SLACK_SIGNING_SECRET is required in HTTP mode (Slack app → Basic Information → Signing Secret)")
	}
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-") {
		missing = append(missing, "ACCESSBOT_SLACK_APP_TOKEN must be an app-level token starting with xapp-")
	}
	if len(missing) > 0 {
		return fmt.Errorf("configuration:\n  %s", strings.Join(missing, "\n  "))
	}
	return nil
}

func (c Config) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("configuration: ACCESSBOT_LOG_LEVEL=%q: use debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}
