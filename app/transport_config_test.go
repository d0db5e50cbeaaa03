package app

import (
	"runtime"
	"testing"

	"github.com/parley-im/parley/config"
)

// transport.workers left at 0 becomes 1024 per CPU on PostgreSQL (its
// batches of up to 1024 need that many messages in flight) and stays the
// transport's own default (256 per CPU) on SQLite; a set value is kept.
func TestTransportConfigWorkersPerDriver(t *testing.T) {
	cfg := config.Default()
	if got := transportConfig(&cfg).Workers; got != 0 {
		t.Fatalf("sqlite: workers = %d, want 0 (the transport's default)", got)
	}
	cfg.DB.Driver = "postgres"
	if got, want := transportConfig(&cfg).Workers, config.WorkersPerCPUPostgres*runtime.NumCPU(); got != want {
		t.Fatalf("postgres: workers = %d, want %d", got, want)
	}
	cfg.Transport.Workers = 3
	if got := transportConfig(&cfg).Workers; got != 3 {
		t.Fatalf("postgres, set: workers = %d, want 3", got)
	}
}
