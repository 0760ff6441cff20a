package githubtest

// TB is the part of testing.TB the fake uses. A test passes its *testing.T
// or *testing.B; the package does not import testing itself, so the demo,
// which runs the fake outside tests, does not link the test framework into
// the accessbot binary.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}
