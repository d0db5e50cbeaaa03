package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEnvOverridesBeatFile(t *testing.T) {
	src := `server:
  listen: ":6000"
transport:
  max_frame: 4096
db:
  driver: sqlite
`
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *Config)
	}{
		{"file only", nil, func(t *testing.T, c *Config) {
			if c.Server.Listen != ":6000" || c.Transport.MaxFrame != 4096 {
				t.Errorf("Listen = %q, MaxFrame = %d", c.Server.Listen, c.Transport.MaxFrame)
			}
		}},
		{"string and int", []string{"PARLEY_SERVER_LISTEN=:7000", "PARLEY_TRANSPORT_MAX_FRAME=2048"}, func(t *testing.T, c *Config) {
			if c.Server.Listen != ":7000" || c.Transport.MaxFrame != 2048 {
				t.Errorf("Listen = %q, MaxFrame = %d", c.Server.Listen, c.Transport.MaxFrame)
			}
		}},
		{"driver and dsn", []string{"PARLEY_DB_DRIVER=postgres", "PARLEY_DB_DSN=postgres://u:p@h/db"}, func(t *testing.T, c *Config) {
			if c.DB.Driver != "postgres" || c.DB.DSN != "postgres://u:p@h/db" {
				t.Errorf("DB = %+v", c.DB)
			}
		}},
		{"durations", []string{"PARLEY_TRANSPORT_HEARTBEAT_TIMEOUT=90s", "PARLEY_ACCOUNTS_RESUME_TTL=1h30m"}, func(t *testing.T, c *Config) {
			if c.Transport.HeartbeatTimeout != 90*time.Second || c.Accounts.ResumeTTL != 90*time.Minute {
				t.Errorf("HeartbeatTimeout = %s, ResumeTTL = %s", c.Transport.HeartbeatTimeout, c.Accounts.ResumeTTL)
			}
		}},
		{"empty string disables admin", []string{"PARLEY_ADMIN_LISTEN="}, func(t *testing.T, c *Config) {
			if c.Admin.Listen != "" {
				t.Errorf("Admin.Listen = %q", c.Admin.Listen)
			}
		}},
		{"other PARLEY_ variables are not ours", []string{"PARLEY_CONFIG=/etc/parley.yaml", "PARLEYX=1", "HOME=/root"}, func(t *testing.T, c *Config) {
			if c.Server.Listen != ":6000" {
				t.Errorf("Listen = %q", c.Server.Listen)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(writeConfig(t, src), tc.env)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

// TestLoadReadsProcessEnvironment goes through the exported Load, as
// parleyd does.
func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv("PARLEY_LOG_LEVEL", "debug")
	t.Setenv("PARLEY_TRANSPORT_WORKERS", "64")
	cfg, err := Load(writeConfig(t, "log:\n  level: warn\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Transport.Workers != 64 {
		t.Errorf("Level = %q, Workers = %d", cfg.Log.Level, cfg.Transport.Workers)
	}
}

func TestBadEnvValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"PARLEY_TRANSPORT_MAX_FRAME=1MiB", `env PARLEY_TRANSPORT_MAX_FRAME: transport.max_frame: want a whole number, got "1MiB"`},
		{"PARLEY_TRANSPORT_LOOPS=", `env PARLEY_TRANSPORT_LOOPS: transport.loops: want a whole number, got ""`},
		{"PARLEY_SERVER_SHUTDOWN_TIMEOUT=10", `env PARLEY_SERVER_SHUTDOWN_TIMEOUT: server.shutdown_timeout: want a duration`},
		{"PARLEY_TRANSPORT_MAX_FRAME=99999999999999999999", `env PARLEY_TRANSPORT_MAX_FRAME: transport.max_frame: want a whole number`},
		{"PARLEY_DB_DNS=x", `env PARLEY_DB_DNS: unknown variable; did you mean "PARLEY_DB_DSN"?`},
		{"PARLEY_PIPELINE=auth", "env PARLEY_PIPELINE: the pipeline is an ordered list and is set in the file only"},
		// Parses, then fails validation: still located at the variable.
		{"PARLEY_LOG_LEVEL=verbose", `env PARLEY_LOG_LEVEL: log.level: must be one of debug, info, warn, error, got "verbose"`},
		{"PARLEY_TRANSPORT_MAX_FRAME=10", "env PARLEY_TRANSPORT_MAX_FRAME: transport.max_frame: must be between 64 and 67108864, got 10"},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			t.Chdir(t.TempDir())
			_, err := load("", []string{tc.env})
			wantProblems(t, err, tc.want)
		})
	}
}

func TestEnvLeavesCoverEveryScalarKey(t *testing.T) {
	got := map[string]string{}
	for _, l := range envLeaves() {
		got[l.key] = l.env
	}
	want := map[string]string{
		"server.listen":                 "PARLEY_SERVER_LISTEN",
		"transport.max_frame":           "PARLEY_TRANSPORT_MAX_FRAME",
		"transport.heartbeat_timeout":   "PARLEY_TRANSPORT_HEARTBEAT_TIMEOUT",
		"db.dsn":                        "PARLEY_DB_DSN",
		"db.conn_max_idle_time":         "PARLEY_DB_CONN_MAX_IDLE_TIME",
		"log.sample_thereafter":         "PARLEY_LOG_SAMPLE_THEREAFTER",
		"admin.listen":                  "PARLEY_ADMIN_LISTEN",
		"web.listen":                    "PARLEY_WEB_LISTEN",
		"accounts.credential_cache_ttl": "PARLEY_ACCOUNTS_CREDENTIAL_CACHE_TTL",
	}
	for k, env := range want {
		if got[k] != env {
			t.Errorf("%s -> %q, want %q", k, got[k], env)
		}
	}
	if n := countLeaves(reflect.TypeOf(Config{})); len(got) != n {
		t.Errorf("%d env leaves, want %d (one per scalar key)", len(got), n)
	}
	for k := range got {
		if strings.HasPrefix(k, "pipeline") {
			t.Errorf("pipeline must not be overridable from the environment: %s", k)
		}
	}
}

// countLeaves counts the scalar fields of Config's sections independently of
// envLeaves.
func countLeaves(t reflect.Type) int {
	n := 0
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && f.Type.Kind() == reflect.Struct {
			n += f.Type.NumField()
		}
	}
	return n
}

func TestParseTextRejectsWhatFileRejects(t *testing.T) {
	for _, tc := range []struct {
		typ reflect.Type
		in  string
		ok  bool
	}{
		{reflect.TypeOf(0), "42", true},
		{reflect.TypeOf(0), "4.2", false},
		{reflect.TypeOf(0), "0x10", false},
		{durationType, "1h2m3s", true},
		{durationType, "3", false},
		{reflect.TypeOf(false), "true", true},
		{reflect.TypeOf(false), "yes", false},
		{reflect.TypeOf(""), "", true},
	} {
		_, err := parseText(tc.typ, tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseText(%s, %q) error = %v, want ok=%v", tc.typ, tc.in, err, tc.ok)
		}
	}
}
