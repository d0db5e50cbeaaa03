package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// envPrefix starts every variable Load reads. A variable is
// PARLEY_<SECTION>_<KEY> with the YAML names upper-cased, e.g. db.dsn is
// PARLEY_DB_DSN and transport.max_frame is PARLEY_TRANSPORT_MAX_FRAME.
const envPrefix = "PARLEY_"

// leaf is one scalar key that the environment can override.
type leaf struct {
	key   string // "transport.max_frame"
	env   string // "PARLEY_TRANSPORT_MAX_FRAME"
	index []int  // field path inside Config
	typ   reflect.Type
}

// envLeaves derives the variables from the yaml tags, so a field added to a
// section is overridable without touching this file. The pipeline is a list
// and stays file-only.
func envLeaves() []leaf {
	var out []leaf
	for _, sec := range fieldsOf(reflect.TypeOf(Config{})) {
		if sec.typ.Kind() != reflect.Struct {
			continue
		}
		for _, f := range fieldsOf(sec.typ) {
			out = append(out, leaf{
				key:   sec.name + "." + f.name,
				env:   envPrefix + strings.ToUpper(sec.name+"_"+f.name),
				index: []int{sec.index, f.index},
				typ:   f.typ,
			})
		}
	}
	return out
}

// applyEnv overrides cfg from environ ("NAME=value" entries, as os.Environ
// returns). A PARLEY_ variable whose section is not a config section (say
// PARLEY_CONFIG) belongs to someone else and is ignored; one whose section
// matches but whose key does not is a typo and is reported, since silently
// ignoring it would leave the operator believing it took effect.
func applyEnv(cfg *Config, environ []string) []Problem {
	leaves := envLeaves()
	byName := make(map[string]leaf, len(leaves))
	sections := map[string][]string{}
	for _, l := range leaves {
		byName[l.env] = l
		sec, _, _ := strings.Cut(strings.TrimPrefix(l.env, envPrefix), "_")
		sections[sec] = append(sections[sec], l.env)
	}
	sorted := append([]string(nil), environ...)
	sort.Strings(sorted) // deterministic problem order
	var problems []Problem
	root := reflect.ValueOf(cfg).Elem()
	for _, kv := range sorted {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(name, envPrefix)
		if !ok {
			continue
		}
		at := origin{env: name}
		sec, _, _ := strings.Cut(rest, "_")
		if sec == "PIPELINE" {
			problems = append(problems, problemAt(at, "", "the pipeline is an ordered list and is set in the file only"))
			continue
		}
		known, isSection := sections[sec]
		if !isSection {
			continue
		}
		l, ok := byName[name]
		if !ok {
			problems = append(problems, problemAt(at, "", "unknown variable"+suggest(name, known)))
			continue
		}
		v, err := parseText(l.typ, value)
		if err != nil {
			problems = append(problems, problemAt(at, l.key, fmt.Sprintf("want %s, got %q", describeType(l.typ), value)))
			continue
		}
		root.FieldByIndex(l.index).Set(v)
		for k := range cfg.origins {
			if strings.HasPrefix(k, l.key+"[") {
				delete(cfg.origins, k) // the file's entries were replaced
			}
		}
		cfg.origins[l.key] = at
	}
	return problems
}

// parseText parses an environment value for a leaf of type t. It accepts the
// same spellings as the file: "90s" for durations, base-10 integers,
// true/false.
func parseText(t reflect.Type, s string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return v, err
		}
		v.SetInt(int64(d))
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return v, err
		}
		v.SetInt(n)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return v, err
		}
		v.SetBool(b)
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		// A list is comma-separated ("10.0.0.0/8, 192.0.2.7"); empty is
		// the empty list.
		list := []string{}
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return v, fmt.Errorf("unsupported type %s", t)
	}
	return v, nil
}

// suggest returns `; did you mean "x"?` for the known name closest to got, or
// "" when none is close: a typo should cost one glance, not a trip to the docs.
func suggest(got string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3 // more than two edits apart is not a typo
	for _, k := range known {
		if norm(k) == norm(got) {
			return fmt.Sprintf("; did you mean %q?", k)
		}
		if d := editDistance(got, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, or limit when it
// is at least limit (cheap to reject: lengths differing by limit or more).
func editDistance(a, b string, limit int) int {
	if len(a)-len(b) >= limit || len(b)-len(a) >= limit || len(a) > 64 || len(b) > 64 {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
