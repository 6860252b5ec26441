package devproto

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// handshakeDH is the X25519 of one handshake: noise.DH25519's results at
// half its cost.
//
// noise.DH25519 calls x/crypto's curve25519.X25519, which builds a
// crypto/ecdh private key on every call, and crypto/ecdh computes that
// key's public half at once: each DH costs two scalar multiplications and
// generating the ephemeral key two more, ten per side for Noise IK's four
// DHs. Here the static key is a *ecdh.PrivateKey made once (in
// NewInitiator, NewResponder), the ephemeral one is made once when it is
// generated, and each DH is one multiplication: five per side.
//
// A handshakeDH belongs to one handshake (one noise.HandshakeState), which
// is used by one goroutine at a time; it is not shared.
type handshakeDH struct {
	static    *ecdh.PrivateKey
	staticRaw []byte
	ephemeral *ecdh.PrivateKey
	ephRaw    []byte
}

var _ noise.DHFunc = (*handshakeDH)(nil)

// newCipherSuite is Noise_IK_25519_ChaChaPoly_BLAKE2b for one handshake
// whose static key is static (raw: its 32 bytes).
func newCipherSuite(static *ecdh.PrivateKey, raw []byte) noise.CipherSuite {
	return noise.NewCipherSuite(&handshakeDH{static: static, staticRaw: raw}, noise.CipherChaChaPoly, noise.HashBLAKE2b)
}

// ecdhKey is p as crypto/ecdh holds it, made once per Initiator or
// Responder.
func ecdhKey(p PrivateKey) (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(p[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return k, nil
}

// GenerateKeypair reads 32 bytes from rng for the private key, as
// noise.DH25519 does, so a deterministic rng (test vectors) gives the same
// keys.
func (d *handshakeDH) GenerateKeypair(rng io.Reader) (noise.DHKey, error) {
	if rng == nil {
		rng = rand.Reader
	}
	priv := make([]byte, KeyLen)
	if _, err := io.ReadFull(rng, priv); err != nil {
		return noise.DHKey{}, err
	}
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return noise.DHKey{}, err
	}
	d.ephemeral, d.ephRaw = k, priv
	return noise.DHKey{Private: priv, Public: k.PublicKey().Bytes()}, nil
}

// DH computes X25519(privkey, pubkey) with the key made earlier when
// privkey is the static or the ephemeral one. Like noise.DH25519 it fails
// on a low-order public key (an all-zero result).
func (d *handshakeDH) DH(privkey, pubkey []byte) ([]byte, error) {
	var k *ecdh.PrivateKey
	switch {
	case d.ephemeral != nil && subtle.ConstantTimeCompare(privkey, d.ephRaw) == 1:
		k = d.ephemeral
	case d.static != nil && subtle.ConstantTimeCompare(privkey, d.staticRaw) == 1:
		k = d.static
	default: // not expected: Noise only uses the keys above
		var err error
		if k, err = ecdh.X25519().NewPrivateKey(privkey); err != nil {
			return nil, err
		}
	}
	pub, err := ecdh.X25519().NewPublicKey(pubkey)
	if err != nil {
		return nil, err
	}
	return k.ECDH(pub)
}

func (*handshakeDH) DHLen() int     { return KeyLen }
func (*handshakeDH) DHName() string { return noise.DH25519.DHName() }
