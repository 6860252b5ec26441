package devproto

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
)

// KeyLen is the length of an X25519 key.
const KeyLen = 32

// Key files hold one line: the 32-byte key in standard base64 (44
// characters, as WireGuard writes its keys) and a newline. PREFIX.key holds
// the private key and must not be readable by group or others; PREFIX.pub
// holds the public key. Devices and the gateway use the same format.
const (
	PrivateKeySuffix = ".key"
	PublicKeySuffix  = ".pub"
	privateKeyMode   = 0o600
	publicKeyMode    = 0o644
	// maxKeyFileSize bounds what a loader reads: a key line is 45 bytes.
	maxKeyFileSize = 256
)

// PublicKey is an X25519 public key: a device's identity, or the gateway's
// key that devices are provisioned with.
type PublicKey [KeyLen]byte

// PrivateKey is an X25519 private key. It formats as "[redacted]" so that it
// cannot reach a log by accident.
type PrivateKey [KeyLen]byte

// GenerateKey makes a new private key from rng (crypto/rand when nil).
func GenerateKey(rng io.Reader) (PrivateKey, error) {
	if rng == nil {
		rng = rand.Reader
	}
	k, err := ecdh.X25519().GenerateKey(rng)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("devproto: generate key: %w", err)
	}
	var p PrivateKey
	copy(p[:], k.Bytes())
	return p, nil
}

// Public returns the public half of p.
func (p PrivateKey) Public() (PublicKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(p[:])
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	var pub PublicKey
	copy(pub[:], k.PublicKey().Bytes())
	return pub, nil
}

// String hides the key.
func (p PrivateKey) String() string { return "[redacted]" }

// GoString hides the key from %#v too.
func (p PrivateKey) GoString() string { return "devproto.PrivateKey([redacted])" }

// String is the key file encoding: standard base64.
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// IsZero reports whether k is unset.
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// ParsePublicKey decodes the key file encoding (surrounding space ignored).
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	if err := parseKey(s, k[:]); err != nil {
		return PublicKey{}, err
	}
	return k, nil
}

// ParsePrivateKey decodes the key file encoding of a private key, for keys
// that arrive through the environment rather than a file.
func ParsePrivateKey(s string) (PrivateKey, error) {
	var k PrivateKey
	if err := parseKey(s, k[:]); err != nil {
		return PrivateKey{}, err
	}
	if _, err := k.Public(); err != nil {
		return PrivateKey{}, err
	}
	return k, nil
}

func parseKey(s string, dst []byte) error {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// The decoder's error quotes an offset, never key material.
		return fmt.Errorf("%w: not base64: %w", ErrInvalidKey, err)
	}
	if len(b) != KeyLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(b), KeyLen)
	}
	copy(dst, b)
	return nil
}

// WriteKeyFiles writes prefix.key (mode 0600) and prefix.pub (mode 0644). It
// refuses to overwrite either file, so a typo cannot destroy a provisioned
// identity nor leave a .pub that no longer matches its .key; on failure it
// leaves neither behind.
func WriteKeyFiles(prefix string, p PrivateKey) error {
	pub, err := p.Public()
	if err != nil {
		return err
	}
	keyPath, pubPath := prefix+PrivateKeySuffix, prefix+PublicKeySuffix
	if _, err := os.Lstat(pubPath); err == nil {
		return fmt.Errorf("devproto: create public key file: %w: %s", os.ErrExist, pubPath)
	}
	if err := writeNew(keyPath, base64.StdEncoding.EncodeToString(p[:])+"\n", privateKeyMode); err != nil {
		return err
	}
	if err := writeNew(pubPath, pub.String()+"\n", publicKeyMode); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

// writeNew creates path with mode perm and writes s to it; it refuses an
// existing file and removes what it created when the write fails.
func writeNew(path, s string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("devproto: create key file: %w", err)
	}
	_, werr := io.WriteString(f, s)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(path)
		return fmt.Errorf("devproto: write %s: %w", path, firstErr(werr, cerr))
	}
	return nil
}

// LoadPrivateKey reads a private key file written by WriteKeyFiles (or
// `collabgw device keygen`). Like ssh, it refuses a file that group or
// others may read.
func LoadPrivateKey(path string) (PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("devproto: private key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return PrivateKey{}, fmt.Errorf("%w: %s has mode %v", ErrKeyFileMode, path, fi.Mode().Perm())
	}
	s, err := readKeyFile(path)
	if err != nil {
		return PrivateKey{}, err
	}
	k, err := ParsePrivateKey(s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads a public key file.
func LoadPublicKey(path string) (PublicKey, error) {
	s, err := readKeyFile(path)
	if err != nil {
		return PublicKey{}, err
	}
	k, err := ParsePublicKey(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("devproto: key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", fmt.Errorf("devproto: read %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return "", fmt.Errorf("%w: %s is longer than a key file", ErrInvalidKey, path)
	}
	return string(b), nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
