package lambdaapi

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/manifest"
)

func TestEnvFrom(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Env
		wantErr string
	}{
		{"defaults", map[string]string{manifest.EnvTable: "t"}, Env{Table: "t", Lease: 30 * time.Second, Heartbeat: 10 * time.Second}, ""},
		{"everything set", map[string]string{manifest.EnvTable: "t", manifest.EnvLeaseSeconds: "60", manifest.EnvHeartbeatSeconds: "20", manifest.EnvLogLevel: "debug"},
			Env{Table: "t", Lease: time.Minute, Heartbeat: 20 * time.Second, LogLevel: slog.LevelDebug}, ""},
		{"table required", map[string]string{}, Env{}, manifest.EnvTable + " is required"},
		{"lease not a number", map[string]string{manifest.EnvTable: "t", manifest.EnvLeaseSeconds: "1m"}, Env{}, manifest.EnvLeaseSeconds},
		{"heartbeat zero", map[string]string{manifest.EnvTable: "t", manifest.EnvHeartbeatSeconds: "0"}, Env{}, manifest.EnvHeartbeatSeconds},
		{"unknown level", map[string]string{manifest.EnvTable: "t", manifest.EnvLogLevel: "loud"}, Env{}, manifest.EnvLogLevel},
		{"level in capitals", map[string]string{manifest.EnvTable: "t", manifest.EnvLogLevel: "WARN"}, Env{Table: "t", Lease: 30 * time.Second, Heartbeat: 10 * time.Second, LogLevel: slog.LevelWarn}, ""},
		{"lease of a day", map[string]string{manifest.EnvTable: "t", manifest.EnvLeaseSeconds: "86400"}, Env{}, `COLLABGW_LEASE_SECONDS="86400": want a whole number of seconds between 2 and 3600`},
		{"lease under two heartbeats", map[string]string{manifest.EnvTable: "t", manifest.EnvLeaseSeconds: "15"}, Env{}, "at least twice " + manifest.EnvHeartbeatSeconds},
		{"every mistake at once", map[string]string{manifest.EnvHeartbeatSeconds: "x", manifest.EnvLogLevel: "loud"}, Env{},
			manifest.EnvTable + " is required: Name of the DynamoDB table\n" + manifest.EnvHeartbeatSeconds + `="x": want a whole number of seconds between 1 and 1800` + "\n" + manifest.EnvLogLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EnvFrom(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("EnvFrom = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
