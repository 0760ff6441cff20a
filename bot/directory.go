package bot

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/accessbot/accessbot/approvals"
)

// DefaultDirectoryMaxAge is how long the members of a user group are
// served from the cache. usergroups.users.list is Tier 2 (about 20 calls
// a minute), and lists and approval messages can wait that long for a
// change; a click never does (it asks for a fresh answer).
const DefaultDirectoryMaxAge = 5 * time.Minute

// Directory resolves Slack user groups for approvals, through
// usergroups.users.list, with a cache.
type Directory struct {
	api    *slackAPI
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

var _ approvals.Directory = (*Directory)(nil)

// directoryCallTimeout bounds a lookup, which a click may wait for.
const directoryCallTimeout = 2 * time.Second

// NewDirectory returns a Directory calling Slack through client, keeping
// answers for maxAge (DefaultDirectoryMaxAge when 0). now is the clock of
// the cache (time.Now when nil).
func NewDirectory(client *slack.Client, maxAge time.Duration, now func() time.Time) *Directory {
	if maxAge <= 0 {
		maxAge = DefaultDirectoryMaxAge
	}
	if now == nil {
		now = time.Now
	}
	api := newSlackAPI(client, slog.Default())
	// A click's answer waits for this: refuse rather than wait out a rate
	// limit, and stay inside Slack's 3 seconds.
	api.retries = 0
	api.callTimeout = directoryCallTimeout
	return &Directory{api: api, maxAge: maxAge, now: now, cache: map[string]groupEntry{}}
}

// Members returns the members of user group group: from the cache when
// it is younger than the Directory's maximum age and fresh is false, else
// from Slack. A failed lookup is an error even when the cache has an
// older answer: a check must not rest on a membership that may have been
// withdrawn.
func (d *Directory) Members(ctx context.Context, group string, fresh bool) ([]string, error) {
	now := d.now()
	if !fresh {
		d.mu.Lock()
		e, ok := d.cache[group]
		d.mu.Unlock()
		if ok && now.Sub(e.at) < d.maxAge {
			return slices.Clone(e.members), nil
		}
	}
	var members []string
	err := d.api.do(ctx, "usergroups.users.list", func(ctx context.Context) error {
		var err error
		members, err = d.api.client.GetUserGroupMembersContext(ctx, group)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("members of user group %s: %w", group, err)
	}
	d.mu.Lock()
	d.cache[group] = groupEntry{members: slices.Clone(members), at: now}
	d.mu.Unlock()
	return members, nil
}
