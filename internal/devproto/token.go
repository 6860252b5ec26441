package devproto

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// TokenLen is the length of a resume token.
const TokenLen = 32

// tokenHashDomain separates resume-token hashes from any other SHA-256 use,
// so a stored hash can never be confused with another kind of digest.
const tokenHashDomain = "collabgw resume token v1\x00" //nolint:gosec // a hash domain label, not a credential

// ResumeToken lets a device resume its session after a coverage drop without
// a new GroupWise login. The gateway sends it once, inside ACCEPTED, and
// stores only its hash. It formats as "[redacted]".
type ResumeToken [TokenLen]byte

// TokenHash is what the session store keeps in place of a resume token.
type TokenHash [sha256.Size]byte

// NewResumeToken draws 32 random bytes from rng (crypto/rand when nil).
func NewResumeToken(rng io.Reader) (ResumeToken, error) {
	if rng == nil {
		rng = rand.Reader
	}
	var t ResumeToken
	if _, err := io.ReadFull(rng, t[:]); err != nil {
		return ResumeToken{}, fmt.Errorf("devproto: resume token: %w", err)
	}
	return t, nil
}

// Hash returns the digest to store. A token is 256 random bits, so a plain
// (domain-separated) SHA-256 suffices: there is nothing to brute-force that a
// slow password hash would protect.
func (t ResumeToken) Hash() TokenHash {
	h := sha256.New()
	h.Write([]byte(tokenHashDomain))
	h.Write(t[:])
	var out TokenHash
	h.Sum(out[:0])
	return out
}

// IsZero reports whether t is unset.
func (t ResumeToken) IsZero() bool { return t == ResumeToken{} }

// String hides the token.
func (t ResumeToken) String() string { return "[redacted]" }

// GoString hides the token from %#v too.
func (t ResumeToken) GoString() string { return "devproto.ResumeToken([redacted])" }

// Verify reports, in constant time, whether t hashes to h. A zero token never
// verifies, so an unset field cannot match an unset hash.
func (h TokenHash) Verify(t ResumeToken) bool {
	if t.IsZero() {
		return false
	}
	got := t.Hash()
	return subtle.ConstantTimeCompare(got[:], h[:]) == 1
}

// MarshalText encodes the hash in hex, for JSON payloads and tables.
func (h TokenHash) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(h[:])), nil
}

// UnmarshalText decodes the hex form.
func (h *TokenHash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("devproto: token hash: %d hex digits, want %d", len(b), 2*len(h))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("devproto: token hash: %w", err)
	}
	return nil
}
