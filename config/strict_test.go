package config

import (
	"fmt"
	"strings"
	"testing"
)

// rateOptions mirrors the shape of ratelimit's options: a map of rules, each
// with optional per-scope limits.
type rateOptions struct {
	Rules map[string]struct {
		Session *struct {
			Rate  float64 `yaml:"rate"`
			Burst int     `yaml:"burst"`
		} `yaml:"session"`
	} `yaml:"rules"`
}

// TestMergeKeysInWith: the file and a with: node are decoded by the same
// decoder, so a merge key accepted in a section is accepted in with: too
// (issue 12: `with: {<<: *defaults, burst: 3}` loaded, then failed in
// pipeline.Build with `unknown option "<<"`).
func TestMergeKeysInWith(t *testing.T) {
	src := `pipeline:
  - use: ratelimit
    with:
      rules:
        login: {session: &defaults {rate: 2, burst: 1}}
        register: {session: {<<: *defaults, burst: 3}}
`
	cfg, err := load(writeConfig(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var o rateOptions
	if err := DecodeStrict(&cfg.Pipeline[0].With, &o); err != nil {
		t.Fatalf("DecodeStrict: %v", err)
	}
	if s := o.Rules["register"].Session; s == nil || s.Rate != 2 || s.Burst != 3 {
		t.Errorf("register = %+v; want rate 2 merged from login, own burst 3", s)
	}
	if s := o.Rules["login"].Session; s == nil || s.Rate != 2 || s.Burst != 1 {
		t.Errorf("login = %+v", s)
	}
}

// TestMergeKeysAtTopLevel: a merge key in the document itself sets sections.
// Merged keys are decoded first and the document's own over them, so a
// section both merged and written keeps the merged keys it does not repeat
// (as yaml.v3 does when it decodes merges into a struct).
func TestMergeKeysAtTopLevel(t *testing.T) {
	src := `<<: {log: {level: debug}, db: {max_open_conns: 4}}
db: {max_idle_conns: 2}
`
	cfg, err := load(writeConfig(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.DB.MaxOpenConns != 4 || cfg.DB.MaxIdleConns != 2 {
		t.Errorf("log %+v, db %+v", cfg.Log, cfg.DB)
	}
}

// TestUnknownKeyInWithNamesItsLine: strictness is kept through merges; an
// unknown option, merged or not, is reported at its own line, with a
// did-you-mean.
func TestUnknownKeyInWithNamesItsLine(t *testing.T) {
	src := `pipeline:
  - use: ratelimit
    with:
      rules:
        login: {session: &defaults {rate: 2, burts: 1}}
        register: {session: {<<: *defaults, burst: 3, rtae: 1}}
`
	cfg, err := load(writeConfig(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var o rateOptions
	err = DecodeStrict(&cfg.Pipeline[0].With, &o)
	for _, want := range []string{
		fmt.Sprintf(`line %d: unknown option "burts"; did you mean "burst"?`, lineOf(t, src, "burts")),
		fmt.Sprintf(`line %d: unknown option "rtae"; did you mean "rate"?`, lineOf(t, src, "rtae")),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeStrict error = %v; want it to contain %s", err, want)
		}
	}
}
