package peerlink

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// KeyLen is the length of a link key.
const KeyLen = 32

// KeyIDLen is the length of a key id on the wire.
const KeyIDLen = 4

// keyIDDomain separates key ids from any other hash of the key.
const keyIDDomain = "collabgw peer link key id v1\x00" //nolint:gosec // a hash domain label, not a credential

// redacted is how a key prints, everywhere.
const redacted = "[redacted]"

// Key is the pre-shared key every edge task of a deployment holds (from
// Secrets Manager in AWS). It is the Noise psk: only a holder can open a
// link or answer one. It formats as "[redacted]" with every fmt verb, in
// slog (text and JSON handlers) and in encoding/json, so that it cannot
// reach a log by accident.
type Key [KeyLen]byte

// KeyID names a key on the wire, so that during a rotation the responder
// knows which of its two keys the initiator used without trying both. It
// is a hash prefix: it says nothing about the key.
type KeyID [KeyIDLen]byte

// GenerateKey draws a new key from rng (crypto/rand when nil).
func GenerateKey(rng io.Reader) (Key, error) {
	if rng == nil {
		rng = rand.Reader
	}
	var k Key
	if _, err := io.ReadFull(rng, k[:]); err != nil {
		return Key{}, fmt.Errorf("peerlink: generate key: %w", err)
	}
	return k, nil
}

// ParseKey decodes a key from one line of standard base64 (surrounding
// space ignored), the form COLLABGW_PEER_KEY holds. The error never
// contains key material.
func ParseKey(s string) (Key, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// The decoder's error quotes an offset, never the input.
		return Key{}, fmt.Errorf("%w: not base64: %w", ErrInvalidKey, err)
	}
	if len(b) != KeyLen {
		return Key{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(b), KeyLen)
	}
	var k Key
	copy(k[:], b)
	if k.IsZero() {
		return Key{}, fmt.Errorf("%w: all zero", ErrInvalidKey)
	}
	return k, nil
}

// Encode returns the base64 form ParseKey reads, for writing the key into a
// secret store. It is the one way to see the key's bytes as text.
func (k Key) Encode() string { return base64.StdEncoding.EncodeToString(k[:]) }

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k == Key{} }

// ID returns the key's id.
func (k Key) ID() KeyID {
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(k[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return KeyID(sum[:KeyIDLen])
}

// String hides the key.
func (Key) String() string { return redacted }

// GoString hides the key from %#v.
func (Key) GoString() string { return "peerlink.Key(" + redacted + ")" }

// Format hides the key from every verb, %x and %d included (a byte array
// would otherwise print its bytes).
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue hides the key from slog handlers.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON hides the key from encoding/json (and so from slog's JSON
// handler when the key sits inside a struct).
func (Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// String prints the id in hex, for logs.
func (id KeyID) String() string { return fmt.Sprintf("%x", id[:]) }
