package main

import (
	"io"
	"strings"
	"text/tabwriter"
)

// table prints aligned columns for the operator CLI.
type table struct{ w *tabwriter.Writer }

func newTable(out io.Writer, headers ...string) *table {
	t := &table{w: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) { io.WriteString(t.w, strings.Join(cells, "\t")+"\n") }

func (t *table) flush() error { return t.w.Flush() }
