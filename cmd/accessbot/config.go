package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// envPrefix is the prefix of every configuration variable.
const envPrefix = "ACCESSBOT"

// Config is the whole configuration, read from ACCESSBOT_* environment
// variables. The tags are the documentation too: `accessbot serve --help`
// prints every variable from them (desc, and default or unset when there is
// no default), so the list cannot drift from what is read.
type Config struct {
	SlackBotToken      string `envconfig:"SLACK_BOT_TOKEN" desc:"bot token (xoxb-…)" unset:"required" secret:"true"`
	SlackSigningSecret string `envconfig:"SLACK_SIGNING_SECRET" desc:"signing secret (Slack app → Basic Information)" unset:"required in HTTP mode" secret:"true"`
	SlackAppToken      string `envconfig:"SLACK_APP_TOKEN" desc:"app-level token (xapp-…); when set the bot uses Socket Mode" secret:"true"`
	SlackAPIURL        string `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack Web API base URL (proxies, tests)"`
	ListenAddr         string `envconfig:"LISTEN_ADDR" default:":8080" desc:"HTTP listen address (/slack/*, /healthz, /metrics)"`
	MetricsAddr        string `envconfig:"METRICS_ADDR" desc:"serve /metrics on this address instead of LISTEN_ADDR" unset:"unset (metrics on LISTEN_ADDR)"`
	DBPath             string `envconfig:"DB_PATH" default:"accessbot.db" desc:"bbolt database file (requests, grants, audit log)"`
	Store              string `envconfig:"STORE" default:"bbolt" desc:"where requests, grants and the audit log live: bbolt (the file ACCESSBOT_DB_PATH, one replica) or postgres (ACCESSBOT_STORE_DSN, several replicas)"`
	StoreDSN           string `envconfig:"STORE_DSN" desc:"PostgreSQL connection string of the store when ACCESSBOT_STORE=postgres; its first search_path schema holds the tables" secret:"true"`
	AdminSocket        string `envconfig:"ADMIN_SOCKET" desc:"admin socket of a running serve, for the operator commands" unset:"the database path + .sock"`
	PolicyFile         string `envconfig:"POLICY_FILE" default:"policy.yaml" desc:"policy file"`
	AuditChannel       string `envconfig:"AUDIT_CHANNEL" desc:"channel ID for audit events and summaries" unset:"unset (no channel posts)"`
	ExpirySchedule     string `envconfig:"EXPIRY_SCHEDULE" default:"@every 10s" desc:"cron spec of the expiry sweep"`
	SummarySchedule    string `envconfig:"SUMMARY_SCHEDULE" default:"0 9 * * *" desc:"cron spec of the audit summary"`
	AnchorSchedule     string `envconfig:"ANCHOR_SCHEDULE" default:"@hourly" desc:"cron spec of posting the audit log's head (HASH@N) to the audit channel, when it moved"`
	AuditKeyFile       string `envconfig:"AUDIT_KEY_FILE" desc:"file of audit chain keys, one per line in base64, the first writing; the audit log is then HMAC-chained" unset:"unset (a plain SHA-256 chain)"`

	GitHubToken             string `envconfig:"GITHUB_TOKEN" desc:"GitHub token" secret:"true"`
	GitHubAppID             int64  `envconfig:"GITHUB_APP_ID" desc:"GitHub App ID (number)"`
	GitHubAppInstallationID int64  `envconfig:"GITHUB_APP_INSTALLATION_ID" desc:"GitHub App installation ID (number)"`
	GitHubAppPrivateKeyFile string `envconfig:"GITHUB_APP_PRIVATE_KEY_FILE" desc:"GitHub App private key file (PEM)"`
	GitHubAPIURL            string `envconfig:"GITHUB_API_URL" desc:"GitHub Enterprise Server or test base URL" unset:"public GitHub"`
	PostgresDSN             string `envconfig:"POSTGRES_DSN" desc:"connection string for the postgres provider" secret:"true"`
	LogLevel                string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat               string `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`
	StrictPrivileges        bool   `envconfig:"STRICT_PRIVILEGES" default:"false" desc:"refuse to start when a provider's credentials can do more than the policy needs"`

	PagerDutyToken  string `envconfig:"PAGERDUTY_TOKEN" desc:"PagerDuty REST API key (read-only is enough), for auto_approve rules" secret:"true"`
	PagerDutyAPIURL string `envconfig:"PAGERDUTY_API_URL" desc:"PagerDuty REST API base URL" unset:"https://api.pagerduty.com"`
	DuoHost         string `envconfig:"DUO_HOST" desc:"Duo Auth API hostname (api-XXXXXXXX.duosecurity.com), for step_up: duo"`
	DuoIKey         string `envconfig:"DUO_IKEY" desc:"Duo Auth API integration key"`
	DuoSKeyFile     string `envconfig:"DUO_SKEY_FILE" desc:"file holding the Duo Auth API secret key"`

	SalesforceLoginURL         string `envconfig:"SALESFORCE_LOGIN_URL" desc:"Salesforce authorization server: https://login.salesforce.com, https://test.salesforce.com or the org's My Domain URL" unset:"https://login.salesforce.com"`
	SalesforceClientID         string `envconfig:"SALESFORCE_CLIENT_ID" desc:"Salesforce connected app's consumer key"`
	SalesforceClientSecret     string `envconfig:"SALESFORCE_CLIENT_SECRET" desc:"Salesforce consumer secret (client credentials flow)"`
	SalesforceClientSecretFile string `envconfig:"SALESFORCE_CLIENT_SECRET_FILE" desc:"file holding the Salesforce consumer secret"`
	SalesforceUsername         string `envconfig:"SALESFORCE_USERNAME" desc:"Salesforce integration user (JWT bearer flow)"`
	SalesforcePrivateKeyFile   string `envconfig:"SALESFORCE_PRIVATE_KEY_FILE" desc:"Salesforce JWT bearer flow private key (PEM, RSA)"`
	SalesforceAudience         string `envconfig:"SALESFORCE_AUDIENCE" desc:"Salesforce JWT audience override"`
	SalesforceAPIVersion       string `envconfig:"SALESFORCE_API_VERSION" desc:"Salesforce REST API version" unset:"60.0"`
}

// secretFiles reads, for every secret variable X left unset, the file
// named by X_FILE (a mounted secret, say), so that secrets need not sit
// in the environment. Setting both is refused: which one wins would be a
// guess.
func (c *Config) secretFiles() error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("secret") != "true" {
			continue
		}
		name := envPrefix + "_" + f.Tag.Get("envconfig")
		file := os.Getenv(name + "_FILE")
		if file == "" {
			continue
		}
		if v.Field(i).String() != "" {
			return fmt.Errorf("configuration: set %s or %s_FILE, not both", name, name)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("configuration: %s_FILE: %w", name, err)
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return fmt.Errorf("configuration: %s_FILE: %s is empty", name, file)
		}
		v.Field(i).SetString(secret)
	}
	return nil
}

// numberHints say where to find the value of a numeric variable, for the
// message that replaces envconfig's conversion error.
var numberHints = map[string]string{
	"GITHUB_APP_ID":              "the GitHub App's settings page shows it as App ID",
	"GITHUB_APP_INSTALLATION_ID": "it is the number at the end of the installation's URL (…/settings/installations/NUMBER)",
}

// loadConfig reads the environment. It checks only what every subcommand
// needs; serve adds its own checks in validateServe.
func loadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process(envPrefix, &c); err != nil {
		return c, configError(err)
	}
	if err := c.secretFiles(); err != nil {
		return c, err
	}
	if err := c.checkStore(); err != nil {
		return c, err
	}
	if c.AdminSocket == "" {
		c.AdminSocket = c.DBPath + ".sock"
	}
	if _, err := c.logLevel(); err != nil {
		return c, err
	}
	if _, err := c.logHandler(io.Discard); err != nil {
		return c, err
	}
	return c, nil
}

// configError turns envconfig's conversion error, which names Go types and
// struct fields, into a sentence naming the variable. Only numeric
// variables can fail to convert, and none of them is a secret, so the value
// may be shown.
func configError(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("configuration: %w", err)
	}
	name := pe.KeyName // with the prefix
	msg := fmt.Sprintf("configuration: %s=%q is not valid", name, pe.Value)
	switch {
	case pe.Value == "":
		msg = fmt.Sprintf("configuration: %s is set but empty: give a value or leave the variable out", name)
	case strings.HasPrefix(pe.TypeName, "int"), strings.HasPrefix(pe.TypeName, "uint"):
		msg = fmt.Sprintf("configuration: %s=%q is not a number: give a whole number", name, pe.Value)
	case pe.TypeName == "bool":
		msg = fmt.Sprintf("configuration: %s=%q is not true or false", name, pe.Value)
	}
	if hint, ok := numberHints[strings.TrimPrefix(name, envPrefix+"_")]; ok {
		msg += " (" + hint + ")"
	}
	return errors.New(msg)
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

// logHandler returns the slog handler ACCESSBOT_LOG_FORMAT asks for,
// writing to w at ACCESSBOT_LOG_LEVEL.
func (c Config) logHandler(w io.Writer) (slog.Handler, error) {
	level, err := c.logLevel()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text", "":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("configuration: ACCESSBOT_LOG_FORMAT=%q: use text or json", c.LogFormat)
}

// envVar describes one configuration variable, read from Config's tags.
type envVar struct {
	Name, Desc string
	// Default is the default value when Literal, else what happens when
	// the variable is unset ("required", "unset", …).
	Default string
	Literal bool
}

// envVars lists every variable Config reads, in field order.
func envVars() []envVar {
	t := reflect.TypeOf(Config{})
	vars := make([]envVar, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		v := envVar{Name: envPrefix + "_" + key, Desc: f.Tag.Get("desc")}
		if f.Tag.Get("secret") == "true" {
			v.Desc += "; or " + v.Name + "_FILE, a file holding it"
		}
		def, literal := f.Tag.Lookup("default")
		switch {
		case literal:
			v.Default, v.Literal = def, true
		case f.Tag.Get("unset") != "":
			v.Default = f.Tag.Get("unset")
		default:
			v.Default = "unset"
		}
		vars = append(vars, v)
	}
	return vars
}
