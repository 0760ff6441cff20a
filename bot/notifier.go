package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// NotifierConfig holds what a Notifier is built from.
type NotifierConfig struct {
	// Client talks to Slack's Web API (built with slack.OptionAPIURL in
	// tests and behind proxies). Required.
	Client *slack.Client
	// AuditChannel is the channel ID that gets every audit event; empty
	// means no audit channel posts.
	AuditChannel string
	Logger       *slog.Logger
}

// Notifier is the Slack side of the approval flow: it implements
// approvals.Notifier by posting approval messages, rewriting them as the
// request moves on, DMing the requester and posting to the audit channel.
//
// It is built before the approvals.Service (which needs it) and before the
// Bot (which needs the Service); it holds no reference to either.
type Notifier struct {
	api   *slackAPI
	audit string
	log   *slog.Logger

	mu      sync.Mutex
	shown   map[string]*shownState  // request ID -> what its approval messages show
	threads map[string]*auditThread // request ID -> its audit thread
}

var _ approvals.Notifier = (*Notifier)(nil)

// shownState orders the rewrites of one request's approval messages.
// Service announces from concurrent goroutines, each with the snapshot it
// committed, so a partial approval's rewrite can arrive after the deciding
// one; the rank keeps a stale snapshot from putting the buttons back.
type shownState struct {
	mu      sync.Mutex // held while this request's messages are rewritten
	rank    int
	finalAt time.Time
}

// NewNotifier returns a Notifier posting through cfg.Client.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	if cfg.Client == nil {
		return nil, errors.New("bot: notifier needs a slack client")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Notifier{
		api:     newSlackAPI(cfg.Client, log),
		audit:   cfg.AuditChannel,
		log:     log,
		shown:   map[string]*shownState{},
		threads: map[string]*auditThread{},
	}, nil
}

// PostApprovalRequest posts the approval message of r, with its Approve
// and Deny buttons, to the resource's approval channel or else to each
// approver by DM. The requester is not sent a DM they could not act on
// unless the resource allows self-approval. It returns every message
// posted, also when some posts failed.
func (n *Notifier) PostApprovalRequest(ctx context.Context, r *approvals.Request, res approvals.Resource) ([]approvals.MessageRef, error) {
	text, blocks := approvalMessage(r)
	if res.ApprovalChannel != "" {
		ref, err := n.api.post(ctx, res.ApprovalChannel, text, blocks)
		if err != nil {
			return nil, fmt.Errorf("post approval request %s to %s: %w", r.ID, res.ApprovalChannel, err)
		}
		return []approvals.MessageRef{ref}, nil
	}
	var refs []approvals.MessageRef
	var errs []error
	for _, approver := range res.Approvers {
		if approver == r.Requester && !res.AllowSelfApproval {
			continue
		}
		ref, err := n.api.dm(ctx, approver, text, blocks)
		if err != nil {
			errs = append(errs, fmt.Errorf("dm approval request %s to %s: %w", r.ID, approver, err))
			continue
		}
		refs = append(refs, ref)
	}
	if len(refs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("request %s: resource %s has no approver other than the requester and no approval channel", r.ID, res.Name))
	}
	return refs, errors.Join(errs...)
}

// UpdateApprovalMessages rewrites every approval message of r to show
// where it stands, and those of its latest extension round; once r (or
// the extension) is decided the buttons are gone. A snapshot
// older than what the messages already show is skipped.
func (n *Notifier) UpdateApprovalMessages(ctx context.Context, r *approvals.Request) error {
	extErr := n.updateExtensionMessages(ctx, r)
	if len(r.Messages) == 0 {
		return extErr
	}
	st := n.state(r.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	rank := progress(r)
	if rank < st.rank {
		n.log.Debug("skipping stale approval message update", "request_id", r.ID, "status", r.Status)
		return extErr
	}
	st.rank = rank
	if r.Status.Final() {
		st.finalAt = time.Now()
	}
	text, blocks := approvalText(r), approvalBlocks(r)
	var errs []error
	for _, ref := range r.Messages {
		if err := n.api.update(ctx, ref, text, blocks); err != nil {
			errs = append(errs, fmt.Errorf("update approval message %s/%s of %s: %w", ref.ChannelID, ref.TS, r.ID, err))
		}
	}
	return errors.Join(append(errs, extErr)...)
}

// state returns the rewrite state of a request's messages. Entries of
// requests that reached a final state an hour ago are dropped when the map
// grows, so it stays small however long the bot runs.
func (n *Notifier) state(id string) *shownState {
	n.mu.Lock()
	defer n.mu.Unlock()
	if st, ok := n.shown[id]; ok {
		return st
	}
	if len(n.shown) >= 1024 {
		for k, st := range n.shown {
			if st.mu.TryLock() {
				if !st.finalAt.IsZero() && time.Since(st.finalAt) > time.Hour {
					delete(n.shown, k)
				}
				st.mu.Unlock()
			}
		}
	}
	st := &shownState{}
	n.shown[id] = st
	return st
}

// progress ranks how far r has come; stored states only move forward, and
// so do the approvals of a pending request and the extensions and the
// revoke of an active one.
func progress(r *approvals.Request) int {
	switch r.Status {
	case approvals.StatusPending:
		return len(r.Approvals)
	case approvals.StatusApproved:
		return 1000
	case approvals.StatusGranting:
		return 2000
	case approvals.StatusActive:
		return 3000 + activeProgress(r)
	}
	return 4000
}

// NotifyRequester tells the requester by DM what ev means for them.
func (n *Notifier) NotifyRequester(ctx context.Context, r *approvals.Request, ev approvals.Event) error {
	text := cut(requesterText(r, ev), maxSectionText)
	if _, err := n.api.dm(ctx, r.Requester, text, []slack.Block{section("message", text)}); err != nil {
		return fmt.Errorf("notify requester of %s: %w", r.ID, err)
	}
	return nil
}
