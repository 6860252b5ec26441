// Package devprototest provides what tests of the device protocol need on
// both sides of the link: an in-memory DeviceVerifier that applies the
// per-device monotonic-timestamp rule the admission store applies in
// production, deterministic keys, and a controllable clock.
package devprototest

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
)

// Verifier is an in-memory device registry. It refuses unknown, revoked and
// mismatched devices, and a timestamp not strictly greater than the last one
// it accepted for the device, exactly as the production store must.
type Verifier struct {
	mu      sync.Mutex // guards devices and last
	devices map[string]device
	last    map[string]time.Time
}

type device struct {
	key     devproto.PublicKey
	revoked bool
}

var _ devproto.DeviceVerifier = (*Verifier)(nil)

// NewVerifier returns an empty registry.
func NewVerifier() *Verifier {
	return &Verifier{devices: map[string]device{}, last: map[string]time.Time{}}
}

// Register adds or replaces a device.
func (v *Verifier) Register(id string, key devproto.PublicKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.devices[id] = device{key: key}
}

// Revoke marks a device revoked.
func (v *Verifier) Revoke(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.devices[id]
	d.revoked = true
	v.devices[id] = d
}

// VerifyDevice implements devproto.DeviceVerifier.
func (v *Verifier) VerifyDevice(ctx context.Context, id string, key devproto.PublicKey, ts time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	d, ok := v.devices[id]
	switch {
	case !ok:
		return devproto.ErrUnknownDevice
	case d.revoked:
		return devproto.ErrDeviceRevoked
	case d.key != key:
		return devproto.ErrDeviceKeyMismatch
	case !ts.After(v.last[id]):
		return devproto.ErrReplayed
	}
	v.last[id] = ts
	return nil
}

// Key returns a private key derived from seed, the same on every run.
func Key(seed string) devproto.PrivateKey {
	return devproto.PrivateKey(sha256.Sum256([]byte("devprototest key " + seed)))
}

// PublicKey returns the public half of Key(seed).
func PublicKey(seed string) devproto.PublicKey {
	pub, err := Key(seed).Public()
	if err != nil {
		panic(err) // every 32-byte string is a valid X25519 private key
	}
	return pub
}
