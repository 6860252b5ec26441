package gwclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
)

const (
	testTimeout = 5 * time.Second
	userAgent   = "collabgw-test/1.0"
)

// testOpts are added to every dial by the helpers below (a test switches
// the reading mode with them).
var testOpts []Option

// startSim runs a simulator on a free loopback port for the test's duration.
func startSim(t testing.TB, opts ...gwsim.Option) *gwsim.Server {
	t.Helper()
	base := []gwsim.Option{gwsim.WithUser("alice", "alice-pw"), gwsim.WithUser("bob", "bob-pw")}
	srv, err := gwsim.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// events collects what an EventHandler receives.
type events chan gwproto.Event

func (e events) handler(ev gwproto.Event) {
	select {
	case e <- ev:
	default: // a test that does not read them must not block the reader
	}
}

// next waits for an event of type t, skipping others.
func (e events) next(t *testing.T, typ gwproto.EventType) gwproto.Event {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case ev := <-e:
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event %v within %v", typ, testTimeout)
		}
	}
}

// dial connects to srv trusting its CA, with a handler feeding the returned channel.
func dial(t *testing.T, srv *gwsim.Server, opts ...Option) (*Client, events) {
	t.Helper()
	evs := make(events, 64)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	base := append([]Option{WithRootCAs(srv.CertPool()), WithEventHandler(evs.handler)}, testOpts...)
	c, err := Dial(ctx, srv.Addr(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, evs
}

// login dials and logs in.
func login(t *testing.T, srv *gwsim.Server, user, password string, opts ...Option) (*Client, LoginInfo, events) {
	t.Helper()
	c, evs := dial(t, srv, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	info, err := c.Login(ctx, user, password, userAgent, "127.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c, info, evs
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitDone waits for the client to end and returns why.
func waitDone(t *testing.T, c *Client) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(testTimeout):
		t.Fatal("client did not end")
		return nil
	}
}

// leafPin returns the SHA-256 pin of the simulator's server certificate.
func leafPin(t testing.TB, srv *gwsim.Server) string {
	t.Helper()
	block, _ := pem.Decode(srv.ServerCertPEM())
	if block == nil {
		t.Fatal("no server certificate PEM")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}
