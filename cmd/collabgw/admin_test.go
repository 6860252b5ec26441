package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// run executes the CLI with args and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAdminManagesPoolsUsersDevicesAndSessions(t *testing.T) {
	ctx := context.Background()
	table := dynamotest.TableName(t)
	if err := admission.CreateTable(ctx, dynamotest.Client(t), table); err != nil {
		t.Fatal(err)
	}
	db := []string{"admin", "--table", table, "--endpoint", dynamotest.Endpoint(t)}
	keys := filepath.Join(t.TempDir(), "phone")
	if _, err := run(t, "device", "keygen", "--out", keys); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"set a pool", []string{"pool", "set", "sales", "--max-sessions", "50", "--idle-timeout", "10m", "--groupwise-host", "gw.example.com"}, `"maxSessions": 50`, ""},
		{"refuse a bad pool", []string{"pool", "set", "bad", "--max-sessions", "-1", "--groupwise-host", "gw"}, "", "maxSessions must be positive"},
		{"show it", []string{"pool", "show", "sales"}, `"port": 8300`, ""},
		{"add a user", []string{"user", "add", "alice", "--pool", "sales"}, "", ""},
		{"forbid her", []string{"user", "forbid", "alice"}, "", ""},
		{"forbid a stranger", []string{"user", "forbid", "nobody"}, "", "not found"},
		{"register a device", []string{"device", "register", "phone-1", "--user", "alice", "--pub", keys + ".pub"}, "", ""},
		{"refuse a device id the protocol cannot carry", []string{"device", "register", "my phone", "--user", "alice", "--pub", keys + ".pub"}, "", "invalid device id"},
		{"refuse a missing key file", []string{"device", "register", "phone-2", "--user", "alice", "--pub", keys + ".nope"}, "", "no such file"},
		{"list no sessions", []string{"sessions", "sales"}, "0 sessions, counter 0", ""},
		{"revoke the device", []string{"device", "revoke", "phone-1"}, "", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, err := run(t, append(db, st.args...)...)
			switch {
			case st.wantErr == "" && err != nil:
				t.Fatalf("error %v\n%s", err, out)
			case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, st.wantErr)
			case !strings.Contains(out, st.wantOut):
				t.Fatalf("output %q lacks %q", out, st.wantOut)
			}
		})
	}
	store, err := admission.New(dynamotest.Client(t), table)
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.GetUser(ctx, "alice")
	if err != nil || u.Permitted || u.Pool != "sales" {
		t.Fatalf("user %+v, %v; want alice forbidden in sales", u, err)
	}
	d, err := store.GetDevice(ctx, "phone-1")
	if err != nil || d.Active || d.UserID != "alice" || len(d.PublicKey) != 32 {
		t.Fatalf("device %+v, %v; want phone-1 of alice, revoked", d, err)
	}
	out, err := run(t, append(db, "sessions", "sales", "--json")...)
	var report struct {
		Pool     string `json:"pool"`
		Counter  *int   `json:"counter"`
		Sessions []any  `json:"sessions"`
	}
	if err != nil || json.Unmarshal([]byte(out), &report) != nil || report.Pool != "sales" || report.Counter == nil || *report.Counter != 0 || report.Sessions == nil {
		t.Fatalf("sessions --json = %q, %v; want the pool, its counter and its sessions", out, err)
	}
	if _, err := run(t, append(db, "pool", "show", "nowhere")...); !errors.Is(err, admission.ErrUnknownPool) {
		t.Fatalf("unknown pool: %v", err)
	}
}

// TestAdminLocalHonoursEndpoint: --local is a local stack anywhere, not
// only on the default port; without AWS configuration at all.
func TestAdminLocalHonoursEndpoint(t *testing.T) {
	ctx := context.Background()
	table := dynamotest.TableName(t)
	if err := admission.CreateTable(ctx, dynamotest.Client(t), table); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	out, err := run(t, "admin", "--local", "--endpoint", dynamotest.Endpoint(t), "--table", table,
		"pool", "set", "local", "--max-sessions", "3", "--groupwise-host", "127.0.0.1")
	if err != nil || !strings.Contains(out, `"maxSessions": 3`) {
		t.Fatalf("admin --local --endpoint: %q, %v", out, err)
	}
}
