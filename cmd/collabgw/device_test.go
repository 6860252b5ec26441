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
