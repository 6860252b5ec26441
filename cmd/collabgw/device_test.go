package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
)

func TestDeviceKeygen(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "gw")
	run := func() (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"device", "keygen", "--out", prefix})
		err := root.Execute()
		return out.String(), err
	}
	out, err := run()
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	key, err := devproto.LoadPrivateKey(prefix + ".key")
	if err != nil {
		t.Fatalf("load private key: %v", err)
	}
	pub, err := devproto.LoadPublicKey(prefix + ".pub")
	if err != nil {
		t.Fatalf("load public key: %v", err)
	}
	if derived, _ := key.Public(); derived != pub {
		t.Fatal("the .pub file does not match the .key file")
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	priv, _ := os.ReadFile(prefix + ".key")
	if strings.Contains(out, strings.TrimSpace(string(priv))) || !strings.Contains(out, pub.String()) {
		t.Fatalf("keygen printed %q: want the public key and never the private one", out)
	}
	if _, err := run(); err == nil {
		t.Fatal("keygen overwrote an existing private key")
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"100/s", 100, true},
		{"100", 100, true},
		{" 2.5/s", 2.5, true},
		{"0", 0, false},
		{"-5/s", 0, false},
		{"fast", 0, false},
		{"NaN", 0, false},
		{"1e9/s", 0, false},
		{"100/m", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseRate(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
