package peerlink

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// testKey is a fixed key per i (never all zero).
func testKey(i int) Key {
	var k Key
	for j := range k {
		k[j] = byte(i*31 + j + 1)
	}
	return k
}

func TestParseKey(t *testing.T) {
	k := testKey(1)
	tests := []struct {
		name    string
		in      string
		want    Key
		wantErr bool
	}{
		{"base64", k.Encode(), k, false},
		{"surrounding space", "  " + k.Encode() + "\n", k, false},
		{"not base64", "!!not base64!!", Key{}, true},
		{"short", base64.StdEncoding.EncodeToString(make([]byte, 31)), Key{}, true},
		{"long", base64.StdEncoding.EncodeToString(make([]byte, 33)), Key{}, true},
		{"zero", base64.StdEncoding.EncodeToString(make([]byte, 32)), Key{}, true},
		{"empty", "", Key{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseKey = %v, %v; want error %v", got == tt.want, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidKey) {
					t.Fatalf("error %v is not ErrInvalidKey", err)
				}
				if strings.Contains(err.Error(), tt.in) && tt.in != "" {
					t.Fatalf("error quotes the input: %v", err)
				}
			}
		})
	}
}

func TestKeyIDs(t *testing.T) {
	a, b := testKey(1), testKey(2)
	if id1, id2 := a.ID(), a.ID(); id1 != id2 || id1 == b.ID() {
		t.Fatal("key ids must be stable and differ between keys")
	}
	if _, err := newKeyring(a, Key{}); err != nil {
		t.Fatal(err)
	}
	kr, err := newKeyring(a, a) // the same key twice is one key
	if err != nil || kr.n != 1 {
		t.Fatalf("keyring of a key twice: n=%d, %v", kr.n, err)
	}
	if _, err := newKeyring(Key{}, b); err == nil {
		t.Fatal("a keyring without a current key was accepted")
	}
}

// TestKeyIsRedacted checks every way a key could reach a log or a JSON
// document: fmt with every verb, slog's text and JSON handlers (as a value
// and inside a struct), and encoding/json.
func TestKeyIsRedacted(t *testing.T) {
	k := testKey(7)
	secrets := [][]byte{
		[]byte(k.Encode()),
		[]byte(fmt.Sprintf("%x", k[:])),
		[]byte(fmt.Sprint([KeyLen]byte(k))),
		[]byte(strings.Trim(fmt.Sprint([KeyLen]byte(k)), "[]")),
	}
	type config struct {
		Name string
		Key  Key
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%08b"} {
		fmt.Fprintf(&out, verb+"\n", k)
		fmt.Fprintf(&out, verb+"\n", config{"c", k})
		fmt.Fprintf(&out, verb+"\n", &config{"c", k})
	}
	fmt.Fprintln(&out, k, k.String(), k.GoString())
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		log := slog.New(h)
		log.Info("key", "key", k, "config", config{"c", k}, "ptr", &config{"c", k})
		log.Info("key", slog.Any("key", k))
	}
	b, err := json.Marshal(config{"c", k})
	if err != nil {
		t.Fatal(err)
	}
	out.Write(b)
	for _, s := range secrets {
		if bytes.Contains(out.Bytes(), s) {
			t.Fatalf("key material %q printed:\n%s", s, out.Bytes())
		}
	}
	if !strings.Contains(out.String(), redacted) {
		t.Fatal("no [redacted] in the output")
	}
}
