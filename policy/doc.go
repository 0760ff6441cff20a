// Package policy loads the policy file (YAML, see the README and DESIGN.md
// A6) into an *approvals.Policy.
//
// Decoding is strict: an unknown key, at any level and inside provider
// blocks too, is an error, because a typo must never silently change who can
// get what. So is a value of the wrong type. Every problem found is reported,
// each as "file:line: field: what is wrong", so that one run of
// `accessbot policy check` shows everything to fix.
//
// The loader does not know the providers: the caller passes a SettingsTypes
// registry with, for each provider name, the typed settings struct of its
// block. The decoded block is validated (when the type has a Validate
// method) and stored as JSON in approvals.Resource.Settings.
package policy
