package gwclient

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwsim"
)

func TestDelayedLoginHonoursContext(t *testing.T) {
	srv := startSim(t, gwsim.WithLoginDelay(10*time.Second))
	c, _ := dial(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Login(ctx, "alice", "alice-pw", userAgent, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("login gave up after %v", el)
	}
}

func TestDroppedConnectionEndsClient(t *testing.T) {
	srv := startSim(t, gwsim.WithDropAfter(200*time.Millisecond))
	c, _, _ := login(t, srv, "alice", "alice-pw")
	if err := waitDone(t, c); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("ended with %v, want ErrConnectionLost", err)
	}
	if err := c.Ping(ctxT(t)); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("call after the drop = %v", err)
	}
}

func TestDialRefusals(t *testing.T) {
	plain := startSim(t)
	rejecting := startSim(t, gwsim.WithRejectTLS(true))
	other := startSim(t) // another CA and another certificate
	tests := []struct {
		name string
		srv  *gwsim.Server
		opts []Option
		want string
	}{
		{"rejected TLS handshake", rejecting, []Option{WithRootCAs(rejecting.CertPool())}, "remote error: tls"},
		{"unknown CA", plain, []Option{WithRootCAs(other.CertPool())}, "certificate"},
		{"pin mismatch with a trusted CA", plain, []Option{WithRootCAs(plain.CertPool()), WithPinnedSHA256(leafPin(t, other))}, ErrPinMismatch.Error()},
		{"pin mismatch alone", plain, []Option{WithPinnedSHA256(leafPin(t, other))}, ErrPinMismatch.Error()},
		{"server name not in the certificate", plain, []Option{WithRootCAs(plain.CertPool()), WithServerName("gw.example.com")}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(ctxT(t), tt.srv.Addr(), tt.opts...)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestPinAloneIsTrusted(t *testing.T) {
	srv := startSim(t)
	c, err := Dial(ctxT(t), srv.Addr(), WithPinnedSHA256(leafPin(t, srv)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctxT(t), "alice", "alice-pw", userAgent, ""); err != nil {
		t.Fatal(err)
	}
	if v := c.conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", v)
	}
}

func TestStalledResponseTimesOut(t *testing.T) {
	srv := startSim(t, gwsim.WithStall("ping", 3*time.Second))
	c, _, _ := login(t, srv, "alice", "alice-pw", WithMessageTimeout(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	// Half a message and then silence: the reader gives the connection up.
	if err := waitDone(t, c); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("ended with %v, want ErrConnectionLost", err)
	}
}

func TestPinMismatchIsErrPinMismatch(t *testing.T) {
	srv, other := startSim(t), startSim(t)
	_, err := Dial(ctxT(t), srv.Addr(), WithPinnedSHA256(leafPin(t, other)))
	if !errors.Is(err, ErrPinMismatch) {
		t.Fatalf("err = %v, want errors.Is ErrPinMismatch", err)
	}
}
