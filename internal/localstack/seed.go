package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
)

// The sample device of events/*.json: bound to user0001 with a fixed public
// key, so `make invoke` with the sample events gets a real decision.
const (
	SampleDeviceID  = "sample-device"
	SampleDeviceKey = "Y29sbGFiZ3ctc2FtcGxlLWRldmljZS1rZXktMDAwMDE="
)

// seed stores the pool, the demo users and their devices, and makes the
// key pairs that are missing. It is idempotent: running the stack again
// keeps data and keys and refreshes the policy.
func (s *Stack) seed(ctx context.Context, pool admission.PoolConfig) (admission.PoolConfig, error) {
	pool, err := s.Store.PutPool(ctx, pool)
	if err != nil {
		return pool, err
	}
	keys := filepath.Join(s.Config.DataDir, "keys")
	s.DeviceKeyDir = filepath.Join(keys, "devices")
	if err := os.MkdirAll(s.DeviceKeyDir, 0o700); err != nil {
		return pool, fmt.Errorf("localstack: key dir: %w", err)
	}
	s.GatewayKeyFile, s.GatewayPubFile = filepath.Join(keys, "gateway.key"), filepath.Join(keys, "gateway.pub")
	if _, err := ensureKeyPair(filepath.Join(keys, "gateway")); err != nil {
		return pool, err
	}
	for i := 1; i <= s.Config.DemoUsers; i++ {
		user := demo.UserID(i)
		if err := s.Store.PutUser(ctx, admission.User{ID: user, Pool: pool.Name, Permitted: true}); err != nil {
			return pool, err
		}
		pub, err := ensureKeyPair(filepath.Join(s.DeviceKeyDir, user))
		if err != nil {
			return pool, err
		}
		if err := s.Store.RegisterDevice(ctx, admission.Device{ID: demo.DeviceID(i), UserID: user, PublicKey: pub[:]}); err != nil {
			return pool, err
		}
	}
	if s.Config.DemoUsers > 0 {
		sample, err := base64.StdEncoding.DecodeString(SampleDeviceKey)
		if err != nil {
			return pool, fmt.Errorf("localstack: sample key: %w", err)
		}
		if err := s.Store.RegisterDevice(ctx, admission.Device{ID: SampleDeviceID, UserID: demo.UserID(1), PublicKey: sample}); err != nil {
			return pool, err
		}
	}
	return pool, nil
}

// ensureKeyPair loads prefix.key, or makes the pair when it does not exist.
func ensureKeyPair(prefix string) (devproto.PublicKey, error) {
	priv, err := devproto.LoadPrivateKey(prefix + ".key")
	if errors.Is(err, fs.ErrNotExist) {
		if priv, err = devproto.GenerateKey(rand.Reader); err != nil {
			return devproto.PublicKey{}, err
		}
		if err := devproto.WriteKeyFiles(prefix, priv); err != nil {
			return devproto.PublicKey{}, err
		}
	} else if err != nil {
		return devproto.PublicKey{}, err
	}
	return priv.Public()
}

// DeviceKey returns demo device i's private key, as the seed made it.
func (s *Stack) DeviceKey(i int) (devproto.PrivateKey, error) {
	return devproto.LoadPrivateKey(filepath.Join(s.DeviceKeyDir, demo.UserID(i)+devproto.PrivateKeySuffix))
}

// DeviceClient returns a client for demo device i: its key and the
// gateway's public key, as the seed made them.
func (s *Stack) DeviceClient(i int) (*devconn.Client, error) {
	key, err := s.DeviceKey(i)
	if err != nil {
		return nil, err
	}
	gw, err := devproto.LoadPublicKey(s.GatewayPubFile)
	if err != nil {
		return nil, err
	}
	return devconn.NewClient(key, gw)
}
