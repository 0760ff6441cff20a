package policy

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/approvals"
)

// yaml.v3 can decode a node only as a whole, and has no KnownFields mode for
// Node.Decode. So the decoder below walks the node tree itself, guided by
// the target's type: it checks every mapping key against the struct's yaml
// tags, and leaves only leaves (scalars, and values that decode themselves)
// to yaml.v3. Along the way it knows the path of every value, so that its
// messages name the field.

// maxSteps bounds the work of one decoding: aliases can make a small file
// expand into a huge tree ("billion laughs").
const maxSteps = 1_000_000

// decoder is the state of one strict decoding.
type decoder struct {
	*problems
	steps    int
	tooLarge bool
	// following holds the aliases being followed, to refuse an anchor that
	// contains itself instead of recursing forever.
	following map[*yaml.Node]bool
}

var (
	nodeType     = reflect.TypeOf(yaml.Node{})
	durationType = reflect.TypeOf(time.Duration(0))
)

// isUnmarshaler reports whether a pointer type decodes itself, in which case
// it gets the node as a whole.
func isUnmarshaler(t reflect.Type) bool {
	return t.Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) ||
		t.Implements(reflect.TypeOf((*interface {
			UnmarshalYAML(func(any) error) error
		})(nil)).Elem()) ||
		t.Implements(reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem())
}

// decode stores n into v (which must be settable) strictly; path names n in
// messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.steps++; d.steps > maxSteps {
		if !d.tooLarge {
			d.tooLarge = true
			d.add(n.Line, path, "the document is too large once its aliases are expanded")
		}
		return
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if n.Kind == yaml.AliasNode {
		if d.following[n] {
			d.add(n.Line, path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		if d.following == nil {
			d.following = make(map[*yaml.Node]bool)
		}
		d.following[n] = true
		d.decode(n.Alias, v, path)
		delete(d.following, n)
		return
	}
	if isNull(n) {
		v.Set(reflect.Zero(t))
		return
	}
	if isUnmarshaler(reflect.PointerTo(t)) {
		d.yamlDecode(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		// Left nil when the value is refused, so that checks of what was
		// given do not pile a second message on the first.
		before := len(d.list)
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem(), path)
		if len(d.list) == before {
			v.Set(e)
		}
	case reflect.Struct:
		d.decodeStruct(n, v, path, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Interface, reflect.Array:
		// Anything goes into an interface (map[string]any settings passed
		// through to a plugin); arrays are rare enough to leave to yaml.v3.
		d.yamlDecode(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

// decodeStruct decodes a mapping into a struct, refusing unknown and
// repeated keys. Problems about the mapping itself are reported under label,
// its fields under path.field.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path, label string) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, label, "expected a mapping, got %s", describe(n))
		return
	}
	fields, inline := structFields(v.Type())
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, label, seen)
		if !ok {
			continue
		}
		if idx, ok := fields[key]; ok {
			d.decode(val, v.FieldByIndex(idx), join(path, key))
			continue
		}
		if inline != nil {
			m := v.FieldByIndex(inline)
			if m.IsNil() {
				m.Set(reflect.MakeMap(m.Type()))
			}
			d.mapEntry(k, val, m, path)
			continue
		}
		d.add(k.Line, label, "unknown field %q%s", key, suggest(key, keys(fields)))
	}
}

// key returns the name of a mapping key, refusing keys that are not plain
// names and keys seen before in the same mapping.
func (d *decoder) key(k *yaml.Node, label string, seen map[string]int) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	switch {
	case k.Kind != yaml.ScalarNode:
		d.add(k.Line, label, "a key must be a plain name, not %s", describe(k))
		return "", false
	case k.ShortTag() == "!!merge":
		d.add(k.Line, label, "merge keys (<<) are not supported: write the fields out")
		return "", false
	}
	if first, dup := seen[k.Value]; dup {
		d.add(k.Line, label, "duplicate field %q (first at line %d)", k.Value, first)
		return "", false
	}
	seen[k.Value] = k.Line
	return k.Value, true
}

// decodeMap decodes a mapping into a map, entry by entry so that structs in
// it are decoded strictly too.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := d.key(n.Content[i], path, seen); ok {
			d.mapEntry(n.Content[i], n.Content[i+1], m, path)
		}
	}
	v.Set(m)
}

func (d *decoder) mapEntry(k, val *yaml.Node, m reflect.Value, path string) {
	kv := reflect.New(m.Type().Key()).Elem()
	d.decode(k, kv, path)
	ev := reflect.New(m.Type().Elem()).Elem()
	d.decode(val, ev, join(path, k.Value))
	m.SetMapIndex(kv, ev)
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		if v.Type().Elem().Kind() == reflect.Uint8 && n.Kind == yaml.ScalarNode {
			d.yamlDecode(n, v, path) // []byte from !!binary
			return
		}
		d.add(n.Line, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// decodeScalar decodes a scalar, more strictly than yaml.v3 does: it does
// not truncate 1.5 into an integer, nor read yes/no as booleans.
func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	want := wanted(t)
	if n.Kind != yaml.ScalarNode {
		d.add(n.Line, path, "expected %s, got %s", want, describe(n))
		return
	}
	tag := n.ShortTag()
	ok := true
	switch {
	case t == durationType:
	case t.Kind() == reflect.Bool:
		ok = tag == "!!bool"
	case reflect.Int <= t.Kind() && t.Kind() <= reflect.Uintptr:
		ok = tag == "!!int"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		ok = tag == "!!int" || tag == "!!float"
	}
	if ok && n.Decode(v.Addr().Interface()) == nil {
		return
	}
	if t == durationType {
		d.add(n.Line, path, "expected a duration such as 30s or 1m30s, got %s", describe(n))
		return
	}
	d.add(n.Line, path, "expected %s, got %s", want, describe(n))
}

// yamlDecode leaves n to yaml.v3, turning its errors into located problems.
func (d *decoder) yamlDecode(n *yaml.Node, v reflect.Value, path string) {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		d.add(n.Line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	for _, msg := range te.Errors {
		line, msg := splitLine(msg, n.Line)
		d.add(line, path, "%s", msg)
	}
}

// yamlLine matches the "line N: " that starts yaml.v3's messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// splitLine takes the line number out of a yaml.v3 message, or returns def.
func splitLine(msg string, def int) (int, string) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return def, strings.TrimPrefix(msg, "yaml: ")
	}
	line, err := strconv.Atoi(m[1])
	if err != nil {
		line = def
	}
	return line, msg[len(m[0]):]
}

// structFields maps the yaml names of a struct's fields to their index, as
// yaml.v3 does (name from the tag, else the lower-cased field name; "-"
// skipped; ",inline" structs flattened), and returns the index of an
// ",inline" map, which takes the keys no field claims.
func structFields(t reflect.Type) (fields map[string][]int, inlineMap []int) {
	fields = make(map[string][]int)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" && !strings.Contains(string(f.Tag), ":") {
			tag = string(f.Tag) // yaml.v3 accepts a bare tag too
		}
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if hasOption(opts, "inline") {
			switch f.Type.Kind() {
			case reflect.Map:
				inlineMap = []int{i}
			case reflect.Struct:
				sub, subMap := structFields(f.Type)
				for k, idx := range sub {
					fields[k] = append([]int{i}, idx...)
				}
				if subMap != nil {
					inlineMap = append([]int{i}, subMap...)
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = []int{i}
	}
	return fields, inlineMap
}

func hasOption(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// wanted names what a type expects, for "expected X, got Y" messages.
func wanted(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case reflect.Int <= t.Kind() && t.Kind() <= reflect.Uintptr:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return t.String()
}

// join appends a key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns ` (did you mean "x"?)` for the known name closest to key,
// when one is close enough to be a likely typo, else "".
func suggest(key string, known []string) string {
	best := approvals.Closest(key, known)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
