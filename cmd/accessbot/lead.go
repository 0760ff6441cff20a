package main

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/store"
	"github.com/accessbot/accessbot/store/leader"
	"github.com/accessbot/accessbot/store/pgstore"
)

// schedules are the parsed cron specs of the leader's jobs.
type schedules struct {
	expiry, summary, anchor cron.Schedule
}

// openStore opens the store ACCESSBOT_STORE names. The bbolt file's
// requests in force must agree with the audit log before anything acts on
// them: index entries are rewritten from the requests, and a request that
// disagrees with the log stops the start. PostgreSQL keeps its indexes in
// the transaction that writes the record, and `accessbot audit verify`
// checks them against the log.
func (m *Main) openStore(ctx context.Context) error {
	cfg := m.Config
	if cfg.postgres() {
		db, err := openPostgres(ctx, cfg)
		if err != nil {
			return err
		}
		m.db = db
		return nil
	}
	opts, err := cfg.storeOptions(false)
	if err != nil {
		return err
	}
	db, err := store.OpenWith(cfg.DBPath, opts)
	if err != nil {
		return err
	}
	m.db = db
	repaired, err := db.CheckAtStart(ctx, m.Now())
	if err != nil {
		return err
	}
	for _, d := range repaired {
		m.Logger.Warn("index repaired from the record", "request_id", d.RequestID, "index", d.Index, "what", d.Text)
	}
	// The check's working memory (a hash and a key for every open
	// request) is garbage now: it goes back to the system at once rather
	// than staying in the heap until it grows enough to be collected.
	debug.FreeOSMemory()
	return nil
}

// lead starts the work only one replica may do: it resumes interrupted
// grants and revokes, starts delivering the outbox (what a previous run
// committed and did not deliver goes out first), runs one expiry sweep,
// and starts the cron jobs (sweep, summary with drift detection, anchor)
// and the expiry timer. With bbolt it runs once, in Run, and Close stops
// it; with PostgreSQL once per term of leadership, and stopLeading stops
// it when the term ends.
func (m *Main) lead(ctx context.Context, sched schedules) error {
	if err := m.svc.Resume(ctx); err != nil {
		return err
	}
	m.leadMu.Lock()
	defer m.leadMu.Unlock()
	deliveryCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	m.stopDelivery = stopDelivery
	if m.elector != nil {
		// A term starts from what the store holds: the deliverer of an
		// earlier term may have read past notices it never delivered.
		//
		// Another replica's commit of notices (a grant, an extension made
		// through it) may also have moved the earliest revoke due, which
		// only this replica's timer watches: the store's signal wakes
		// both the deliverer and the timer.
		cfg := m.delivery
		sig := make(chan struct{}, 1)
		cfg.Outbox = signalledOutbox{Outbox: m.db, signal: sig}
		d, err := bot.NewDeliverer(cfg)
		if err != nil {
			stopDelivery()
			return err
		}
		m.deliverer = d
		m.delivering.Go(func() {
			for {
				select {
				case <-deliveryCtx.Done():
					return
				case <-m.db.OutboxSignal():
				}
				m.svc.DueChanged()
				select {
				case sig <- struct{}{}:
				default:
				}
			}
		})
	}
	deliverer := m.deliverer
	m.delivering.Go(func() { deliverer.Run(deliveryCtx) })
	m.sweep(ctx)
	// The first summary after a start covers one whole period of its
	// schedule, not just the time since the start: a restart shortly
	// before the summary must not hide the day before it.
	m.summaryMu.Lock()
	next := sched.summary.Next(m.Now())
	m.lastSummary = m.Now().Add(-sched.summary.Next(next).Sub(next))
	m.summaryMu.Unlock()
	// The jobs' context ends with the term (PostgreSQL) or after Close
	// has waited for them (bbolt).
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	m.stopWork = stopWork
	c := cron.New(cron.WithChain(cron.Recover(cronLogger{m.Logger}), cron.SkipIfStillRunning(cronLogger{m.Logger})))
	c.Schedule(sched.expiry, cron.FuncJob(func() { m.sweep(work) }))
	c.Schedule(sched.summary, cron.FuncJob(func() {
		if err := m.PostSummary(work); err != nil {
			m.Logger.Error("audit summary", "err", err)
		}
	}))
	c.Schedule(sched.anchor, cron.FuncJob(func() {
		if err := m.PostAnchor(work); err != nil {
			m.Logger.Error("audit anchor", "err", err)
		}
	}))
	c.Start()
	m.cron = c
	m.cronUp.Store(true)
	// The timer revokes each grant at its expiry; the cron sweep above is
	// the safety net.
	timerCtx, stopTimer := context.WithCancel(context.WithoutCancel(ctx))
	m.stopTimer = stopTimer
	m.timing.Go(func() { m.svc.RunTimer(timerCtx) })
	return nil
}

// stopLeading ends a term of leadership at once: the jobs', the timer's
// and the deliverer's contexts are cancelled together, then it waits for
// them. Revokes under way are finished, not cut (approvals.Service runs
// them past their caller's context); Slack calls under way are abandoned
// and the next leader delivers what they carried.
func (m *Main) stopLeading() {
	m.leadMu.Lock()
	defer m.leadMu.Unlock()
	m.cronUp.Store(false)
	for _, stop := range []context.CancelFunc{m.stopWork, m.stopTimer, m.stopDelivery} {
		if stop != nil {
			stop()
		}
	}
	if m.cron != nil {
		<-m.cron.Stop().Done()
	}
	m.timing.Wait()
	m.delivering.Wait()
	m.cron, m.stopWork, m.stopTimer, m.stopDelivery = nil, nil, nil, nil
}

// electionCheck is how often a replica tries to lead and the leader
// checks its database session; a leader whose session is gone stops its
// work within about this much, and a follower takes over within about
// twice this much.
var electionCheck = time.Second

// elect takes part in the leader election until Close: each term runs
// lead until the leadership is lost.
func (m *Main) elect(ctx context.Context, sched schedules) {
	schema := ""
	if db, ok := m.db.(*pgstore.DB); ok {
		schema = db.Schema()
	}
	m.elector = leader.New(leader.Config{DSN: m.Config.StoreDSN, Key: leaderKey(schema), Check: electionCheck, Logger: m.Logger})
	ectx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopElection = stop
	m.electing.Go(func() {
		m.elector.Run(ectx, func(ctx context.Context) {
			if err := m.lead(ctx, sched); err != nil {
				m.Logger.Error("leader: could not start the leader's work; leaving the leadership to try again", "err", err)
				m.stopLeading()
				return
			}
			<-ctx.Done()
			m.stopLeading()
		})
	})
}

// signalledOutbox is the store with its outbox signal relayed through
// signal.
type signalledOutbox struct {
	bot.Outbox
	signal chan struct{}
}

func (o signalledOutbox) OutboxSignal() <-chan struct{} { return o.signal }
