package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes src to a fresh parley.yaml and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineOf is the 1-based line of the first line of src containing marker, so
// tests name the line they mean instead of counting.
func lineOf(t *testing.T, src, marker string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not in source", marker)
	return 0
}

// problems returns the Problems of a config error, failing if it is not one.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %T: %v", err, err)
	}
	return ce.Problems
}

// wantProblems checks that err reports exactly len(want) problems and that
// each wanted substring is in a different one.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	ps := problems(t, err)
	if len(ps) != len(want) {
		t.Fatalf("want %d problems, got %d:\n%v", len(want), len(ps), err)
	}
	used := make([]bool, len(ps))
next:
	for _, w := range want {
		for i, p := range ps {
			if !used[i] && strings.Contains(p.String(), w) {
				used[i] = true
				continue next
			}
		}
		t.Errorf("no problem contains %q:\n%v", w, err)
	}
}

func TestLoadWithoutFileUsesDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no parley.yaml here
	cfg, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source != "" {
		t.Errorf("Source = %q, want empty", cfg.Source)
	}
	want := Default()
	cfg.origins = nil
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got %+v\nwant %+v", *cfg, want)
	}
}

func TestLoadFindsParleyYAMLInWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, DefaultPath), []byte("server:\n  listen: \":7000\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source != DefaultPath || cfg.Server.Listen != ":7000" {
		t.Errorf("Source = %q, Listen = %q; want %q, \":7000\"", cfg.Source, cfg.Server.Listen, DefaultPath)
	}
}

func TestLoadMissingFileIsAnError(t *testing.T) {
	_, err := load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestLoadFileOverridesDefaults(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"empty file", "", func(t *testing.T, c *Config) {
			if c.Server.Listen != ":12345" {
				t.Errorf("Listen = %q", c.Server.Listen)
			}
		}},
		{"comments only", "# nothing\n", func(t *testing.T, c *Config) {
			if c.DB.Driver != "sqlite" {
				t.Errorf("Driver = %q", c.DB.Driver)
			}
		}},
		{"one key keeps its siblings", "transport:\n  max_frame: 2048\n", func(t *testing.T, c *Config) {
			if c.Transport.MaxFrame != 2048 || c.Transport.MaxQueued != 4*mib || c.Transport.KeepAlive != 30*time.Second {
				t.Errorf("Transport = %+v", c.Transport)
			}
		}},
		{"durations strings ints", `
server: {listen: "127.0.0.1:7000", shutdown_timeout: 90s}
db: {driver: postgres, dsn: "postgres://u@h/db", max_open_conns: 20, max_idle_conns: 4}
log: {level: debug, encoding: console}
admin: {listen: ""}
accounts: {resume_ttl: 24h}
`, func(t *testing.T, c *Config) {
			if c.Server.Listen != "127.0.0.1:7000" || c.Server.ShutdownTimeout != 90*time.Second {
				t.Errorf("Server = %+v", c.Server)
			}
			if c.DB.Driver != "postgres" || c.DB.DSN != "postgres://u@h/db" || c.DB.MaxOpenConns != 20 || c.DB.MaxIdleConns != 4 {
				t.Errorf("DB = %+v", c.DB)
			}
			if c.Log.Level != "debug" || c.Log.Encoding != "console" || c.Admin.Listen != "" || c.Accounts.ResumeTTL != 24*time.Hour {
				t.Errorf("Log = %+v, Admin = %+v, Accounts = %+v", c.Log, c.Admin, c.Accounts)
			}
		}},
		{"empty section keeps defaults", "server:\n", func(t *testing.T, c *Config) {
			if c.Server != Default().Server {
				t.Errorf("Server = %+v", c.Server)
			}
		}},
		{"merge keys inside a section", `
db:
  <<: {max_open_conns: 16, max_idle_conns: 2}
  max_idle_conns: 3
`, func(t *testing.T, c *Config) {
			if c.DB.MaxOpenConns != 16 || c.DB.MaxIdleConns != 3 {
				t.Errorf("DB = %+v; want merged 16 and own 3", c.DB)
			}
		}},
		{"pipeline replaces the default chain", `
pipeline:
  - use: recover
  - use: auth
    only: [send_message]
`, func(t *testing.T, c *Config) {
			if len(c.Pipeline) != 2 || c.Pipeline[0].Use != "recover" || c.Pipeline[1].Use != "auth" {
				t.Fatalf("Pipeline = %+v", c.Pipeline)
			}
			if !reflect.DeepEqual(c.Pipeline[1].Only, []string{"send_message"}) {
				t.Errorf("Only = %v", c.Pipeline[1].Only)
			}
		}},
		{"anchors and aliases in with", `
pipeline:
  - use: logging
    with: &quiet {level: warn}
  - use: metrics
    with: *quiet
`, func(t *testing.T, c *Config) {
			var o struct {
				Level string `yaml:"level"`
			}
			if err := DecodeStrict(&c.Pipeline[1].With, &o); err != nil || o.Level != "warn" {
				t.Errorf("aliased with decoded to %+v, %v", o, err)
			}
		}},
		{"empty pipeline is allowed", "pipeline: []\n", func(t *testing.T, c *Config) {
			if len(c.Pipeline) != 0 {
				t.Errorf("Pipeline = %+v", c.Pipeline)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(writeConfig(t, tc.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestUnknownKeysNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, src, marker, key, msg string
	}{
		{"top level", "server:\n  listen: \":1\"\nservre:\n  listen: x\n", "servre:", "servre", `did you mean "server"?`},
		{"in a section", "transport:\n  loops: 2\n  max_fram: 10\n", "max_fram", "transport.max_fram", `did you mean "max_frame"?`},
		{"camel case", "db:\n  maxOpenConns: 3\n", "maxOpenConns", "db.maxOpenConns", `did you mean "max_open_conns"?`},
		{"no suggestion", "log:\n  colour: red\n", "colour", "log.colour", "known: level, encoding"},
		{"pipeline entry", "pipeline:\n  - use: recover\n    whith: {}\n", "whith", "pipeline[0].whith", `did you mean "with"?`},
		{"Source is not a key", "source: x.yaml\n", "source", "source", "unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.src)
			_, err := load(path, nil)
			where := fmt.Sprintf("%s:%d: %s: unknown key", path, lineOf(t, tc.src, tc.marker), tc.key)
			wantProblems(t, err, where)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error does not contain %q:\n%v", tc.msg, err)
			}
		})
	}
}

func TestFileShapeErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, src, marker, want string
	}{
		{"tab indent", "server:\n  listen: \":1\"\n\tshutdown_timeout: 1s\n", "\tshutdown", "invalid YAML: found character that cannot start any token"},
		{"bad nesting", "db:\n  driver: sqlite\n   dsn: x\n", "dsn", "invalid YAML: mapping values are not allowed"},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", "level: debug", "log.level: set twice (first at line 2)"},
		{"int as duration", "server:\n  shutdown_timeout: 10\n", "shutdown_timeout", `server.shutdown_timeout: want a duration such as "90s" or "5m", got "10"`},
		{"word as int", "transport:\n  max_frame: 1MiB\n", "max_frame", `transport.max_frame: want a whole number, got "1MiB"`},
		{"mapping as scalar", "db:\n  dsn: {a: b}\n", "dsn", "db.dsn: want a string, got a mapping"},
		{"null value", "db:\n  driver:\n", "driver", "db.driver: has no value"},
		{"section not a mapping", "server: 12\n", "server", `server: want a mapping of keys, got "12"`},
		{"pipeline not a list", "pipeline: {use: auth}\n", "pipeline", "pipeline: want a list"},
		{"pipeline null", "pipeline:\n", "pipeline", "pipeline: has no value; write []"},
		{"pipeline scalar entry", "pipeline:\n  - recover\n", "- recover", `pipeline[0]: each entry is a mapping; write "- use: recover"`},
		{"with not a mapping", "pipeline:\n  - use: auth\n    with: 5\n", "with", "pipeline[0].with: want a mapping of options"},
		{"only not a list", "pipeline:\n  - use: auth\n    only: login\n", "only", "pipeline[0].only: want a list of message types"},
		{"second document", "server: {}\n---\nlog: {}\n", "---", "a second YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.src)
			_, err := load(path, nil)
			if err == nil {
				t.Fatal("want an error")
			}
			where := path + ":"
			if tc.marker != "" {
				where = fmt.Sprintf("%s:%d: ", path, lineOf(t, tc.src, tc.marker))
			}
			wantProblems(t, err, where+tc.want)
		})
	}
}

func TestPipelinePosIsEntryLine(t *testing.T) {
	src := `# chain
pipeline:
  - use: recover
  - use: logging
    except: [ping]

  - use: ratelimit
    with:
      rate: 10
`
	path := writeConfig(t, src)
	cfg, err := load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, use := range []string{"recover", "logging", "ratelimit"} {
		want := fmt.Sprintf("%s:%d", path, lineOf(t, src, "use: "+use))
		if cfg.Pipeline[i].Use != use || cfg.Pipeline[i].Pos != want {
			t.Errorf("Pipeline[%d] = %q at %q, want %q at %q", i, cfg.Pipeline[i].Use, cfg.Pipeline[i].Pos, use, want)
		}
	}
	for _, sp := range Default().Pipeline {
		if sp.Pos != "defaults" {
			t.Errorf("default %s Pos = %q", sp.Use, sp.Pos)
		}
	}
}

// TestPipelineWithIsKeptForBuild checks the hand-off to pipeline.Build: the
// with: node decodes strictly into a middleware's options, and an unknown
// option there is reported with its own line.
func TestPipelineWithIsKeptForBuild(t *testing.T) {
	src := "pipeline:\n  - use: ratelimit\n    with:\n      rate: 10\n      burts: 5\n"
	cfg, err := load(writeConfig(t, src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		Rate  int `yaml:"rate"`
		Burst int `yaml:"burst"`
	}
	err = DecodeStrict(&cfg.Pipeline[0].With, &opts)
	if want := fmt.Sprintf("line %d", lineOf(t, src, "burts")); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("DecodeStrict error = %v, want it to mention %s", err, want)
	}
	var ok struct {
		Rate  int `yaml:"rate"`
		Burts int `yaml:"burts"`
	}
	if err := DecodeStrict(&cfg.Pipeline[0].With, &ok); err != nil || ok.Rate != 10 || ok.Burts != 5 {
		t.Fatalf("decoded %+v, %v", ok, err)
	}
}
