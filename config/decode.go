package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileDecoder decodes the configuration file with the strict decoder (see
// strictDecoder), adding what only Config has: the pipeline list, whose
// with: nodes are kept undecoded for pipeline.Build.
type fileDecoder struct {
	strictDecoder
}

func newFileDecoder(file string, origins map[string]origin) *fileDecoder {
	d := &fileDecoder{strictDecoder{file: file, origins: origins}}
	d.special = func(n *yaml.Node, v reflect.Value, key string, line int) bool {
		if v.Type() != middlewaresType {
			return false
		}
		d.pipeline(n, v, key, line)
		return true
	}
	return d
}

var middlewaresType = reflect.TypeOf([]Middleware(nil))

// fileProblems words the decoder's problems for an operator, at file:line.
func (d *fileDecoder) fileProblems() []Problem {
	out := make([]Problem, len(d.problems))
	for i, p := range d.problems {
		msg := p.msg
		if p.unknown != "" {
			msg = fmt.Sprintf("unknown key%s (known: %s)", suggest(p.unknown, p.known), strings.Join(p.known, ", "))
		}
		out[i] = problemAt(origin{file: d.file, line: p.line}, p.key, msg)
	}
	return out
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
	specs := make([]Middleware, 0, len(n.Content))
	for i, e := range n.Content {
		e = resolve(e)
		entry := fmt.Sprintf("%s[%d]", key, i)
		d.seen(entry, e.Line)
		switch {
		case e.Kind == yaml.MappingNode:
			specs = append(specs, d.spec(e, entry))
			continue
		case e.Kind == yaml.ScalarNode && !isNull(e):
			d.fail(e.Line, entry, "each entry is a mapping; write \"- use: %s\"", e.Value)
		default:
			d.fail(e.Line, entry, "want a mapping with use: (and optionally with:, only:, except:), got %s", describe(e))
		}
		specs = append(specs, Middleware{Use: e.Value, Pos: fmt.Sprintf("%s:%d", d.file, e.Line)})
	}
	v.Set(reflect.ValueOf(specs))
}

var specKeys = []string{"use", "with", "only", "except"}

func (d *fileDecoder) spec(e *yaml.Node, entry string) Middleware {
	sp := Middleware{Pos: fmt.Sprintf("%s:%d", d.file, e.Line)}
	for _, p := range d.keys(e, entry) {
		name, key := p.name, p.path
		d.seen(key, p.key.Line)
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
			d.problems = append(d.problems, nodeProblem{line: p.key.Line, key: key, unknown: name, known: specKeys})
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
