// Package store keeps accessbot's requests and audit log in one bbolt file.
// DB implements approvals.Store and adds what the operator CLI reads: the
// audit log in order or by time, its verification, and who held a resource
// at an instant.
//
// This comment is the schema. The file holds ten top-level buckets:
//
//	meta/
//	  schema                                     → "4" (ASCII decimal)
//	  audit_head                                 → <8B BE seq><hex SHA-256 hash>
//	                                               of the last audit record
//	requests/
//	  <id>                                       → JSON of approvals.Request
//	open/
//	  <requester> 0x00 <resource>                → <id>
//	revokes_by_time/
//	  <8B BE unix-nanos due> <id>                → ∅
//	grants_by_resource/
//	  <resource> 0x00 <8B BE unix-nanos granted> <id>
//	                                             → ∅ while the grant lasts,
//	                                               <8B BE unix-nanos ended> after
//	audit/                                       (bucket sequence = last seq)
//	  <8B BE seq>                                → 0x01 <32B SHA-256> <body>
//	                                               or, keyed,
//	                                               0x02 <8B key ID> <32B HMAC-SHA-256> <body>
//	                                               (schema 1: JSON of
//	                                               approvals.Event, '{'...)
//	outbox/                                      (bucket sequence = last seq)
//	  <8B BE seq>                                → JSON of approvals.Notice,
//	                                               with the request as committed
//	                                               and "done": deliveries made
//	request_log/
//	  <id>                                       → <8B BE seq of its last event>
//	                                               <8B BE unix-nanos expiry, 0: none>
//	                                               <status after that event>
//	providers_in_use/
//	  <provider>                                 → <8B BE number of open requests>
//	resume/
//	  <id>                                       → ∅
//	pending/
//	  <id>                                       → ∅
//
// Integers in keys are fixed-width big-endian so that keys sort by number
// and by time; instants are Unix nanoseconds clamped to [0, 2^63-1] (1970 to
// 2262). A requester or resource may not contain a NUL byte, so 0x00 ends
// it unambiguously.
//
// requests is the record; the other buckets are indexes written in the same
// transaction as the record they describe, from the request before and after
// each change:
//
//   - open holds one key per request whose approvals.Status.Open is true, so
//     a second request for the same user and resource is refused
//     (ECONFLICT) and OpenRequests reads only open requests.
//   - revokes_by_time holds one key per request that has a revoke due
//     (approvals.Request.RevokeDueAt); it moves when a person asks for an
//     early revoke, a failed revoke is rescheduled or an extension moves the
//     expiry, and goes when the grant ends. DueRevokes walks it from the
//     start while the time is at or before now, so a sweep reads only what
//     is due.
//   - grants_by_resource holds one key per request that was ever granted,
//     kept after the grant ends, because it is history: HoldersAt answers
//     "who held RESOURCE at T" by seeking to RESOURCE and stopping at the
//     first grant made after T. The value carries the end of the grant so
//     grants that ended before T are skipped without reading the request.
//   - providers_in_use counts the open requests of each provider (a key
//     goes at zero), so a start builds the providers that open requests
//     need without reading them.
//   - resume holds one key per request whose next step a crash may have
//     interrupted (approvals.Request.NeedsResume: approved, granting, a
//     pending request or extension whose approvers were never asked), so
//     a start resumes them without reading the others.
//   - pending holds one key per pending request (schema 4), so the
//     nudges of every sweep (time-outs and reminders) read the requests
//     waiting for a decision and none of the grants in force.
//
// request_log is written with each audit event about a request, from the
// event (approvals.StatusAfter) and not from the request: it is the state
// the log gives the request, the number of its last event and the expiry
// that event carries (every such event is made from the request as
// changed). A start compares each open request with it (CheckOpen), which
// costs a read per open request and none of the history, and reads the
// pages with pread rather than through bbolt's mapping so that they do not
// stay resident (pagefile.go); `accessbot audit verify` replays the log
// itself (CheckState) and checks request_log too.
//
// Writes are group-committed: concurrent writes share one bbolt write
// transaction (one commit, one pair of fsyncs), which the first of them to
// find the writer free commits at once for every write queued at that
// moment, so a lone write never waits. Each write still runs as if alone,
// after the writes queued before it, and all of it or none of it is
// committed: a failing write is rolled back and the others committed
// without it. Every write is committed, and fsynced, before its method
// returns.
//
// audit is the append-only, hash-chained audit log, named by the external
// contract. Record n (counting from 1) sits under key n and holds the event
// with Seq n and the hash of record n-1 as PrevHash ("" for record 1). Its
// hash is approvals.Event.ChainHash: SHA-256 over the previous hash (64
// hex digits, or nothing), a newline and the body, which is the exact
// json.Marshal of the event with Hash empty (its fields in declaration
// order: "seq" first, "prev_hash" and "hash":"" last). The first byte of a
// value says how it is stored:
//
//   - 0x01, then the record's hash (32 bytes, binary), then the body. The
//     body is encoded once, when appended (its strings made valid UTF-8
//     first, as json.Marshal would, so that it decodes to an event that
//     encodes to the same bytes), and the hash is taken over exactly those
//     bytes. Verify checks such a record with one hash over the stored
//     bytes and no JSON decoding: the key is the number the body starts
//     with, the body ends with the previous record's hash, and the stored
//     hash is the hash of the previous hash and the body. Readers decode
//     the body and fill in Hash in hex, so the event reads back as if the
//     whole of it had been stored.
//   - 0x02, then the ID of an audit key (8 bytes), then the hash, then the
//     body: a keyed record, written when the database is opened with an
//     audit key (Options.AuditKey). Its hash is HMAC-SHA-256 under that key
//     of the same input, so only a holder of the key can recompute it
//     after changing the body. The key ID is the first 8 bytes of the
//     SHA-256 of the key, and tells Verify which of the keys it was given
//     to use (Options.AuditKeys keeps older keys for rotation: the newest
//     writes, all verify). Readers fill in Hash with the HMAC in hex.
//     Verify refuses a keyed record whose key it was not given, naming the
//     key ID, and an unkeyed record after a keyed one (a chain recomputed
//     without the key). A log recomputed without the key from its first
//     keyed record on is a plain chain again (VerifyResult.KeyedFrom is 0),
//     which an anchor taken before catches. Opening for writing a log
//     whose last record is keyed needs that record's key among the keys.
//   - '{': schema 1's record, the JSON of the whole event, Hash included.
//     Opening a schema 1 file for writing leaves its records as they are
//     (the migration to version 3 rewrites none of them): they are read and
//     verified as before (decoded, rehashed, and encoded again to catch
//     bytes edited without changing the event), and the chain goes on from
//     the last of them in the new format.
//
// Each append fills the audit bucket's pages completely (FillPercent 1.0),
// since its keys only ever grow. meta/audit_head makes an append O(1) and
// lets Verify notice records cut from the end. bbolt never shrinks its
// file; Compact copies a database into a new, packed file.
//
// outbox holds what people must be told of each change (approvals.Notice):
// every notice is written in the same transaction as the change it
// describes, so a crash can lose neither. The delivery worker reads it in
// key order, records each delivery it makes under a key that names it
// (for example "ask:0:C0APPROVALS" or "audit") in the notice's "done" list,
// and deletes the notice once its last delivery is recorded; a restart
// finishes a notice delivered in part without repeating what is recorded.
// The message references Slack hands back (approval messages, the audit
// thread) are written to their request in the same transaction as the
// delivery that made them, without an audit event.
//
// A layout change bumps the schema version and adds a migration; Open
// refuses a file with a version it does not know. Opening a file of
// version 1 or 2 for writing builds request_log from one pass over the
// audit log and providers_in_use, resume and pending from the open
// requests, in the transaction that writes version 4; opening a file of
// version 3 builds pending. A read-only open (Options.ReadOnly) migrates
// nothing and writes nothing: it reads versions 1 to 4 as they are
// (CheckState then skips the indexes the file does not have). The JSON field names of
// approvals.Request and approvals.Event are part of the layout. A new
// optional field of approvals.Request (omitempty or omitzero, such as
// audit_thread, the audit channel message that opens the request's thread)
// reads as its zero value from older records, so adding one is not a
// layout change; renaming or reinterpreting one is. Changes that are not
// audited, such as recording a posted message, update the request and
// append no event.
package store
