package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen keeps a connection of its own LISTENing on notifyChannel and turns
// the notifications of this schema into outbox signals, so a delivery
// worker wakes when any replica commits notices. While that connection is
// down it signals at every attempt to reconnect, at most a poll interval
// apart, so the worker polls: a notice waits at most about an interval. It
// returns when ctx ends.
func (db *DB) listen(ctx context.Context, cc *pgx.ConnConfig) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for ctx.Err() == nil {
		connected, _ := db.listenOnce(ctx, cc)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = firstBackoff
		}
		db.wakeOutbox()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, db.cfg.pollInterval)
	}
}

// listenOnce connects, listens and relays notifications until the
// connection fails or ctx ends. connected reports whether it got as far as
// listening. An idle connection is pinged every poll interval, so one that
// died without a word is noticed.
func (db *DB) listenOnce(ctx context.Context, cc *pgx.ConnConfig) (connected bool, err error) {
	cc.RuntimeParams["application_name"] = listenerName(db.schema)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cc)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, err
	}
	// Commits made while no one listened are announced by this one signal.
	db.wakeOutbox()
	for {
		wctx, cancel := context.WithTimeout(ctx, db.cfg.pollInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// A timeout leaves the connection usable; check it is alive.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		case err != nil:
			return true, err
		case n.Payload == db.schema:
			db.wakeOutbox()
		}
	}
}

// listenerName is the application_name of the listening connection, which
// names it in pg_stat_activity.
func listenerName(schema string) string { return "accessbot outbox " + schema }
