package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD)" ./cmd/accessbot
//
// Without them, commit comes from the VCS stamp the go command records in
// the binary (vcs.revision) when built inside a git checkout.
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns the version, the commit (with "-dirty" when built from
// a modified tree) and the Go version of this binary.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev, goVersion = version, commit, runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ver, orUnknown(rev), goVersion
	}
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		// go install github.com/accessbot/accessbot/cmd/accessbot@v1.2.3
		ver = bi.Main.Version
	}
	if rev == "" {
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" && modified {
			rev += "-dirty"
		}
	}
	return ver, orUnknown(rev), goVersion
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// versionCommand is `accessbot version`.
func versionCommand(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError("version: unexpected argument %q", args[0])
	}
	ver, rev, goVersion := buildInfo()
	fmt.Fprintf(stdout, "accessbot %s\ncommit %s\n%s\n", ver, rev, goVersion)
	return nil
}
