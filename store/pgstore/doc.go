// Package pgstore keeps accessbot's requests, audit log and outbox in
// PostgreSQL, so that several replicas of the bot can share them. DB
// implements what the bbolt store (package store) implements for the
// approval flow, the `who` index, the summaries and the delivery worker,
// with the same semantics, and passes the same conformance kit
// (store/storetest).
//
// # Which store
//
// The bbolt store is one file and no server, with the cheapest commit (no
// round trip, and concurrent writes share one fsync); it is opened by one
// process at a time, so it serves one replica. Choose pgstore
// (ACCESSBOT_STORE=postgres, ACCESSBOT_STORE_DSN) to run more than one
// replica, for the database's own backups, replication and failover, or
// where local disk does not survive a restart. A commit then costs round
// trips and PostgreSQL's WAL flush, and audited writes from all replicas
// take turns on the audit head (see below): docs/benchmarks.md compares
// the two.
//
// # The PostgreSQL user
//
// Everything lives in the connection's current schema: the first schema of
// search_path, which the DSN may set (options=-csearch_path%3Daccessbot,
// or search_path=accessbot with pgx). The user needs USAGE and CREATE on
// that schema, to create the tables at the first start, and nothing else:
// no superuser, no CREATEDB, no other schema. For example:
//
//	CREATE ROLE accessbot LOGIN PASSWORD '…';
//	CREATE SCHEMA accessbot AUTHORIZATION accessbot;
//
// Several deployments may share a database, each in its own schema.
//
// # Schema
//
// This comment is the schema. Version 1 (schema_migrations.version):
//
//	schema_migrations (version int PK, applied_at timestamptz)
//	                                   one row per migration applied
//	requests
//	  id text PK
//	  requester, resource, status text  copied from the record, for the
//	                                    indexes below
//	  revoke_due timestamptz NULL       approvals.Request.RevokeDueAt
//	  record bytea                      JSON of approvals.Request, the
//	                                    bytes the bbolt store keeps
//	  UNIQUE (requester, resource) WHERE status IN (pending, approved,
//	        granting, active)           requests_open
//	  INDEX (revoke_due) WHERE revoke_due IS NOT NULL
//	                                    requests_revoke_due
//	grants
//	  id text PK → requests.id
//	  resource text, granted_at timestamptz, ended_at timestamptz NULL
//	  INDEX (resource, granted_at, id)  grants_by_resource
//	audit
//	  seq bigint PK                     1, 2, 3, … without gaps
//	  record bytea                      0x01 <32B SHA-256> <body>, the
//	                                    bbolt store's record, byte for byte
//	audit_head (one row)
//	  seq bigint, hash text             the last record and its hash (hex)
//	outbox
//	  seq bigint PK                     in commit order
//	  notice bytea                      JSON of approvals.Notice, with the
//	                                    request as committed
//	  done text[]                       deliveries recorded since
//	outbox_head (one row)
//	  seq bigint                        the last notice's seq
//
// As in the bbolt store, requests holds the record and the rest are
// indexes, written in the transaction that writes the record:
//
//   - requests_open enforces in the database what the bbolt store's open
//     bucket does: one open request (approvals.Status.Open) per requester
//     and resource. A second one is refused with ECONFLICT, whichever
//     replica files it. OpenRequests reads through it.
//   - requests_revoke_due holds the requests with a revoke due, so
//     DueRevokes reads only what is due. timestamptz keeps microseconds:
//     the index finds a superset of what is due, and the decoded request
//     settles it.
//   - grants has one row per request ever granted, kept after the grant
//     ends, for HoldersAt ("who held RESOURCE at T").
//
// audit is the hash-chained audit log: the same records as the bbolt
// store's audit bucket (store/doc.go), made by the same code
// (store.AuditChain), so the bbolt store's verifier checks both
// (DB.Verify, DB.VerifyAnchor) and records can be copied between the
// stores as they are. With AuditKeys the chain is HMAC-SHA-256 under the
// audit key, with rotation, as in the bbolt store; a schema whose last
// record is keyed is refused without its key. audit_head lets an append
// start without reading the log; the replicas' appends form one chain
// that never forks: a batch starts from the heads its DB last committed,
// or locks audit_head (SELECT … FOR UPDATE) when it does not know them,
// and writes the head back only if it is still what it started from
// (see wtx).
//
// outbox holds what people must be told of each change, written in the
// same transaction as the change. Its seq comes from outbox_head, locked
// like the audit head, not from a sequence: a sequence numbers
// transactions in the order they ask, not the order they commit, and the
// delivery worker, which reads on from the last seq it saw, would skip a
// notice committed after a later-numbered one. A notice leaves the
// outbox when its last delivery is recorded; the message references Slack
// hands back are written to their request without an audit event.
//
// Writes are group-committed, as in the bbolt store: concurrent writes of
// one DB share a transaction, which the first of them to find the
// committer free commits at once for every write queued at that moment,
// so a lone write never waits and a burst shares one WAL flush and one
// turn on the audit head. The writes go on from the heads the DB's last
// commit left (or, when it does not know them, that the first write that
// appends or queues locks, audit_head then outbox_head), and the heads
// are written back once, conditionally, in the round trip of the COMMIT.
// Each write still runs as if alone, after the writes before it:
// a write that fails is left out (the transaction is run again without
// it, unless it wrote nothing) and gets its own error. Transactions run at
// read committed; one that fails on a serialization failure or a deadlock
// (SQLSTATE 40001, 40P01; two replicas locking the same request and the
// heads in turn) is run again whole, a few times. Transition's fn may
// therefore run more than once, each time on the request as then stored,
// as approvals.Store allows.
//
// A transaction that queues notices also sends a notification on the
// channel accessbot_outbox (pg_notify, delivered at commit) with the
// schema as payload. Each DB listens on its own connection, so a delivery
// worker on any replica wakes when any replica commits notices; while that
// connection is down it reconnects, and the outbox signal fires at every
// attempt (at most PollInterval apart), so delivery falls back to polling.
// Which replica's worker delivers is not settled here: run one worker, or
// elect one (an advisory lock on a dedicated connection).
//
// # Migrations
//
// Open applies the migrations the schema lacks in one transaction that
// holds an advisory lock named after the schema, so replicas starting
// together migrate once, and refuses a schema newer than it knows. A
// layout change is a new migration, never an edit of an applied one, and
// is drawn here. The JSON field names of approvals.Request,
// approvals.Event and approvals.Notice are part of the layout, as in the
// bbolt store.
package pgstore
