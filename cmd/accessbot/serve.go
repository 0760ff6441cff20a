package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/policy"
	"github.com/accessbot/accessbot/providers"
	"github.com/accessbot/accessbot/providers/salesforce"
	"github.com/accessbot/accessbot/store/leader"
)

// Main is the running program, built from plain values so that end-to-end
// tests run the real thing on port 0 with a hand-built Config and clock.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Now is the clock of every component; default time.Now.
	Now func() time.Time
	// Listener, when set, replaces listening on Config.ListenAddr.
	Listener net.Listener

	db        storeDB
	svc       *approvals.Service
	bot       *bot.Bot
	cron      *cron.Cron
	cronUp    atomic.Bool
	server    *http.Server
	providers *providers.Set
	metrics   *metrics
	served    chan error
	serving   *sync.WaitGroup
	// deliverer delivers the outbox to Slack until stopDelivery. With
	// the PostgreSQL store each term of leadership has its own, and
	// leadMu guards it.
	deliverer    *bot.Deliverer
	delivery     bot.DelivererConfig
	stopDelivery context.CancelFunc
	delivering   sync.WaitGroup
	// MetricsListener, when set, replaces listening on
	// Config.MetricsAddr; it is used only when MetricsAddr is set.
	MetricsListener net.Listener
	metricsServer   *http.Server
	// stopSocket ends the Socket Mode connection, when there is one.
	stopSocket context.CancelFunc
	// admin serves the operator commands on ACCESSBOT_ADMIN_SOCKET.
	admin *adminServer
	// stopTimer ends the expiry timer (approvals.Service.RunTimer).
	stopTimer context.CancelFunc
	timing    sync.WaitGroup

	// elector, with the PostgreSQL store, elects the one replica that
	// runs the timer, the sweeps, the summary, the anchor and delivery
	// (nil with bbolt: the one process always leads). stopElection ends
	// its Run, which ends the leader's work first.
	elector      *leader.Elector
	stopElection context.CancelFunc
	electing     sync.WaitGroup
	// leadMu guards what a term of leadership starts and stops: cron,
	// stopTimer, deliverer, stopDelivery, stopWork.
	leadMu sync.Mutex
	// stopWork cancels the context of the cron jobs of the term.
	stopWork context.CancelFunc

	summaryMu   sync.Mutex
	lastSummary time.Time

	// anchorMu guards lastAnchor, the audit head last posted to the audit
	// channel. It is kept in memory only: after a restart the first anchor
	// run posts the head once more, even if unchanged, which costs one
	// message and loses nothing.
	anchorMu   sync.Mutex
	lastAnchor approvals.Anchor
}

// serve is the `accessbot serve` subcommand.
func serve(ctx context.Context, stderr io.Writer) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if err := cfg.validateServe(); err != nil {
		return err
	}
	handler, err := cfg.logHandler(stderr)
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Logger: slog.New(handler)}
	// A start that fails must not leave behind a database file it created:
	// the next attempt, or an operator command, would take it for real.
	_, statErr := os.Lstat(cfg.DBPath)
	created := errors.Is(statErr, fs.ErrNotExist) && !cfg.postgres()
	if err := m.Run(ctx); err != nil {
		m.Close()
		if created {
			os.Remove(cfg.DBPath)
		}
		return startError(cfg, err)
	}
	where := cfg.DBPath
	if cfg.postgres() {
		where = "postgres" // the DSN is a secret
	}
	m.Logger.Info("accessbot serving", "addr", m.Addr(), "db", where, "policy", cfg.PolicyFile, "socket_mode", cfg.SlackAppToken != "")
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			m.Logger.Info("shutting down")
			break wait
		case err = <-m.served:
			break wait
		case <-hup:
			if err := m.ReloadPolicy(ctx); err != nil {
				m.Logger.Error("SIGHUP", "err", err)
			} else {
				m.Logger.Info("SIGHUP: policy reloaded", "policy_hash", m.svc.Policy().Hash)
			}
		}
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// loadPolicy reads and validates the policy file.
func loadPolicy(path string) (*approvals.Policy, error) {
	return policy.Load(path, providers.SettingsTypes())
}

// Run opens the store, checks the requests in force against the audit log
// (store.DB.CheckAtStart: index entries are repaired, a disagreeing
// record stops the start), loads the policy, builds providers, the
// service, the Slack front end and the scheduler, resumes interrupted
// work, runs one expiry sweep (grants that expired while the bot was
// down), and starts serving HTTP. It returns once everything is up. It
// reads no request that is neither open nor in need of resuming.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	pol, err := loadPolicy(cfg.PolicyFile)
	if err != nil {
		return err
	}
	expiry, err := cron.ParseStandard(cfg.ExpirySchedule)
	if err != nil {
		return fmt.Errorf("configuration: ACCESSBOT_EXPIRY_SCHEDULE=%q: %v", cfg.ExpirySchedule, err)
	}
	summary, err := cron.ParseStandard(cfg.SummarySchedule)
	if err != nil {
		return fmt.Errorf("configuration: ACCESSBOT_SUMMARY_SCHEDULE=%q: %v", cfg.SummarySchedule, err)
	}
	if cfg.AnchorSchedule == "" {
		cfg.AnchorSchedule = "@hourly" // envconfig's default, for a Config built by hand
	}
	anchor, err := cron.ParseStandard(cfg.AnchorSchedule)
	if err != nil {
		return fmt.Errorf("configuration: ACCESSBOT_ANCHOR_SCHEDULE=%q: %v", cfg.AnchorSchedule, err)
	}
	// Every Slack call has a deadline, whatever Slack does: a connection
	// that is accepted and never answered must not hold anything up.
	clientOpts := []slack.Option{slack.OptionAPIURL(cfg.SlackAPIURL), slack.OptionHTTPClient(bot.HTTPClient())}
	if cfg.SlackAppToken != "" {
		clientOpts = append(clientOpts, slack.OptionAppLevelToken(cfg.SlackAppToken))
	}
	client := slack.New(cfg.SlackBotToken, clientOpts...)
	if err := checkBotToken(ctx, m.Logger, client, cfg.SlackBotToken); err != nil {
		return err
	}
	if err := m.openStore(ctx); err != nil {
		return err
	}
	// Open requests and grants need the provider they were filed with,
	// even when their resource has left the policy or changed provider:
	// each is revoked with the settings it was made with. The store counts
	// open requests per provider, so this reads none of them.
	used := providers.Used(pol)
	inUse, err := m.db.ProvidersInUse(ctx)
	if err != nil {
		return err
	}
	for p, n := range inUse {
		if _, ok := used[p]; !ok {
			used[p] = append(used[p], fmt.Sprintf("%d open requests filed with provider %s", n, p))
		}
	}
	m.providers, err = providers.BuildUsed(ctx, used, m.providersConfig())
	if err != nil {
		return err
	}
	onCall, stepUp, err := m.pathClients(pol)
	if err != nil {
		return err
	}
	m.metrics = newMetrics()
	m.svc = approvals.New(approvals.Config{
		OnCall:    onCall,
		StepUp:    stepUp,
		Store:     m.db,
		Providers: m.metrics.instrument(m.providers.Providers, m.Now),
		Policy:    pol,
		Directory: bot.NewDirectory(client, bot.DefaultDirectoryMaxAge, m.Now),
		Now:       m.Now,
		Logger:    m.Logger,
	})
	m.metrics.registry.MustRegister(stateCollector{m})
	m.bot, err = bot.New(bot.Config{
		Client: client, SigningSecret: cfg.SlackSigningSecret, SocketMode: cfg.SlackAppToken != "",
		Service: m.svc, Logger: m.Logger, Now: m.Now,
	})
	if err != nil {
		return err
	}
	m.delivery = bot.DelivererConfig{
		Client: client, Outbox: m.db, AuditChannel: cfg.AuditChannel, Undeliverable: m.svc.Undeliverable,
		Logger: m.Logger, Observe: m.metrics.slackCall, OnNotice: m.metrics.notice, Policy: m.svc.Policy,
		OnDelivered: m.bot.NoticeDelivered,
		// Several replicas hand delivery over at each failover: only the
		// message in flight may be posted twice.
		RecordEach: cfg.postgres(),
	}
	// Built now, so that a configuration it refuses stops the start.
	if m.deliverer, err = bot.NewDeliverer(m.delivery); err != nil {
		return err
	}

	// A policy edited while the bot was stopped is recorded before anything
	// else is written under it.
	last, _, err := m.db.LastEvent(ctx)
	if err != nil {
		return err
	}
	if err := m.svc.RecordPolicyAtStart(ctx, last.PolicyHash); err != nil {
		return err
	}
	// The bot is the most privileged account in the picture: what its
	// credentials can do beyond the policy's needs is reported (log,
	// audit log, audit channel) at every start, and refused when asked.
	reports, err := m.svc.CheckPrivileges(ctx)
	if err != nil {
		return err
	}
	if cfg.StrictPrivileges && approvals.Beyond(reports) {
		var lines []string
		for _, r := range reports {
			for _, x := range r.Excess {
				lines = append(lines, r.Provider+": "+x)
			}
			if r.Err != nil {
				lines = append(lines, fmt.Sprintf("%s: could not check its credentials: %v", r.Provider, r.Err))
			}
		}
		return fmt.Errorf("configuration: ACCESSBOT_STRICT_PRIVILEGES=true and the providers' credentials can do more than the policy needs; remove the excess or unset the variable:\n  %s", strings.Join(lines, "\n  "))
	}
	sched := schedules{expiry: expiry, summary: summary, anchor: anchor}
	if m.Config.postgres() {
		// Every replica serves Slack; the elected one also runs the work
		// that must run once.
		m.elect(ctx, sched)
	} else {
		if err := m.lead(ctx, sched); err != nil {
			return err
		}
		// The admin socket is how the operator commands reach the file
		// serve holds; with PostgreSQL they open the database themselves.
		if err := m.listenAdmin(); err != nil {
			return err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/slack/", m.bot.Handler())
	mux.HandleFunc("GET /healthz", m.healthz)
	if err := m.routeMetrics(mux); err != nil {
		return err
	}
	ln := m.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return fmt.Errorf("listen on ACCESSBOT_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
		}
		m.Listener = ln
	}
	// Slack's requests are small and answered in milliseconds; slow or idle
	// clients must not hold connections.
	m.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	m.served = make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.served <- err
		}
	})
	if cfg.SlackAppToken != "" {
		// Socket Mode: Slack's requests arrive over the app-level token's
		// websocket; HTTP still serves /healthz and /metrics.
		smCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		m.stopSocket = cancel
		wg.Go(func() {
			if err := m.bot.RunSocketMode(smCtx); err != nil {
				m.served <- err
			}
		})
	}
	m.serving = &wg
	return nil
}

func (m *Main) providersConfig() providers.Config {
	cfg := m.Config
	return providers.Config{
		GitHubToken:             cfg.GitHubToken,
		GitHubAppID:             cfg.GitHubAppID,
		GitHubAppInstallationID: cfg.GitHubAppInstallationID,
		GitHubAppPrivateKeyFile: cfg.GitHubAppPrivateKeyFile,
		GitHubAPIURL:            cfg.GitHubAPIURL,
		PostgresDSN:             cfg.PostgresDSN,
		Salesforce: salesforce.Config{
			LoginURL: cfg.SalesforceLoginURL, ClientID: cfg.SalesforceClientID,
			ClientSecret: cfg.SalesforceClientSecret, ClientSecretFile: cfg.SalesforceClientSecretFile,
			Username: cfg.SalesforceUsername, PrivateKeyFile: cfg.SalesforcePrivateKeyFile,
			Audience: cfg.SalesforceAudience, APIVersion: cfg.SalesforceAPIVersion,
		},
		Logger: m.Logger,
	}
}

// PostSummary summarises the audit log since the previous summary (or since
// start), runs drift detection, and posts the result with the chain anchor
// to the audit channel.
func (m *Main) PostSummary(ctx context.Context) error {
	m.summaryMu.Lock()
	defer m.summaryMu.Unlock()
	now := m.Now()
	period := now.Sub(m.lastSummary)
	if period <= 0 {
		period = time.Nanosecond
	}
	sum, err := m.svc.Summarize(ctx, m.db, period)
	if err != nil {
		return err
	}
	m.lastSummary = now
	m.Logger.Info("audit summary", "requested", sum.Requested, "active", len(sum.Active), "drift", len(sum.Drift), "anchor", sum.Anchor.String())
	if m.Config.AuditChannel == "" {
		return nil
	}
	sum.Trim(approvals.SummaryListMax)
	return m.db.Enqueue(ctx, approvals.Notice{At: now, Summary: sum})
}

// PostAnchor posts the audit log's head (HASH@N) to the audit channel, so
// that a copy of it lives outside the database file: `accessbot audit
// verify --expect-head HASH@N` then catches a log cut back below it and
// rewritten. It posts only when the head moved since the last anchor
// posted, and nothing when there is no audit channel.
func (m *Main) PostAnchor(ctx context.Context) error {
	if m.Config.AuditChannel == "" {
		return nil
	}
	m.anchorMu.Lock()
	defer m.anchorMu.Unlock()
	head, err := m.db.AuditHead(ctx)
	if err != nil {
		return err
	}
	if head.Count == 0 || head == m.lastAnchor {
		return nil
	}
	if err := m.db.Enqueue(ctx, approvals.Notice{At: m.Now(), Anchor: &head}); err != nil {
		return err
	}
	m.lastAnchor = head
	m.Logger.Info("audit anchor queued", "anchor", head.String())
	return nil
}

// ReloadPolicy reads the policy file again and puts it in force (SIGHUP).
// An invalid policy, or one that needs a provider the server did not start
// with, is refused and the policy in force stays.
func (m *Main) ReloadPolicy(ctx context.Context) error {
	pol, err := loadPolicy(m.Config.PolicyFile)
	if err != nil {
		return fmt.Errorf("policy not reloaded, the previous one stays in force: %w", err)
	}
	if err := m.checkPaths(pol); err != nil {
		return fmt.Errorf("policy not reloaded: %w", err)
	}
	for name, resources := range providers.Used(pol) {
		if _, ok := m.providers.Providers[name]; !ok {
			return fmt.Errorf("policy not reloaded: provider %s (used by %v) was not configured at start; restart accessbot to add it", name, resources)
		}
	}
	if err := m.svc.SetPolicy(ctx, pol); err != nil {
		return err
	}
	// The providers' reach is checked against the new policy, which also
	// narrows the GitHub App's tokens to the repositories it now names.
	if _, err := m.svc.CheckPrivileges(ctx); err != nil {
		m.Logger.Error("check provider privileges after the reload", "err", err)
	}
	return nil
}

// sweep runs one expiry sweep.
func (m *Main) sweep(ctx context.Context) {
	start := time.Now()
	err := m.svc.ExpireDue(ctx)
	m.metrics.sweep(time.Since(start), err)
	// With several replicas, one may have died half-way through a grant
	// that only a start would otherwise take up again.
	if err := m.svc.ResumeStalled(ctx); err != nil {
		m.Logger.Error("resume stalled requests", "err", err)
	}
	if err := m.svc.Nudge(ctx); err != nil {
		m.Logger.Error("nudge", "err", err)
	}
	if err != nil {
		m.Logger.Error("expiry sweep", "err", err)
	}
}

// Addr returns the address the HTTP server listens on.
func (m *Main) Addr() string {
	if m.Listener == nil {
		return ""
	}
	return m.Listener.Addr().String()
}

// Settle waits until background work is done and what it committed is
// delivered to Slack, for at most 30 seconds (for tests and the demo).
func (m *Main) Settle() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		m.svc.Wait()
		m.leadMu.Lock()
		d := m.deliverer
		if m.stopDelivery == nil {
			d = nil // not leading: another replica delivers
		}
		m.leadMu.Unlock()
		if d == nil {
			time.Sleep(20 * time.Millisecond)
		} else if err := d.Idle(ctx); err != nil {
			m.Logger.Warn("outbox not delivered", "err", err)
			return
		}
		// Delivery may have queued more (an unreachable approver is told
		// to the requester): wait until nothing moves.
		if n, _, _ := m.db.OutboxState(ctx); n == 0 {
			return
		}
	}
}

// Service returns the approval service (for tests and the demo).
func (m *Main) Service() *approvals.Service { return m.svc }

func (m *Main) healthz(w http.ResponseWriter, r *http.Request) {
	if err := m.db.Ping(r.Context()); err != nil {
		// The cause names files and paths: it goes to the log, not to
		// whoever probes the endpoint.
		m.Logger.Error("healthz: store", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	if m.elector != nil {
		// Either role is healthy: a follower serves Slack and takes
		// over when the leader goes.
		if m.elector.Leading() {
			fmt.Fprintln(w, "ok leader")
		} else {
			fmt.Fprintln(w, "ok follower")
		}
		return
	}
	if !m.cronUp.Load() {
		http.Error(w, "scheduler not running", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Close shuts down gracefully: finish operator commands under way on the
// admin socket and remove it, stop accepting HTTP, stop the scheduler and
// wait for a running sweep, finish background grants and revokes, stop
// delivering to Slack (the outbox keeps the rest), then close providers
// and, last, the store.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	// Operator commands under way finish first: a revoke through the
	// socket needs the service and the store.
	if m.admin != nil {
		m.admin.close(ctx)
	}
	if m.server != nil {
		errs = append(errs, m.server.Shutdown(ctx))
	}
	if m.metricsServer != nil {
		errs = append(errs, m.metricsServer.Shutdown(ctx))
	}
	if m.stopSocket != nil {
		m.stopSocket()
	}
	if m.serving != nil {
		m.serving.Wait()
	}
	if m.stopElection != nil {
		// The leader's work stops before the advisory lock is released,
		// so that the next leader does not start while it runs.
		m.stopElection()
		m.electing.Wait()
	}
	if m.cron != nil {
		m.cronUp.Store(false)
		<-m.cron.Stop().Done()
	}
	if m.stopTimer != nil {
		m.stopTimer()
		m.timing.Wait()
	}
	if m.stopWork != nil {
		m.stopWork()
	}
	if m.bot != nil {
		m.bot.Shutdown()
	}
	if m.svc != nil {
		m.svc.Shutdown()
	}
	// Slack calls under way are abandoned: what they carried stays in the
	// outbox and is delivered after the next start.
	if m.stopDelivery != nil {
		m.stopDelivery()
		m.delivering.Wait()
	}
	if m.providers != nil {
		m.providers.Close()
	}
	if m.db != nil {
		errs = append(errs, m.db.Close())
	}
	return errors.Join(errs...)
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// checkBotToken refuses a token that is not a bot token, or that Slack
// refuses: a bot that starts with one would look healthy and post nothing.
// Slack being unreachable is not a reason to stay down: what the bot has
// to say waits in the outbox.
func checkBotToken(ctx context.Context, log *slog.Logger, client *slack.Client, token string) error {
	if !strings.HasPrefix(token, "xoxb-") {
		return errors.New("configuration: ACCESSBOT_SLACK_BOT_TOKEN is not a bot token: it must start with xoxb- (the Bot User OAuth Token, under OAuth & Permissions in the app's settings)")
	}
	ctx, cancel := context.WithTimeout(ctx, bot.DefaultCallTimeout)
	defer cancel()
	resp, err := client.AuthTestContext(ctx)
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("configuration: ACCESSBOT_SLACK_BOT_TOKEN was refused by Slack (auth.test: %s); copy the Bot User OAuth Token again from the app's OAuth & Permissions page", se.Err)
	case err != nil:
		log.Warn("could not reach Slack to check the bot token; starting anyway, messages wait in the outbox", "err", err)
		return nil
	case resp.BotID == "":
		return errors.New("configuration: ACCESSBOT_SLACK_BOT_TOKEN is not a bot token (auth.test reports no bot); use the Bot User OAuth Token")
	}
	return nil
}
