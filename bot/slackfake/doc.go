// Package slackfake is a fake Slack for tests: an httptest server that
// speaks the Web API wire format accessbot uses (chat.postMessage,
// chat.update, chat.postEphemeral, conversations.open, views.open,
// auth.test, apps.connections.open, and response_url posts), records every
// call for assertions, and enforces Slack's Block Kit limits the way Slack
// does, by refusing the call with invalid_blocks and recording a violation.
//
// It also builds what Slack sends to an app: signed slash commands, signed
// interaction payloads (block_actions, view_submission), signed the way
// Slack signs them, so tests drive the bot's real HTTP handlers; and it
// serves a Socket Mode connection (SendSocket) for the same payloads.
//
// Everything is safe for concurrent use: the bot posts from background
// goroutines while tests read.
package slackfake
