package devproto_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
)

func TestKeyFiles(t *testing.T) {
	key, err := devproto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "device")
	if err := devproto.WriteKeyFiles(prefix, key); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the path to load
		want  error
	}{
		{"private key written by WriteKeyFiles", func(*testing.T) string { return prefix + ".key" }, nil},
		{"private key readable by others", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "open.key")
			b, _ := os.ReadFile(prefix + ".key")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, devproto.ErrKeyFileMode},
		{"private key that is not base64", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "bad.key")
			if err := os.WriteFile(p, []byte("not a key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, devproto.ErrInvalidKey},
		{"private key of the wrong length", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "short.key")
			if err := os.WriteFile(p, []byte("AAAA\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, devproto.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := devproto.LoadPrivateKey(tt.setup(t))
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadPrivateKey error = %v, want %v", err, tt.want)
			}
			if err == nil && got != key {
				t.Fatal("loaded a different key")
			}
		})
	}
	pub, err := devproto.LoadPublicKey(prefix + ".pub")
	if want, _ := key.Public(); err != nil || pub != want {
		t.Fatalf("LoadPublicKey = %v, %v", pub, err)
	}
	if err := devproto.WriteKeyFiles(prefix, key); err == nil {
		t.Fatal("WriteKeyFiles overwrote a private key")
	}
}

func TestKeyFixtures(t *testing.T) {
	// testdata/gateway.pub is a committed key file: the format is stable.
	pub, err := devproto.LoadPublicKey(filepath.Join("testdata", "gateway.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if pub.String() != "k6jfTSSxb1RgPl+R2JvvhKUHhzBz6BwDfs54JqyaaHU=" {
		t.Fatalf("fixture decoded to %v", pub)
	}
}

func TestSecretsDoNotFormat(t *testing.T) {
	key := devproto.PrivateKey{1, 2, 3}
	l := devproto.Login{DeviceID: "d", UserID: "u", Password: "hunter2"}
	st := devproto.ServerStatus{ResumeToken: devproto.ResumeToken{0xab, 0xcd}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{key, l, &l, st} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "hunter2") || strings.Contains(out, "171") || strings.Contains(out, "0xab") || strings.Contains(out, "AQID") {
				t.Errorf("%s of %T leaks a secret: %s", verb, v, out)
			}
		}
	}
}

func TestResumeTokenHash(t *testing.T) {
	tok, err := devproto.NewResumeToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Hash()
	other := tok
	other[0] ^= 1
	tests := []struct {
		name  string
		token devproto.ResumeToken
		want  bool
	}{
		{"the token verifies", tok, true},
		{"a different token does not", other, false},
		{"a zero token never does", devproto.ResumeToken{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Verify(tt.token); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	text, err := h.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back devproto.TokenHash
	if err := back.UnmarshalText(text); err != nil || back != h {
		t.Fatalf("hash text round trip: %v", err)
	}
}

// TestWriteKeyFilesRefusesAnExistingPublicKey: a .pub already there (a
// provisioned gateway key, say) is not replaced by one whose .key differs,
// and no .key is left behind.
func TestWriteKeyFilesRefusesAnExistingPublicKey(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "gateway")
	if err := os.WriteFile(prefix+".pub", []byte("k6jfTSSxb1RgPl+R2JvvhKUHhzBz6BwDfs54JqyaaHU=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := devproto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := devproto.WriteKeyFiles(prefix, key); !errors.Is(err, os.ErrExist) {
		t.Fatalf("err = %v, want os.ErrExist", err)
	}
	if _, err := os.Stat(prefix + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a private key was left behind: %v", err)
	}
}
