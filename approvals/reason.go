package approvals

import "regexp"

// CheckReason checks reason against the resource's reason_pattern, and
// refuses it with the resource's reason_hint (or the pattern itself, when
// there is no hint). The policy loader has compiled the pattern already;
// one that does not compile refuses every reason rather than none.
// Errors: EINVALID.
func CheckReason(res Resource, reason string) error {
	if res.ReasonPattern == "" {
		return nil
	}
	re, err := regexp.Compile(res.ReasonPattern)
	if err == nil && re.MatchString(reason) {
		return nil
	}
	if res.ReasonHint != "" {
		return Errorf(EINVALID, "the reason for %s does not say what its policy asks for: %s", res.Name, res.ReasonHint)
	}
	return Errorf(EINVALID, "the reason for %s must match %s, which it does not", res.Name, "`"+res.ReasonPattern+"`")
}
