// Package store keeps accessbot's requests and audit log in one bbolt file.
// DB implements approvals.Store and adds what the operator CLI reads: the
// audit log in order or by time, its verification, and who held a resource
// at an instant.
//
// This comment is the schema. The file holds six top-level buckets:
//
//	meta/
//	  schema                                     → "1" (ASCII decimal)
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
//	  <8B BE seq>                                → JSON of approvals.Event
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
// contract. Record n (counting from 1) sits under key n, carries Seq n, the
// hash of record n-1 as PrevHash ("" for record 1) and
// approvals.Event.ChainHash of itself as Hash. Each record is stored as the
// exact json.Marshal of the event, so Verify can also refuse bytes edited by
// hand. meta/audit_head makes an append O(1) and lets Verify notice records
// cut from the end.
//
// A layout change bumps the schema version and adds a migration; Open
// refuses a file with a version it does not know. The JSON field names of
// approvals.Request and approvals.Event are part of the layout. A new
// optional field of approvals.Request (omitempty or omitzero, such as
// audit_thread, the audit channel message that opens the request's thread)
// reads as its zero value from older records, so adding one is not a
// layout change; renaming or reinterpreting one is. Changes that are not
// audited, such as recording a posted message, update the request and
// append no event.
package store
