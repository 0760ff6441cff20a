package commands

import (
	"strings"
	"time"
	"unicode"

	"github.com/accessbot/accessbot/approvals"
)

// Command is a parsed /access command: one of Usage, RequestForm, Request,
// List, Resources, Revoke, Extend and Who. The set is closed; a type switch
// over it needs no default case for commands from Parse.
type Command interface {
	command()
}

// Usage is `/access` or `/access help`: show the usage text (Help). It is
// not called Help because the function Help returns that text.
type Usage struct{}

// RequestForm is `/access request` without arguments: open the request
// modal.
type RequestForm struct{}

// Request is `/access request RESOURCE DURATION REASON…`.
type Request struct {
	Resource string
	Duration time.Duration
	// Reason is the rest of the text after the duration, as typed.
	Reason string
}

// List is `/access list`: the caller's pending requests and active grants.
type List struct{}

// Resources is `/access resources`: what the caller may request.
type Resources struct{}

// Revoke is `/access revoke ID`.
type Revoke struct {
	ID string
}

// Extend is `/access extend ID DURATION REASON…`.
type Extend struct {
	ID       string
	Duration time.Duration
	Reason   string
}

// Who is `/access who RESOURCE [at TIME]`: the holders now, or at an
// instant, given as At or as Ago before the time the command is run.
type Who struct {
	Resource string
	At       time.Time
	Ago      time.Duration
}

func (Usage) command()       {}
func (RequestForm) command() {}
func (Request) command()     {}
func (List) command()        {}
func (Resources) command()   {}
func (Revoke) command()      {}
func (Extend) command()      {}
func (Who) command()         {}

// Usage lines, shared by Help and the error messages so that they cannot
// disagree.
const (
	usageRequest = "/access request RESOURCE DURATION REASON…"
	usageRevoke  = "/access revoke ID"
	usageExtend  = "/access extend ID DURATION REASON…"
	usageWho     = "/access who RESOURCE [at TIME]"
)

// Parse parses the text of an /access slash command (what follows
// "/access"). The subcommand is matched case-insensitively; resource names,
// IDs and reasons are kept as typed. A reason is the rest of the text after
// the duration with only its surrounding whitespace trimmed. Errors are
// *approvals.Error with code approvals.EINVALID and say what to fix.
func Parse(text string) (Command, error) {
	sub, rest := next(text)
	switch strings.ToLower(sub) {
	case "", "help":
		// Anything after help is ignored: whoever types it wants the usage.
		return Usage{}, nil
	case "request":
		if strings.TrimFunc(rest, unicode.IsSpace) == "" {
			return RequestForm{}, nil
		}
		resource, rest := next(rest)
		d, reason, err := durationAndReason(rest, usageRequest, "/access request "+resource+" 2h INC-4211 hotfix")
		if err != nil {
			return nil, err
		}
		return Request{Resource: resource, Duration: d, Reason: reason}, nil
	case "list":
		if err := noArgs("list", rest); err != nil {
			return nil, err
		}
		return List{}, nil
	case "resources":
		if err := noArgs("resources", rest); err != nil {
			return nil, err
		}
		return Resources{}, nil
	case "revoke":
		id, err := oneArg(rest, "a request ID is required: "+usageRevoke+" (/access list shows the IDs)", usageRevoke)
		if err != nil {
			return nil, err
		}
		return Revoke{ID: id}, nil
	case "extend":
		id, rest := next(rest)
		if id == "" {
			return nil, approvals.Errorf(approvals.EINVALID, "a request ID is required: %s (/access list shows the IDs)", usageExtend)
		}
		d, reason, err := durationAndReason(rest, usageExtend, "/access extend "+id+" 1h still debugging")
		if err != nil {
			return nil, err
		}
		return Extend{ID: id, Duration: d, Reason: reason}, nil
	case "break-glass":
		return parseBreakGlass(rest)
	case "who":
		resource, rest := next(rest)
		if resource == "" {
			return nil, approvals.Errorf(approvals.EINVALID, "a resource is required: %s (/access resources lists them)", usageWho)
		}
		w := Who{Resource: resource}
		word, when := next(rest)
		switch {
		case word == "":
			return w, nil
		case !strings.EqualFold(word, "at"):
			return nil, approvals.Errorf(approvals.EINVALID, "too many arguments: %s; remove %q", usageWho, strings.TrimFunc(rest, unicode.IsSpace))
		}
		var err error
		if w.At, w.Ago, err = parseInstant(strings.TrimFunc(when, unicode.IsSpace)); err != nil {
			return nil, err
		}
		return w, nil
	}
	if best := approvals.Closest(sub, subcommands); best != "" {
		return nil, approvals.Errorf(approvals.EINVALID, "unknown command %q; did you mean /access %s? Try /access help", sub, best)
	}
	return nil, approvals.Errorf(approvals.EINVALID, "unknown command %q; try /access help", sub)
}

// subcommands are the words Parse knows, for "did you mean".
var subcommands = []string{"request", "list", "resources", "revoke", "extend", "who", "help"}

// durationAndReason parses the "DURATION REASON…" tail shared by request
// and extend. The duration may take several words ("2 hours", "1 hour 30
// min"): it is the longest run of leading words that reads as one, so a
// reason that starts with a number ("3 servers down") stays the reason.
func durationAndReason(text, usage, example string) (time.Duration, string, error) {
	durText, rest := splitDuration(text)
	if durText == "" {
		return 0, "", approvals.Errorf(approvals.EINVALID, "a duration is required: %s, e.g. %s", usage, example)
	}
	d, err := approvals.ParseDuration(durText)
	if err != nil {
		return 0, "", err
	}
	reason := strings.TrimFunc(rest, unicode.IsSpace)
	if reason == "" {
		return 0, "", approvals.Errorf(approvals.EINVALID, "a reason is required: %s, e.g. %s", usage, example)
	}
	return d, reason, nil
}

// maxDurationWords bounds how far splitDuration looks: "1 day 2 hours 30
// minutes" is six words.
const maxDurationWords = 6

// splitDuration splits off the leading words of text that make up a
// duration. When none do, it returns the first word (and the second, when
// the first is a bare number, as in "2 hourz"), so that the error quotes
// what was typed.
func splitDuration(text string) (dur, rest string) {
	first, after := next(text)
	if first == "" {
		return "", text
	}
	dur, rest = first, after
	found := false
	words, tail := []string{first}, after
	for len(words) <= maxDurationWords {
		if _, err := approvals.ParseDuration(strings.Join(words, " ")); err == nil {
			dur, rest, found = strings.Join(words, " "), tail, true
		}
		w, t := next(tail)
		if w == "" {
			break
		}
		words, tail = append(words, w), t
	}
	if !found && isNumber(first) {
		if w, t := next(after); w != "" {
			return first + " " + w, t
		}
	}
	return dur, rest
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789.") == ""
}

// noArgs refuses arguments after a subcommand that takes none.
func noArgs(sub, rest string) error {
	if extra := strings.TrimFunc(rest, unicode.IsSpace); extra != "" {
		return approvals.Errorf(approvals.EINVALID, "/access %s takes no arguments; remove %q", sub, extra)
	}
	return nil
}

// oneArg returns the single argument of a subcommand that takes exactly one.
func oneArg(text, missing, usage string) (string, error) {
	arg, rest := next(text)
	if arg == "" {
		return "", approvals.Errorf(approvals.EINVALID, "%s", missing)
	}
	if extra := strings.TrimFunc(rest, unicode.IsSpace); extra != "" {
		return "", approvals.Errorf(approvals.EINVALID, "too many arguments: %s; remove %q", usage, extra)
	}
	return arg, nil
}

// next splits off the first whitespace-separated word of s, and returns it
// and the text after it, untouched, so that a reason keeps its inner
// spacing.
func next(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}
