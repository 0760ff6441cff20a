package policy

import (
	"fmt"
	"sort"
)

// problem is one thing wrong with a policy file, located so that an editor
// can jump to it.
type problem struct {
	file  string
	line  int    // 0 when the problem has no place in the file
	field string // "resources[1].max_duration"; "" for the whole file
	msg   string
}

func (e *problem) Error() string {
	s := e.file
	if e.line > 0 {
		s += fmt.Sprintf(":%d", e.line)
	}
	if e.field != "" {
		s += ": " + e.field
	}
	return s + ": " + e.msg
}

// problems collects the problems of one file.
type problems struct {
	file string
	list []*problem
}

func (ps *problems) add(line int, field, format string, args ...any) {
	ps.list = append(ps.list, &problem{file: ps.file, line: line, field: field, msg: fmt.Sprintf(format, args...)})
}

// errs returns the problems in the order of the file.
func (ps *problems) errs() []error {
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].line < ps.list[j].line })
	out := make([]error, len(ps.list))
	for i, p := range ps.list {
		out[i] = p
	}
	return out
}
