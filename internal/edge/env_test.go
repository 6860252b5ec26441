package edge

import (
	"encoding/base64"
	"io"
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
		{"missing function", map[string]string{manifest.EnvReleaseFunction: ""}, manifest.EnvReleaseFunction, nil},
		{"bad key", map[string]string{manifest.EnvGatewayKey: "nope"}, manifest.EnvGatewayKey, nil},
		{"lease under two heartbeats", map[string]string{manifest.EnvLeaseSeconds: "3", manifest.EnvHeartbeatSeconds: "2"}, "twice", nil},
		{"drain past the stop timeout", map[string]string{manifest.EnvDrainSeconds: "30"}, "stop timeout", nil},
		{"bad rate", map[string]string{manifest.EnvAddrLoginRate: "-1"}, manifest.EnvAddrLoginRate, nil},
		{"bad level", map[string]string{manifest.EnvLogLevel: "loud"}, manifest.EnvLogLevel, nil},
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
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
			if _, err := New(e.GatewayKey, "o", &fakeFunctions{}, &fakeFunctions{}, &fakeLeases{}, e.Options(e.Logger(io.Discard), nil)...); err != nil {
				t.Fatalf("options refused: %v", err)
			}
		})
	}
}

func keyText(t *testing.T) string {
	k := testKey(t, 0)
	return base64.StdEncoding.EncodeToString(k[:]) + "\n"
}

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

func testPeerKey(i int) peerlink.Key {
	var k peerlink.Key
	for j := range k {
		k[j] = byte(i*13 + j + 1)
	}
	return k
}

func peerKeyText(i int) string { return testPeerKey(i).Encode() }
