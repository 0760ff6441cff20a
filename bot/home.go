package bot

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// ActionEndGrant is the End now button of an active grant on the Home
// tab; its value is the request ID.
const ActionEndGrant = "end_grant"

// How much of each list the Home tab shows. Slack allows 100 blocks in a
// Home view; at two blocks per grant and per decision, one per pending
// request and per recent decision, plus headers and "and N more" lines,
// these keep a full Home under 80.
const (
	homeGrants    = 10
	homePending   = 10
	homeAwaiting  = 15
	homeRecent    = 5
	maxHomeBlocks = 100
)

// Who counts as having their Home open, for refreshes: those who opened it
// within homeTTL, at most homeViewers of them. Slack sends app_home_opened
// each time the tab is opened, so someone who comes back is added again.
const (
	homeTTL     = 12 * time.Hour
	homeViewers = 1000
	// recentUsers bounds the requesters whose recent decisions are kept.
	recentUsers = 4096
)

// homes tracks the Home tabs to keep up to date and what they show that
// the store cannot list cheaply.
type homes struct {
	mu      sync.Mutex
	seen    map[string]time.Time // user -> when they last opened their Home
	dirty   map[string]bool      // users whose Home is to be published again
	running bool                 // a publisher is draining dirty
	// recent holds each requester's last decided requests, newest first,
	// as the Deliverer reported them. The store keeps ended requests only
	// in its history, which a Home must not scan; so this covers what
	// ended since accessbot started, and the Home says so.
	recent map[string][]*approvals.Request
	wg     sync.WaitGroup
}

func newHomes() *homes {
	return &homes{seen: map[string]time.Time{}, dirty: map[string]bool{}, recent: map[string][]*approvals.Request{}}
}

// opened notes that user opened their Home at now, forgetting the one
// who opened theirs longest ago when the list is full.
func (h *homes) opened(user string, now time.Time) {
	if _, ok := h.seen[user]; !ok && len(h.seen) >= homeViewers {
		oldest, at := "", now
		for u, t := range h.seen {
			if !t.After(at) {
				oldest, at = u, t
			}
		}
		delete(h.seen, oldest)
	}
	h.seen[user] = now
}

// watching reports whether user opened their Home within homeTTL.
func (h *homes) watching(user string, now time.Time) bool {
	t, ok := h.seen[user]
	if ok && now.Sub(t) > homeTTL {
		delete(h.seen, user)
		return false
	}
	return ok
}

// decided keeps r, which ended, among its requester's recent decisions.
func (h *homes) decided(r *approvals.Request) {
	list := h.recent[r.Requester]
	if list == nil && len(h.recent) >= recentUsers {
		clear(h.recent)
	}
	list = slices.DeleteFunc(slices.Clone(list), func(x *approvals.Request) bool { return x.ID == r.ID })
	list = append([]*approvals.Request{r}, list...)
	if len(list) > homeRecent {
		list = list[:homeRecent]
	}
	h.recent[r.Requester] = list
}

// homeOpened publishes user's Home: they just opened it.
func (b *Bot) homeOpened(user string) {
	if !isSlackID(user) {
		return
	}
	b.homes.mu.Lock()
	b.homes.opened(user, b.now())
	b.homes.mu.Unlock()
	b.refreshHomes([]string{user}, false)
}

// NoticeDelivered is the Deliverer's OnDelivered callback: once a notice
// about a request is delivered, the Homes that show the request, or may
// now show it, are published again: its requester's and its approvers'
// (everyone's watching when a user group approves, whose members are not
// known here), of those who have their Home open. The publishing runs
// apart from the delivery, and a Home that several notices touch in a row
// is published once for them.
func (b *Bot) NoticeDelivered(n approvals.Notice) {
	r := n.Request
	if r == nil {
		return
	}
	var users []string
	all := false
	users = append(users, r.Requester)
	if res, ok := b.svc.Policy().Resource(r.Resource); ok {
		for _, a := range res.Approvers {
			if approvals.IsGroup(a) {
				all = true
				continue
			}
			users = append(users, a)
		}
	}
	users = append(users, r.Approvers()...)
	if !r.Status.Open() {
		b.homes.mu.Lock()
		b.homes.decided(r)
		b.homes.mu.Unlock()
	}
	b.refreshHomes(users, all)
}

// refreshHomes marks the Homes of users (or of everyone watching, with
// all) for publishing, among those watching, and starts the publisher if
// it is not running.
func (b *Bot) refreshHomes(users []string, all bool) {
	h := b.homes
	now := b.now()
	h.mu.Lock()
	if all {
		for u := range h.seen {
			users = append(users, u)
		}
	}
	for _, u := range users {
		if h.watching(u, now) {
			h.dirty[u] = true
		}
	}
	start := !h.running && len(h.dirty) > 0
	if start {
		b.mu.Lock()
		closing := b.closing
		if !closing {
			h.wg.Add(1)
		}
		b.mu.Unlock()
		start = !closing
		h.running = start
	}
	h.mu.Unlock()
	if start {
		go b.publishHomes()
	}
}

// publishHomes publishes the Homes marked dirty until none is left.
func (b *Bot) publishHomes() {
	h := b.homes
	defer h.wg.Done()
	for {
		h.mu.Lock()
		var users []string
		for u := range h.dirty {
			users = append(users, u)
		}
		clear(h.dirty)
		if len(users) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		slices.Sort(users)
		for _, u := range users {
			ctx, cancel := context.WithTimeout(b.stopped, backgroundTimeout)
			if err := b.publishHome(ctx, u); err != nil {
				b.log.Warn("could not publish a Home tab", "user", u, "err", err)
			}
			cancel()
		}
	}
}

// publishHome renders user's Home from the store and publishes it.
func (b *Bot) publishHome(ctx context.Context, user string) error {
	mine, err := b.svc.List(ctx, user)
	if err != nil {
		return fmt.Errorf("list requests: %w", err)
	}
	awaiting, err := b.svc.Awaiting(ctx, user)
	if err != nil {
		return fmt.Errorf("list requests awaiting a decision: %w", err)
	}
	b.homes.mu.Lock()
	recent := slices.Clone(b.homes.recent[user])
	b.homes.mu.Unlock()
	view := homeView(mine, awaiting, recent)
	return b.api.do(ctx, "views.publish", func(ctx context.Context) error {
		_, err := b.client.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	})
}

// homeView renders a Home tab: the user's grants, their pending requests,
// the requests waiting for their decision and their recent decisions.
func homeView(mine, awaiting, recent []*approvals.Request) slack.HomeTabViewRequest {
	var grants, pending []*approvals.Request
	for _, r := range mine {
		if r.Status == approvals.StatusActive {
			grants = append(grants, r)
		} else {
			pending = append(pending, r)
		}
	}
	blocks := []slack.Block{
		contextBlock("home_intro", "Ask for access with `/access request`; `/access help` lists the rest. This page shows where your requests stand."),
		slack.NewHeaderBlock(plain("Your access"), slack.HeaderBlockOptionBlockID("home_grants")),
	}
	more := func(blockID string, n int, where string) {
		if n > 0 {
			blocks = append(blocks, contextBlock(blockID, fmt.Sprintf("…and %d more; %s shows them all.", n, where)))
		}
	}
	if len(grants) == 0 {
		blocks = append(blocks, contextBlock("home_grants_none", "You hold no access through accessbot right now."))
	}
	for _, r := range grants[:min(len(grants), homeGrants)] {
		blocks = append(blocks, section("home_grant:"+r.ID, grantLine(r)),
			slack.NewActionBlock("home_grant_actions:"+r.ID,
				slack.NewButtonBlockElement(ActionExtend, r.ID, plain("Extend…")).WithStyle(slack.StylePrimary),
				slack.NewButtonBlockElement(ActionEndGrant, r.ID, plain("End now")).WithStyle(slack.StyleDanger)))
	}
	more("home_grants_more", len(grants)-homeGrants, "`/access list`")

	blocks = append(blocks, slack.NewHeaderBlock(plain("Your requests"), slack.HeaderBlockOptionBlockID("home_pending")))
	if len(pending) == 0 {
		blocks = append(blocks, contextBlock("home_pending_none", "No request of yours is waiting."))
	}
	for _, r := range pending[:min(len(pending), homePending)] {
		s := section("home_pending:"+r.ID, pendingLine(r))
		if r.Status == approvals.StatusPending {
			s.Accessory = slack.NewAccessory(slack.NewButtonBlockElement(ActionCancel, r.ID, plain("Cancel")))
		}
		blocks = append(blocks, s)
	}
	more("home_pending_more", len(pending)-homePending, "`/access list`")

	blocks = append(blocks, slack.NewHeaderBlock(plain("Waiting for your decision"), slack.HeaderBlockOptionBlockID("home_awaiting")))
	if len(awaiting) == 0 {
		blocks = append(blocks, contextBlock("home_awaiting_none", "Nothing waits for you."))
	}
	for _, r := range awaiting[:min(len(awaiting), homeAwaiting)] {
		text := requestSummary(r) + "\n" + approvalStatus(r) + fmt.Sprintf(" Request `%s`, filed %s.", escape(r.ID), when(r.CreatedAt))
		if e := r.PendingExtension(); e != nil && r.Status == approvals.StatusActive {
			text = extensionSummary(r, e) + "\n" + extensionStatus(r, e) + fmt.Sprintf(" Request `%s`.", escape(r.ID))
		}
		blocks = append(blocks, section("home_awaiting:"+r.ID, text),
			slack.NewActionBlock("home_awaiting_actions:"+r.ID,
				slack.NewButtonBlockElement(ActionApprove, r.ID, plain("Approve")).WithStyle(slack.StylePrimary),
				slack.NewButtonBlockElement(ActionDeny, r.ID, plain("Deny")).WithStyle(slack.StyleDanger)))
	}
	more("home_awaiting_more", len(awaiting)-homeAwaiting, "the approval messages")

	blocks = append(blocks, slack.NewHeaderBlock(plain("Recently decided"), slack.HeaderBlockOptionBlockID("home_recent")))
	if len(recent) == 0 {
		blocks = append(blocks, contextBlock("home_recent_none", "Nothing of yours ended since accessbot last started."))
	}
	for _, r := range recent[:min(len(recent), homeRecent)] {
		blocks = append(blocks, contextBlock("home_recent:"+r.ID, fmt.Sprintf("*%s* (`%s`): %s", escape(r.Resource), escape(r.ID), approvalStatus(r))))
	}
	if len(blocks) > maxHomeBlocks {
		blocks = blocks[:maxHomeBlocks] // the caps above make this unreachable
	}
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
}

// grantLine describes an active grant on its holder's Home.
func grantLine(r *approvals.Request) string {
	s := fmt.Sprintf(":key: *%s* as `%s` at %s, until %s. Request `%s`.", escape(r.Resource), userText(r.Identity, 200),
		escape(r.SystemName()), when(r.ExpiresAt), escape(r.ID))
	if e := r.PendingExtension(); e != nil {
		s += fmt.Sprintf(" Extension by %s asked, waiting for approval.", approvals.FormatDuration(e.Duration))
	}
	return s
}

// pendingLine describes an open request, not yet granted, on its
// requester's Home.
func pendingLine(r *approvals.Request) string {
	head := fmt.Sprintf("*%s* for %s (`%s`), filed %s.", escape(r.Resource), approvals.FormatDuration(r.Duration), escape(r.ID), when(r.CreatedAt))
	if r.Status == approvals.StatusPending {
		return ":hourglass: " + head + fmt.Sprintf(" Waiting for approval (%d of %d).", len(r.Approvals), r.Required)
	}
	return ":white_check_mark: " + head + " Approved; granting access…"
}
