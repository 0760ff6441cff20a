// Package duo sends a Duo Push as a step-up check: before accessbot acts
// on a request (a policy's step_up), the person is asked to approve on
// their phone.
//
//	c, err := duo.New(duo.Config{Host: host, IKey: ikey, SKey: skey})
//	allowed, err := c.Push(ctx, "alice", "prod-db-read for 2h: INC-4211 hotfix")
//
// Push starts the authentication asynchronously (POST /auth/v2/auth with
// factor=push, device=auto, async=1, the reason in pushinfo) and polls
// GET /auth/v2/auth_status every Config.PollInterval until Duo has a
// result, Config.Timeout passes (default 60 s, about when Duo itself gives
// up on a push) or the caller's context ends. Asynchronous, so that the
// wait is bounded here and by ctx, not by a long-held HTTP request.
//
// Only Duo's "allow" is true. A denial, a fraud report or a timeout is
// false with a *DeniedError (errors.Is(err, ErrNotApproved)) saying which,
// fit to tell the requester; any other failure (Duo unreachable, an
// unknown user, credentials refused: *APIError) is false with that error.
// The caller never proceeds on false.
//
// Every request is signed as Duo documents it (Canonical, Signature): the
// Date header (RFC 2822), the method in upper case, the host in lower case,
// the path and the sorted, URL-encoded parameters, joined by newlines, are
// signed with HMAC-SHA512 under the secret key, and sent as HTTP Basic
// credentials with the integration key as the user name. That is signature
// version 2 as Duo's own clients send it; Duo also accepts HMAC-SHA1.
//
// Configuration, read by the server:
//
//	ACCESSBOT_DUO_HOST      API hostname of the Auth API application (api-XXXXXXXX.duosecurity.com)
//	ACCESSBOT_DUO_IKEY      integration key
//	ACCESSBOT_DUO_SKEY_FILE file holding the secret key
//
// The secret key never appears in an error.
//
// Package duotest is a fake Duo Auth API that checks signatures as Duo
// does, for tests and demos.
package duo
