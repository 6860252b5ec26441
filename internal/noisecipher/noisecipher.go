// Package noisecipher is a Noise CipherState for ChaChaPoly transport
// messages (the Noise Protocol Framework, section 5.1): one key and a
// counter nonce, sealing and opening in place with the nonce kept in the
// struct, so that a message costs no allocation. The device protocol
// (internal/devproto) and the task-to-task link (internal/peerlink) both
// use it after their handshakes; each frames its messages its own way.
package noisecipher

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// TagLen is the bytes Seal appends to a message.
const TagLen = chacha20poly1305.Overhead

var (
	// ErrNonceExhausted means the key sealed or opened 2^64−1 messages; Noise
	// reserves the last nonce, so the link must be replaced.
	ErrNonceExhausted = errors.New("noisecipher: nonce exhausted; open a new link")
	// ErrAuth means a message failed authentication (forged, corrupted,
	// replayed, reordered, or under another key).
	ErrAuth = errors.New("noisecipher: message failed authentication")
)

// State seals or opens the messages of one direction, in order. It must
// not be used concurrently.
type State struct {
	aead  cipher.AEAD
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
}

// New returns the state for a key from the handshake's split.
func New(key [32]byte) (State, error) {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return State{}, fmt.Errorf("noisecipher: key: %w", err)
	}
	return State{aead: aead}, nil
}

// next sets the nonce for counter n in Noise's ChaChaPoly layout: 32 zero
// bits, then n little-endian.
func (c *State) next() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, ErrNonceExhausted
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	return c.nonce[:], nil
}

// Seal encrypts msg in place, authenticating ad with it, and returns msg
// with the tag appended; with TagLen spare capacity in msg it does not
// allocate.
func (c *State) Seal(msg, ad []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	out := c.aead.Seal(msg[:0], nonce, msg, ad)
	c.n++
	return out, nil
}

// Open authenticates and decrypts a sealed message in place and returns
// the plaintext, which aliases msg. A message that fails leaves the
// counter where it was.
func (c *State) Open(msg, ad []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	plain, err := c.aead.Open(msg[:0], nonce, msg, ad)
	if err != nil {
		return nil, ErrAuth
	}
	c.n++
	return plain, nil
}
