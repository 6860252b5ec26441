package edge

import (
	"encoding/base64"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/peerlink"
)

func TestEnvFrom(t *testing.T) {
	key := testKey(t, 0)
	base := map[string]string{
		manifest.EnvAuthorizeFunction: "authorize", manifest.EnvReleaseFunction: "release",
		manifest.EnvTable: "collabgw", manifest.EnvGatewayKey: keyText(t),
	}
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
		check   func(t *testing.T, e Env)
	}{
		{"defaults", nil, "", func(t *testing.T, e Env) {
			if e.ListenAddr != ":3101" || e.HealthAddr != ":8080" || e.Drain != 25*time.Second || !samePublic(t, e.GatewayKey, key) || e.AddrRate != DefaultAddrRate {
				t.Fatalf("%+v", e)
			}
		}},
		{"short lease", map[string]string{manifest.EnvLeaseSeconds: "3", manifest.EnvHeartbeatSeconds: "1", manifest.EnvAddrLoginRate: "0"}, "", func(t *testing.T, e Env) {
			if e.Lease != 3*time.Second || e.Heartbeat != time.Second || e.AddrRate != 0 {
				t.Fatalf("%+v", e)
			}
		}},
		{"peer link", map[string]string{manifest.EnvPeerKey: peerKeyText(1), manifest.EnvPeerKeyNext: peerKeyText(2), manifest.EnvPeerAddr: "10.0.0.5:4000"}, "", func(t *testing.T, e Env) {
			if e.PeerAddr != "10.0.0.5:4000" || e.PeerKey != testPeerKey(1) || e.PeerKeyNext != testPeerKey(2) {
				t.Fatalf("peer configuration %q, keys right: %v %v", e.PeerAddr, e.PeerKey == testPeerKey(1), e.PeerKeyNext == testPeerKey(2))
			}
		}},
		{"peer link off by default", nil, "", func(t *testing.T, e Env) {
			if e.PeerAddr != ":3102" || !e.PeerKey.IsZero() || !e.PeerKeyNext.IsZero() {
				t.Fatalf("peer configuration %q, key set %v", e.PeerAddr, !e.PeerKey.IsZero())
			}
		}},
		{"bad peer key", map[string]string{manifest.EnvPeerKey: "c2hvcnQ="}, manifest.EnvPeerKey, nil},
		{"next peer key alone", map[string]string{manifest.EnvPeerKeyNext: peerKeyText(2)}, manifest.EnvPeerKey, nil},
		{"bad peer address", map[string]string{manifest.EnvPeerAddr: "3102"}, "3102", nil},
		{"rotation", map[string]string{manifest.EnvGatewayKeyNext: keyTextOf(testKey(t, 1))}, "", func(t *testing.T, e Env) {
			if !samePublic(t, e.GatewayKey, key) || !samePublic(t, e.NextGatewayKey, testKey(t, 1)) {
				t.Fatal("keys not read")
			}
		}},
		{"no rotation", nil, "", func(t *testing.T, e Env) {
			if e.NextGatewayKey != (devproto.PrivateKey{}) {
				t.Fatal("a next key out of nowhere")
			}
		}},
		{"missing function", map[string]string{manifest.EnvReleaseFunction: ""}, manifest.EnvReleaseFunction + " is required", nil},
		{"missing key", map[string]string{manifest.EnvGatewayKey: ""}, manifest.EnvGatewayKey + " is required", nil},
		{"key not base64", map[string]string{manifest.EnvGatewayKey: "nope!"}, manifest.EnvGatewayKey + ": devproto: invalid key: not base64", nil},
		{"key of the wrong length", map[string]string{manifest.EnvGatewayKey: base64.StdEncoding.EncodeToString(make([]byte, 16))}, manifest.EnvGatewayKey + ": devproto: invalid key: 16 bytes, want 32", nil},
		{"next key of the wrong length", map[string]string{manifest.EnvGatewayKeyNext: base64.StdEncoding.EncodeToString(make([]byte, 33))}, manifest.EnvGatewayKeyNext + ": devproto: invalid key: 33 bytes", nil},
		{"next key is the current key: one key, no rotation", map[string]string{manifest.EnvGatewayKeyNext: keyText(t)}, "", func(t *testing.T, e Env) {
			if e.GatewayKey == (devproto.PrivateKey{}) || e.NextGatewayKey != (devproto.PrivateKey{}) {
				t.Fatal("a key set twice must start the edge with it once, as the current key")
			}
		}},
		{"lease under two heartbeats", map[string]string{manifest.EnvLeaseSeconds: "3", manifest.EnvHeartbeatSeconds: "2"}, "twice", nil},
		{"lease of a day", map[string]string{manifest.EnvLeaseSeconds: "86400"}, manifest.EnvLeaseSeconds + `="86400": want a whole number of seconds between 2 and 3600`, nil},
		{"grace of a day", map[string]string{manifest.EnvCoverageGraceSeconds: "86400"}, manifest.EnvCoverageGraceSeconds, nil},
		{"drain at the stop timeout", map[string]string{manifest.EnvDrainSeconds: "30"}, manifest.EnvDrainSeconds + `="30": want a whole number of seconds between 1 and 29`, nil},
		{"bad rate", map[string]string{manifest.EnvAddrLoginRate: "-1"}, manifest.EnvAddrLoginRate, nil},
		{"too many connections", map[string]string{manifest.EnvMaxConnections: "2000000"}, manifest.EnvMaxConnections, nil},
		{"bad level", map[string]string{manifest.EnvLogLevel: "loud"}, manifest.EnvLogLevel, nil},
		{"bad listen address", map[string]string{manifest.EnvListenAddr: "3101"}, manifest.EnvListenAddr + `="3101": want host:port`, nil},
		{"every mistake named", map[string]string{manifest.EnvTable: "", manifest.EnvDrainSeconds: "0", manifest.EnvGatewayKey: "nope!"},
			manifest.EnvTable + " is required: Name of the DynamoDB table\n" + manifest.EnvGatewayKey + ": devproto: invalid key: not base64: illegal base64 data at input byte 4\n" + manifest.EnvDrainSeconds + `="0"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			e, err := EnvFrom(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				for _, k := range []string{env[manifest.EnvGatewayKey], env[manifest.EnvGatewayKeyNext]} {
					if k = strings.TrimSpace(k); len(k) > 8 && strings.Contains(err.Error(), k) {
						t.Fatalf("the error holds a key: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
			opts, err := e.Options(e.Logger(io.Discard), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(e.GatewayKey, "o", &fakeFunctions{}, &fakeFunctions{}, &fakeLeases{}, opts...); err != nil {
				t.Fatalf("options refused: %v", err)
			}
		})
	}
}

func keyText(t *testing.T) string { return keyTextOf(testKey(t, 0)) }

// keyTextOf is k as a key file (and Secrets Manager) holds it.
func keyTextOf(k devproto.PrivateKey) string { return base64.StdEncoding.EncodeToString(k[:]) + "\n" }

func samePublic(t *testing.T, a, b devproto.PrivateKey) bool {
	pa, err := a.Public()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Public()
	if err != nil {
		t.Fatal(err)
	}
	return pa == pb
}

// TestREADMEListsEveryVariable keeps edge/README.md's configuration table
// in step with the manifest: every variable the edge reads is in it, with
// its default.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../../edge/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, name := range append(slices.Clone(manifest.Edge.Env), manifest.Edge.OptionalEnv...) {
			if strings.HasPrefix(line, "| ") && strings.Contains(strings.SplitN(line, " | ", 2)[0], "`"+name+"`") {
				rows[name] = line
			}
		}
	}
	for _, name := range append(slices.Clone(manifest.Edge.Env), manifest.Edge.OptionalEnv...) {
		row, ok := rows[name]
		if !ok {
			t.Errorf("edge/README.md's configuration table has no row for %s", name)
			continue
		}
		s, _ := manifest.SettingFor(name)
		if s.Default != "" && !strings.Contains(row, s.Default) {
			t.Errorf("edge/README.md gives %s without its default %s: %s", name, s.Default, row)
		}
		if s.Numeric() && !strings.Contains(row, manifest.FormatNumber(s.Max)) {
			t.Errorf("edge/README.md gives %s without its range (to %s): %s", name, manifest.FormatNumber(s.Max), row)
		}
	}
}

func testPeerKey(i int) peerlink.Key {
	var k peerlink.Key
	for j := range k {
		k[j] = byte(i*13 + j + 1)
	}
	return k
}

func peerKeyText(i int) string { return testPeerKey(i).Encode() }
