// Package salesforce is the accessbot provider for Salesforce: it grants
// and revokes a permission set, or a permission set group, by inserting and
// deleting PermissionSetAssignment records through the REST API.
//
// A resource names exactly one of them by its API name:
//
//	provider: salesforce
//	salesforce: {permission_set: Payments_Admin}
//	salesforce: {permission_set_group: Support_Agents}
//
// The identity (identities: {U0ALICE: {salesforce: alice@acme.example}}) is
// the user's Salesforce username.
//
//   - Grant looks up the active user (SELECT Id FROM User WHERE Username =
//     '…' AND IsActive = true) and the permission set (by Name, not owned by
//     a profile) or group (by DeveloperName), then inserts the assignment.
//     DUPLICATE_VALUE (the assignment is there already) is success.
//   - Revoke finds the user's direct assignment of that permission set or
//     group by (assignee, permission set) and deletes it; none, or a 404 on
//     delete, is success. Salesforce does not record who made an
//     assignment, so Revoke relies on approvals.Service asking Holds first:
//     access already held is refused as "already held", and an assignment
//     present at expiry is the one the grant made. One made by hand while a
//     grant is active is removed with it.
//   - Holds reports a direct assignment, whoever made it; holding the
//     permission set through a group does not count, as Revoke would not
//     touch it.
//   - Holders (approvals.HolderLister) lists the usernames of every direct
//     assignee, following nextRecordsUrl.
//
// Values enter SOQL only as quoted, escaped string literals; settings must
// be API names and identities must look like usernames.
//
// # Authentication
//
// OAuth 2.0 against the connected app of an integration user, with one of:
//
//   - the client credentials flow: POST /services/oauth2/token with
//     grant_type=client_credentials, client_id and client_secret; it needs
//     the org's My Domain URL as the login URL and a "Run As" user;
//   - the JWT bearer flow: grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
//     with an RS256 JWT (iss the consumer key, sub the username, aud the
//     login server) signed with the private key whose certificate is
//     uploaded to the connected app. The JWT is built with the standard
//     library.
//
// The access token and the instance_url that comes with it are cached
// until their expiry, when the token endpoint names one, or until an API
// call answers 401: then the token is dropped and the call is made once
// more with a new one.
//
// # Privileges
//
// The integration user needs API Enabled and Assign Permission Sets
// (which brings View Setup and Configuration with it), best through a
// permission set of its own on a minimal profile, and nothing else: it
// never needs the permissions it assigns.
//
// ExcessPrivileges (approvals.PrivilegeChecker, run at start) reads the
// user from the token's identity URL (the "id" of the token answer,
// https://<login host>/id/<org ID>/<user ID>) and queries its
// PermissionSetAssignment records, which include its profile's own
// permission set and each group's aggregate one, with the system
// permissions that reach far beyond assigning permission sets: Modify All
// Data, View All Data, Manage Users, Manage Internal Users, Manage
// Profiles and Permission Sets, Customize Application, Author Apex and
// Modify Metadata Through Metadata API Functions. Each one held is one
// line naming the user, where it comes from (its profile, a permission
// set by label and API name, or a group), what it lets whoever holds the
// bot's credentials do, and what granting needs instead.
//
// A user without Assign Permission Sets is reported as one more line,
// first, when a resource names a permission set or group: it has no
// excess, but every grant and revoke will fail. A line rather than an
// error keeps the other lines in the report. An identity URL that does not
// name a user is an error, and no query is made.
//
// # Configuration
//
// Config holds the settings; the server reads them from these variables:
//
//	ACCESSBOT_SALESFORCE_LOGIN_URL          https://login.salesforce.com (default),
//	                                        https://test.salesforce.com, or the My Domain URL
//	ACCESSBOT_SALESFORCE_CLIENT_ID          the connected app's consumer key (required)
//	ACCESSBOT_SALESFORCE_CLIENT_SECRET      consumer secret: client credentials flow
//	ACCESSBOT_SALESFORCE_CLIENT_SECRET_FILE the same, read from a file
//	ACCESSBOT_SALESFORCE_USERNAME           integration user: JWT bearer flow
//	ACCESSBOT_SALESFORCE_PRIVATE_KEY_FILE   PEM RSA key: JWT bearer flow
//	ACCESSBOT_SALESFORCE_AUDIENCE           JWT aud, when the default derived from the login URL is wrong
//	ACCESSBOT_SALESFORCE_API_VERSION        REST API version, default 60.0
//
// # Failures
//
// 5xx, 429, REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW, a 401 that a fresh
// token did not cure, network errors and timeouts are wrapped with
// approvals.Transient; other 4xx answers and configuration mistakes are
// permanent and say what to check. No secret or token ever appears in an
// error.
//
// Package salesforcetest is a fake Salesforce for tests and demos.
package salesforce
