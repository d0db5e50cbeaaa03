package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parley-im/parley/pipeline"
)

// fileDecoder walks the YAML node tree against the Config type itself rather
// than calling yaml's Decode on the whole document: that way every unknown
// key, duplicate key and badly typed value is reported (not just the first),
// each with its own line, and each key's line is remembered for Validate.
type fileDecoder struct {
	file     string
	origins  map[string]origin
	problems []Problem
}

var specsType = reflect.TypeOf([]pipeline.Spec(nil))

func (d *fileDecoder) fail(line int, key, format string, args ...any) {
	d.problems = append(d.problems, problemAt(origin{file: d.file, line: line}, key, fmt.Sprintf(format, args...)))
}

// mapping decodes a YAML mapping over the struct v, leaving keys the file
// does not mention at their current (default) values.
func (d *fileDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if isNull(n) {
		return // "server:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.keys(n, path) {
		name, key := p.name, p.path
		f, ok := fieldNamed(fields, name)
		if !ok {
			d.fail(p.key.Line, key, "unknown key%s (known: %s)", suggest(name, fieldNames(fields)), strings.Join(fieldNames(fields), ", "))
			continue
		}
		d.origins[key] = origin{file: d.file, line: p.key.Line}
		fv := v.Field(f.index)
		switch {
		case f.typ == specsType:
			d.pipeline(p.value, fv, key, p.key.Line)
		case f.typ.Kind() == reflect.Struct:
			d.mapping(p.value, fv, key)
		default:
			d.scalar(p.value, fv, key, p.key.Line)
		}
	}
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
func (d *fileDecoder) keys(n *yaml.Node, path string) []namedPair {
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
func (d *fileDecoder) pairs(n *yaml.Node, path string) []pair {
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

// scalar decodes one leaf value into v, which keeps its default on error.
func (d *fileDecoder) scalar(n *yaml.Node, v reflect.Value, key string, line int) {
	n = resolve(n)
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

// pipeline decodes the middleware list. It replaces the default chain
// entirely: merging two ordered lists has no obvious meaning. Each entry's
// with: node is kept as is; pipeline.Build decodes it strictly into the
// middleware's own options type.
func (d *fileDecoder) pipeline(n *yaml.Node, v reflect.Value, key string, line int) {
	n = resolve(n)
	switch {
	case isNull(n):
		d.fail(line, key, "has no value; write [] for an empty chain, or remove the key for the default chain")
		return
	case n.Kind != yaml.SequenceNode:
		d.fail(line, key, "want a list of middleware entries (- use: name), got %s", describe(n))
		return
	}
	// A malformed entry still takes its place in the list, so pipeline[i]
	// means the i-th entry of the file in every message.
	specs := make([]pipeline.Spec, 0, len(n.Content))
	for i, e := range n.Content {
		e = resolve(e)
		entry := fmt.Sprintf("%s[%d]", key, i)
		d.origins[entry] = origin{file: d.file, line: e.Line}
		switch {
		case e.Kind == yaml.MappingNode:
			specs = append(specs, d.spec(e, entry))
			continue
		case e.Kind == yaml.ScalarNode && !isNull(e):
			d.fail(e.Line, entry, "each entry is a mapping; write \"- use: %s\"", e.Value)
		default:
			d.fail(e.Line, entry, "want a mapping with use: (and optionally with:, only:, except:), got %s", describe(e))
		}
		specs = append(specs, pipeline.Spec{Use: e.Value, Pos: fmt.Sprintf("%s:%d", d.file, e.Line)})
	}
	v.Set(reflect.ValueOf(specs))
}

var specKeys = []string{"use", "with", "only", "except"}

func (d *fileDecoder) spec(e *yaml.Node, entry string) pipeline.Spec {
	sp := pipeline.Spec{Pos: fmt.Sprintf("%s:%d", d.file, e.Line)}
	for _, p := range d.keys(e, entry) {
		name, key := p.name, p.path
		d.origins[key] = origin{file: d.file, line: p.key.Line}
		val := resolve(p.value)
		switch name {
		case "use":
			d.scalar(val, reflect.ValueOf(&sp.Use).Elem(), key, p.key.Line)
		case "with":
			switch {
			case isNull(val):
				sp.With = yaml.Node{} // no options: the factory's defaults
			case val.Kind == yaml.MappingNode:
				sp.With = *val
			default:
				d.fail(p.key.Line, key, "want a mapping of options, got %s", describe(val))
			}
		case "only":
			sp.Only = d.names(val, key, p.key.Line)
		case "except":
			sp.Except = d.names(val, key, p.key.Line)
		default:
			d.fail(p.key.Line, key, "unknown key%s (known: %s)", suggest(name, specKeys), strings.Join(specKeys, ", "))
		}
	}
	return sp
}

// names decodes a list of message types for only: / except:.
func (d *fileDecoder) names(n *yaml.Node, key string, line int) []string {
	if n.Kind != yaml.SequenceNode {
		d.fail(line, key, "want a list of message types like [login, register], got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode || isNull(c) {
			d.fail(c.Line, fmt.Sprintf("%s[%d]", key, i), "want a message type name, got %s", describe(c))
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

// field is one YAML-visible field of a config struct.
type field struct {
	name  string
	index int
	typ   reflect.Type
}

// fieldsOf lists the fields of struct t that have a YAML name, in declaration
// order. Source (yaml:"-") and unexported fields are not configuration.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
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
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	}
	return "a string"
}
