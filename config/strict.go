package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// strictDecoder is Parley's one YAML decoder: Load decodes the configuration
// file with it, and DecodeStrict (pipeline.Build) each middleware's with:
// options, so both accept the same YAML (anchors, aliases, "<<" merge keys)
// and refuse the same mistakes. It walks the node tree against the Go type
// rather than calling yaml's Decode on the whole document, so that every
// unknown key, duplicate key and badly typed value is reported (not just the
// first), each with its own line; yaml's own decoding is used for the leaves.
type strictDecoder struct {
	// file and origins, when origins is not nil, record where each key was
	// set (Load's Validate points at them).
	file    string
	origins map[string]origin
	// special decodes the types the generic walk does not know (Config's
	// pipeline list); it reports whether it handled v.
	special  func(n *yaml.Node, v reflect.Value, key string, line int) bool
	problems []nodeProblem
}

// nodeProblem is one mistake in the YAML, at a line of it.
type nodeProblem struct {
	line int
	key  string // dotted path: "transport.max_frame", "rules.login.burst"
	msg  string
	// unknown is the name of an unknown key ("" for other problems); known
	// lists the names that would have been accepted there.
	unknown string
	known   []string
}

func (d *strictDecoder) fail(line int, key, format string, args ...any) {
	d.problems = append(d.problems, nodeProblem{line: line, key: key, msg: fmt.Sprintf(format, args...)})
}

func (d *strictDecoder) seen(key string, line int) {
	if d.origins != nil {
		d.origins[key] = origin{file: d.file, line: line}
	}
}

// value decodes n into v. line is the line of n's key, where a problem with
// a leaf is reported.
func (d *strictDecoder) value(n *yaml.Node, v reflect.Value, key string, line int) {
	n = resolve(n)
	if d.special != nil && d.special(n, v, key, line) {
		return
	}
	switch t := v.Type(); t.Kind() {
	case reflect.Struct:
		d.mapping(n, v, key)
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero() // "session: ~": no value, as yaml decodes it
			return
		}
		p := reflect.New(t.Elem())
		d.value(n, p.Elem(), key, line)
		v.Set(p)
	case reflect.Map:
		d.mapOf(n, v, key, line)
	case reflect.Slice:
		d.list(n, v, key, line)
	default:
		d.scalar(n, v, key, line)
	}
}

// mapping decodes a YAML mapping over the struct v, leaving keys the YAML
// does not mention at their current (default) values.
func (d *strictDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return // "server:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.keys(n, path) {
		f, ok := fieldNamed(fields, p.name)
		if !ok {
			d.problems = append(d.problems, nodeProblem{line: p.key.Line, key: p.path, unknown: p.name, known: fieldNames(fields)})
			continue
		}
		d.seen(p.path, p.key.Line)
		d.value(p.value, v.Field(f.index), p.path, p.key.Line)
	}
}

// mapOf decodes a mapping into a Go map, adding to the entries v has.
func (d *strictDecoder) mapOf(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	for _, p := range d.keys(n, path) {
		k := reflect.New(t.Key()).Elem()
		if err := p.key.Decode(k.Addr().Interface()); err != nil {
			d.fail(p.key.Line, p.path, "want %s as key, got %q", describeType(t.Key()), p.name)
			continue
		}
		e := reflect.New(t.Elem()).Elem()
		d.value(p.value, e, p.path, p.key.Line)
		v.SetMapIndex(k, e)
	}
}

// list decodes a sequence into a slice, replacing what v held.
func (d *strictDecoder) list(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(line, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		key, line := fmt.Sprintf("%s[%d]", path, i), resolve(e).Line
		d.seen(key, line) // so Validate can point at the entry, not the list
		d.value(e, s.Index(i), key, line)
	}
	v.Set(s)
}

// scalar decodes one leaf value into v, which keeps its value on error.
func (d *strictDecoder) scalar(n *yaml.Node, v reflect.Value, key string, line int) {
	want := describeType(v.Type())
	switch {
	case n.Kind != yaml.ScalarNode:
		d.fail(line, key, "want %s, got %s", want, describe(n))
		return
	case isNull(n):
		d.fail(line, key, "has no value; want %s", want)
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(line, key, "want %s, got %q", want, n.Value)
		return
	}
	v.Set(tmp.Elem())
}

// namedPair is a pair whose key is a plain name, seen once.
type namedPair struct {
	pair
	name string // the key
	path string // the key's dotted path, for messages
}

// keys returns n's pairs, reporting (and skipping) keys that are not plain
// names and keys set twice in the mapping itself (a merged key may be
// overridden; that is what merges are for).
func (d *strictDecoder) keys(n *yaml.Node, path string) []namedPair {
	var out []namedPair
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		if p.key.Kind != yaml.ScalarNode {
			d.fail(p.key.Line, path, "keys must be plain names, got %s", describe(p.key))
			continue
		}
		name := p.key.Value
		key := joinKey(path, name)
		if !p.merged {
			if first, dup := seen[name]; dup {
				d.fail(p.key.Line, key, "set twice (first at line %d); remove one", first)
				continue
			}
			seen[name] = p.key.Line
		}
		out = append(out, namedPair{pair: p, name: name, path: key})
	}
	return out
}

type pair struct {
	key, value *yaml.Node
	merged     bool // came from a "<<: *anchor" merge; the mapping's own keys override it
}

// pairs lists a mapping's key/value pairs, expanding YAML merge keys first so
// that the mapping's own keys, which come after, win.
func (d *strictDecoder) pairs(n *yaml.Node, path string) []pair {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMergeKey(k) {
			own = append(own, pair{key: k, value: v})
			continue
		}
		src := resolve(v)
		sources := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			sources = src.Content
		}
		for _, m := range sources {
			m = resolve(m)
			if m.Kind != yaml.MappingNode {
				d.fail(k.Line, path, "<<: want a mapping or a list of mappings, got %s", describe(m))
				continue
			}
			for _, p := range d.pairs(m, path) {
				p.merged = true
				merged = append(merged, p)
			}
		}
	}
	return append(merged, own...)
}

// DecodeStrict decodes a YAML node into out (a pointer to a struct) with the
// decoder Load uses for the file: merge keys and aliases are resolved, and
// every key that out's type does not declare, at any depth, is an error
// naming its line, as is a duplicate key or a badly typed value. An empty
// node leaves out as it is (the middleware's factory applies its defaults).
// pipeline.Build calls it on each entry's with: node.
func DecodeStrict(node *yaml.Node, out any) error {
	if node == nil || node.Kind == 0 {
		return nil
	}
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("config: DecodeStrict needs a non-nil pointer, got %T", out)
	}
	var d strictDecoder
	d.value(node, v.Elem(), "", node.Line)
	if len(d.problems) == 0 {
		return nil
	}
	msgs := make([]string, len(d.problems))
	for i, p := range d.problems {
		msgs[i] = fmt.Sprintf("line %d: %s", p.line, optionMsg(p))
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// optionMsg words a problem in a middleware's options.
func optionMsg(p nodeProblem) string {
	if p.unknown != "" {
		return fmt.Sprintf("unknown option %q%s", p.unknown, suggest(p.unknown, p.known))
	}
	if p.key == "" {
		return p.msg
	}
	return p.key + ": " + p.msg
}

// field is one YAML-visible field of a struct.
type field struct {
	name  string
	index int
	typ   reflect.Type
}

// fieldsOf lists the fields of struct t that YAML sees, in declaration order,
// named by their yaml tag or, untagged, by their lower-cased name (as yaml
// does). Source (yaml:"-") and unexported fields are not configuration.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{name: name, index: i, typ: f.Type})
	}
	return out
}

func fieldNamed(fields []field, name string) (field, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func fieldNames(fields []field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// resolve follows an alias (*anchor) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// isMergeKey mirrors go-yaml's own test for "<<".
func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

var durationType = reflect.TypeOf(time.Duration(0))

// describeType names what a leaf accepts, in the words an operator would use.
func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "90s" or "5m"`
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice:
		return "a list"
	}
	return "a string"
}
