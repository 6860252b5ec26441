package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/manifest"
)

func runKeysGateway(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"keys", "gateway"}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestKeysGateway: the pair is in the formats the edge and the devices
// read, the private half is 0600 and never printed, the instructions
// store it with file:// and provision devices with the .pub, and nothing
// is overwritten.
func TestKeysGateway(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "gateway")
	out, err := runKeysGateway(t, "--out", prefix)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, %v; want mode 0600", fi, err)
	}
	priv, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := devproto.LoadPublicKey(prefix + ".pub") // what a device is provisioned with
	if err != nil {
		t.Fatal(err)
	}
	// What the edge reads from Secrets Manager (the file's content, as
	// create-secret --secret-string file:// stores it).
	env, err := edge.EnvFrom(func(k string) string {
		return map[string]string{
			manifest.EnvTable: "t", manifest.EnvAuthorizeFunction: "a", manifest.EnvReleaseFunction: "r",
			manifest.EnvGatewayKey: string(priv),
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := env.GatewayKey.Public(); got != pub {
		t.Fatal("the edge's key from PREFIX.key does not match PREFIX.pub")
	}
	for _, want := range []string{
		pub.String(),
		"aws secretsmanager create-secret --name collabgw/gateway-private-key --secret-string file://" + prefix + ".key",
		"Provision devices with " + prefix + ".pub",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.TrimSpace(string(priv))) {
		t.Fatalf("the private key was printed:\n%s", out)
	}

	// Nothing is overwritten: not the pair, nor a lone .pub.
	if _, err := runKeysGateway(t, "--out", prefix); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second run: %v, want a refusal to overwrite", err)
	}
	if again, _ := os.ReadFile(prefix + ".key"); !bytes.Equal(again, priv) {
		t.Fatal("the private key changed")
	}
	lone := filepath.Join(t.TempDir(), "next")
	if err := os.WriteFile(lone+".pub", []byte(pub.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runKeysGateway(t, "--out", lone); !errors.Is(err, os.ErrExist) {
		t.Fatalf("with a .pub present: %v, want a refusal", err)
	}
	if _, err := runKeysGateway(t); err == nil || !strings.Contains(err.Error(), "--out PREFIX is required") {
		t.Fatalf("without --out: %v", err)
	}
}
