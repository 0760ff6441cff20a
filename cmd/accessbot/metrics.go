package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessbot/accessbot/approvals"
)

// metrics holds the Prometheus collectors served on /metrics. README.md
// lists every family, with its type, labels and meaning.
type metrics struct {
	registry   *prometheus.Registry
	events     *prometheus.CounterVec
	requests   *prometheus.CounterVec
	slackCalls *prometheus.CounterVec
	sweeps     *prometheus.CounterVec
	sweepDur   prometheus.Histogram
	// providerCalls and providerDur count and time every provider call;
	// revokeLateness is how long after its expiry a grant was revoked.
	providerCalls  *prometheus.CounterVec
	providerDur    *prometheus.HistogramVec
	revokeLateness *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_events_total", Help: "Request lifecycle events, by action.",
		}, []string{"action"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_requests_total", Help: "Requests that reached an outcome: granted, denied, cancelled, already_held or failed.",
		}, []string{"outcome"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_expiry_sweeps_total", Help: "Expiry sweeps, by result.",
		}, []string{"result"}),
		sweepDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "accessbot_expiry_sweep_seconds", Help: "Duration of expiry sweeps.",
		}),
		slackCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_slack_calls_total", Help: "Slack Web API calls made by the delivery worker, by method and error code (\"\" for success).",
		}, []string{"method", "error"}),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "accessbot_provider_calls_total", Help: "Provider calls, by provider, operation (grant, revoke, holds, holders) and outcome (ok, transient, permanent).",
		}, []string{"provider", "operation", "outcome"}),
		providerDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "accessbot_provider_call_seconds", Help: "Duration of provider calls, by provider and operation.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"provider", "operation"}),
		revokeLateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "accessbot_revoke_lateness_seconds", Help: "For each successful revoke of an expired grant, the time from its expiry to the start of the revoke call, by provider.",
			Buckets: []float64{.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 900, 3600, 14400},
		}, []string{"provider"}),
	}
	m.registry.MustRegister(m.events, m.requests, m.sweeps, m.sweepDur, m.slackCalls,
		m.providerCalls, m.providerDur, m.revokeLateness,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) sweep(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.sweeps.WithLabelValues(result).Inc()
	m.sweepDur.Observe(d.Seconds())
}

// requestOutcomes maps the audit actions that close a request's decision
// to the outcome label of accessbot_requests_total.
var requestOutcomes = map[string]string{
	approvals.ActionGranted:     "granted",
	approvals.ActionDenied:      "denied",
	approvals.ActionCancelled:   "cancelled",
	approvals.ActionTimedOut:    "timed_out",
	approvals.ActionAlreadyHeld: "already_held",
	approvals.ActionGrantFailed: "failed",
}

// notice counts the event a notice announces, once, when it is first
// taken from the outbox. Every audited change of a request queues a
// notice with its event, so this sees each of them once, a restart
// included.
func (m *metrics) notice(n approvals.Notice) {
	if n.Event == nil {
		return
	}
	m.events.WithLabelValues(n.Event.Action).Inc()
	if outcome, ok := requestOutcomes[n.Event.Action]; ok {
		m.requests.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) slackCall(method, code string) {
	m.slackCalls.WithLabelValues(method, code).Inc()
}

// instrument wraps every provider so that its calls are counted and
// timed. now is the service's clock, against which revoke lateness is
// measured.
func (m *metrics) instrument(ps map[string]approvals.Provider, now func() time.Time) map[string]approvals.Provider {
	out := make(map[string]approvals.Provider, len(ps))
	for name, p := range ps {
		ip := &instrumentedProvider{name: name, p: p, m: m, now: now}
		if l, ok := p.(approvals.HolderLister); ok {
			// Drift detection finds listers by type assertion: keep it.
			out[name] = &instrumentedLister{instrumentedProvider: ip, l: l}
			continue
		}
		out[name] = ip
	}
	return out
}

// instrumentedProvider is a Provider that reports its calls to metrics.
type instrumentedProvider struct {
	name string
	p    approvals.Provider
	m    *metrics
	now  func() time.Time
}

var _ approvals.Provider = (*instrumentedProvider)(nil)

// Unwrap returns the provider inside, whose optional interfaces
// (approvals.PrivilegeChecker) the service looks for through it.
func (ip *instrumentedProvider) Unwrap() approvals.Provider { return ip.p }

// observe records one call of operation that started at start.
func (ip *instrumentedProvider) observe(operation string, start time.Time, err error) {
	outcome := "ok"
	switch {
	case err != nil && approvals.Retryable(err):
		outcome = "transient"
	case err != nil:
		outcome = "permanent"
	}
	ip.m.providerCalls.WithLabelValues(ip.name, operation, outcome).Inc()
	ip.m.providerDur.WithLabelValues(ip.name, operation).Observe(time.Since(start).Seconds())
}

func (ip *instrumentedProvider) Grant(ctx context.Context, req approvals.GrantRequest) (approvals.GrantResult, error) {
	start := time.Now()
	res, err := ip.p.Grant(ctx, req)
	ip.observe("grant", start, err)
	return res, err
}

func (ip *instrumentedProvider) Revoke(ctx context.Context, req approvals.RevokeRequest) error {
	start, now := time.Now(), ip.now()
	err := ip.p.Revoke(ctx, req)
	ip.observe("revoke", start, err)
	// An early revoke (expiry still ahead) or one of standing access (no
	// expiry) is not late.
	if err == nil && !req.ExpiresAt.IsZero() && now.After(req.ExpiresAt) {
		ip.m.revokeLateness.WithLabelValues(ip.name).Observe(now.Sub(req.ExpiresAt).Seconds())
	}
	return err
}

func (ip *instrumentedProvider) Holds(ctx context.Context, req approvals.HoldsRequest) (bool, error) {
	start := time.Now()
	held, err := ip.p.Holds(ctx, req)
	ip.observe("holds", start, err)
	return held, err
}

// instrumentedLister is an instrumentedProvider whose provider also lists
// holders.
type instrumentedLister struct {
	*instrumentedProvider
	l approvals.HolderLister
}

var _ approvals.HolderLister = (*instrumentedLister)(nil)

func (il *instrumentedLister) Holders(ctx context.Context, req approvals.HoldersRequest) ([]string, error) {
	start := time.Now()
	hs, err := il.l.Holders(ctx, req)
	il.observe("holders", start, err)
	return hs, err
}

// stateCollector reads, at each scrape, what the store and the service
// hold now: open requests, active grants, the outbox, the audit head and
// the policy in force. Each is a count of index keys or one record, so a
// scrape costs the same with a hundred grants or a hundred thousand.
type stateCollector struct{ m *Main }

var (
	descPending = prometheus.NewDesc("accessbot_pending_requests",
		"Open requests not granted yet: pending approval, approved or being granted.", nil, nil)
	descActive = prometheus.NewDesc("accessbot_active_grants",
		"Grants in force (revoke not yet done), early revokes and failing revokes included.", nil, nil)
	descOutboxDepth = prometheus.NewDesc("accessbot_outbox_depth",
		"Chat notices committed and not yet delivered to Slack.", nil, nil)
	descOutboxAge = prometheus.NewDesc("accessbot_outbox_oldest_age_seconds",
		"Age of the oldest undelivered chat notice; 0 when the outbox is empty.", nil, nil)
	descAuditHead = prometheus.NewDesc("accessbot_audit_head_sequence",
		"Sequence number of the last audit record (the number of records).", nil, nil)
	descPolicy = prometheus.NewDesc("accessbot_policy_info",
		"The policy in force: 1, with its SHA-256 as the hash label.", []string{"hash"}, nil)
	descLeader = prometheus.NewDesc("accessbot_leader",
		"1 when this replica runs the expiry timer, the sweeps, the summary and delivery (always with bbolt), else 0.", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descActive, descOutboxDepth, descOutboxAge, descAuditHead, descPolicy, descLeader} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := c.m
	if counts, err := m.db.Counts(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descPending, err)
		ch <- prometheus.NewInvalidMetric(descActive, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(counts.Open-counts.Active))
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(counts.Active))
	}
	if depth, oldest, err := m.db.OutboxState(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descOutboxDepth, err)
		ch <- prometheus.NewInvalidMetric(descOutboxAge, err)
	} else {
		age := 0.0
		if depth > 0 && !oldest.IsZero() {
			age = max(m.Now().Sub(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(descOutboxDepth, prometheus.GaugeValue, float64(depth))
		ch <- prometheus.MustNewConstMetric(descOutboxAge, prometheus.GaugeValue, age)
	}
	if head, err := m.db.AuditHead(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(descAuditHead, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descAuditHead, prometheus.GaugeValue, float64(head.Count))
	}
	ch <- prometheus.MustNewConstMetric(descPolicy, prometheus.GaugeValue, 1, m.svc.Policy().Hash)
	leading := 1.0
	if m.elector != nil && !m.elector.Leading() {
		leading = 0
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leading)
}
