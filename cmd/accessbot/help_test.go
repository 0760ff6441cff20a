package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// unstartableEnv points every variable at something that would make a
// start fail or write a file, so that a help that started anything shows.
func unstartableEnv(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	for k, v := range map[string]string{
		"ACCESSBOT_SLACK_BOT_TOKEN":      "xoxb-help-test",
		"ACCESSBOT_SLACK_SIGNING_SECRET": "secret",
		"ACCESSBOT_DB_PATH":              filepath.Join(dir, "accessbot.db"),
		"ACCESSBOT_POLICY_FILE":          filepath.Join(dir, "missing-policy.yaml"),
		"ACCESSBOT_LISTEN_ADDR":          "127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	return dir
}

// TestHelpStartsNothing: help for every command, in every spelling, exits 0
// with that command's usage on stdout, and creates no file, even with a
// configuration that could not start.
func TestHelpStartsNothing(t *testing.T) {
	dir := unstartableEnv(t)
	for _, d := range commandDocs {
		words := strings.Fields(d.path)
		for _, args := range [][]string{
			append([]string{"help"}, words...),
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
		} {
			code, out, errOut := runCLI(t, args...)
			if code != 0 || errOut != "" {
				t.Errorf("accessbot %v = %d, stderr %q; want 0 and nothing on stderr", args, code, errOut)
			}
			if want := "usage: accessbot " + d.path; !strings.Contains(out, want) {
				t.Errorf("accessbot %v printed\n%s\nwant it to contain %q", args, out, want)
			}
		}
	}
	// Flags or arguments after the command do not change that.
	for _, args := range [][]string{
		{"audit", "who", "payments-admin", "--help"},
		{"audit", "export", "--format", "csv", "-h"},
		{"grants", "revoke", "REQ1", "--help"},
		{"policy", "check", "x.yaml", "-h"},
		{"--help"}, {"-h"}, {"help"},
	} {
		if code, out, _ := runCLI(t, args...); code != 0 || !strings.Contains(out, "usage: accessbot") {
			t.Errorf("accessbot %v = %d:\n%s", args, code, out)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("help created %v", entries)
	}
	if code, _, errOut := runCLI(t, "help", "frobnicate"); code != 2 || !strings.Contains(errOut, `"frobnicate"`) {
		t.Errorf("help frobnicate = %d, %q", code, errOut)
	}
}

// TestHelpListsEveryFlagAndVariable: each flag of a command is one line of
// its help, and serve's help has one line per configuration variable, with
// its default, read from Config's tags.
func TestHelpListsEveryFlagAndVariable(t *testing.T) {
	unstartableEnv(t)
	_, out, _ := runCLI(t, "serve", "--help")
	vars := envVars()
	if len(vars) < 20 {
		t.Fatalf("envVars() = %d variables; Config has more", len(vars))
	}
	for _, v := range vars {
		line := lineWith(out, v.Name+" ")
		if line == "" {
			t.Errorf("serve --help lacks %s:\n%s", v.Name, out)
			continue
		}
		if !strings.Contains(line, v.defaultText()) || v.Desc == "" {
			t.Errorf("serve --help line %q lacks the description or the default %q", line, v.defaultText())
		}
	}
	for _, want := range []string{
		`ACCESSBOT_LISTEN_ADDR`, `default ":8080"`, `default "@every 10s"`, `default "text"`,
		"ACCESSBOT_SLACK_BOT_TOKEN", "required", "ACCESSBOT_ADMIN_SOCKET", "ACCESSBOT_METRICS_ADDR",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	for _, d := range commandDocs {
		if d.flags == nil {
			continue
		}
		_, out, _ := runCLI(t, append(strings.Fields(d.path), "--help")...)
		d.flags().VisitAll(func(f *flag.Flag) {
			if lineWith(out, "--"+f.Name+" ") == "" {
				t.Errorf("%s --help lacks a line for --%s:\n%s", d.path, f.Name, out)
			}
		})
	}
}

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 {
		t.Fatalf("version = %d", code)
	}
	if !regexp.MustCompile(`(?m)^accessbot \S+\ncommit \S+\n` + regexp.QuoteMeta(runtime.Version()) + `\n$`).MatchString(out) {
		t.Errorf("version printed %q", out)
	}
	old, oldCommit := version, commit
	t.Cleanup(func() { version, commit = old, oldCommit })
	version, commit = "v1.2.3", "0123456789abcdef"
	if _, out, _ := runCLI(t, "version"); !strings.Contains(out, "accessbot v1.2.3\ncommit 0123456789abcdef\n") {
		t.Errorf("version with ldflags printed %q", out)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != 2 {
		t.Errorf("version extra = %d, want 2", code)
	}
}

func TestLaterCommandsSayWhatToDo(t *testing.T) {
	dir := unstartableEnv(t)
	// backup of a database that is not there names it and creates nothing.
	code, _, errOut := runCLI(t, "backup", filepath.Join(dir, "copy.db"))
	if code != 1 || !strings.Contains(errOut, "ACCESSBOT_DB_PATH") {
		t.Errorf("backup = %d, %q", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("backup created %v", entries)
	}
}
