package gwclient

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/idlepoll"
)

// Defaults of the options.
const (
	// DefaultHandshakeTimeout bounds TCP connect plus TLS handshake when the
	// context given to Dial has no earlier deadline.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds a request whose context has no deadline.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMessageTimeout bounds reading the rest of a server message once
	// its first bytes arrived: a server stalled mid-message is dead.
	DefaultMessageTimeout = 10 * time.Second
	// DefaultKeepalive is the ping interval when the login answer carries no
	// NM_A_UD_KEEPALIVE; Pidgin pings every 30 s.
	DefaultKeepalive = 30 * time.Second
	// MinKeepalive is the shortest ping interval accepted.
	MinKeepalive = 10 * time.Millisecond
	// MaxMessageBytes is where outgoing text is cut, as real clients do.
	MaxMessageBytes = 2048
	// maxCachedPeers bounds the per-connection DN and conference caches.
	maxCachedPeers = 256
)

// EventHandler receives server events in order, on the client's reader
// goroutine: it must return quickly and must not wait for a call on the same
// Client (the reader delivers that call's response). Hand work off instead.
// For event 108 Text is already plain text (the wire carries RTF).
type EventHandler func(gwproto.Event)

// Option configures Dial.
type Option func(*config) error

type config struct {
	roots            *x509.CertPool
	pin              []byte // SHA-256 of the leaf certificate, nil for none
	serverName       string
	handshakeTimeout time.Duration
	requestTimeout   time.Duration
	messageTimeout   time.Duration
	keepalive        time.Duration
	handler          EventHandler

	// Measurement knobs, set only by the memory harness's variants: each
	// undoes one of the memory savings so that its worth can be measured
	// side by side. readerGoroutine is also the path taken where there is
	// no poller.
	readerGoroutine  bool // a reader goroutine per connection, parked while idle
	greedyReads      bool // no record-bounded reads under crypto/tls
	privateTLSConfig bool // a tls.Config per connection
	// poller parks idle clients; nil: the process's (tests give their own).
	poller *idlepoll.Poller
}

func defaultConfig() config {
	return config{
		handshakeTimeout: DefaultHandshakeTimeout,
		requestTimeout:   DefaultRequestTimeout,
		messageTimeout:   DefaultMessageTimeout,
		keepalive:        DefaultKeepalive,
		handler:          func(gwproto.Event) {},
	}
}

// WithRootCAs verifies the server against pool instead of the system roots.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(c *config) error {
		if pool == nil {
			return fmt.Errorf("%w: nil CA pool", ErrBadOption)
		}
		c.roots = pool
		return nil
	}
}

// WithCACertPEM verifies the server against the PEM certificates given.
// The bundle is parsed once, here: connections dialled with the same Option
// share one pool, one parsed CA and one TLS configuration.
func WithCACertPEM(pemCerts []byte) Option {
	pool := x509.NewCertPool()
	ok := pool.AppendCertsFromPEM(pemCerts)
	return func(c *config) error {
		if !ok {
			return fmt.Errorf("%w: no certificate in the CA bundle", ErrBadOption)
		}
		c.roots = pool
		return nil
	}
}

// WithPinnedSHA256 requires the server's leaf certificate to have this
// SHA-256 fingerprint (of its DER), given in hex with or without colons.
// With a CA option as well, both must hold; without one, the pin alone is
// trusted, which suits a server with a self-signed certificate.
func WithPinnedSHA256(fingerprint string) Option {
	return func(c *config) error {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fingerprint), ":", ""))
		if err != nil || len(b) != 32 {
			return fmt.Errorf("%w: pin must be 32 bytes of hex", ErrBadOption)
		}
		c.pin = b
		return nil
	}
}

// WithServerName sets the TLS server name (SNI and verification) when it
// differs from the host in the address.
func WithServerName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty server name", ErrBadOption)
		}
		c.serverName = name
		return nil
	}
}

// WithHandshakeTimeout bounds connect plus TLS handshake.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error { c.handshakeTimeout = d; return positive("handshake timeout", d) }
}

// WithRequestTimeout bounds requests whose context has no deadline.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error { c.requestTimeout = d; return positive("request timeout", d) }
}

// WithMessageTimeout bounds reading one server message once it has begun.
func WithMessageTimeout(d time.Duration) Option {
	return func(c *config) error { c.messageTimeout = d; return positive("message timeout", d) }
}

// WithKeepalive sets the ping interval used when the server does not give
// one in its login answer.
func WithKeepalive(d time.Duration) Option {
	return func(c *config) error {
		if d < MinKeepalive {
			return fmt.Errorf("%w: keepalive %v below %v", ErrBadOption, d, MinKeepalive)
		}
		c.keepalive = d
		return nil
	}
}

// WithEventHandler receives server events; without it events are dropped
// (114 and 115 still end the client).
func WithEventHandler(h EventHandler) Option {
	return func(c *config) error {
		if h == nil {
			return fmt.Errorf("%w: nil event handler", ErrBadOption)
		}
		c.handler = h
		return nil
	}
}

func positive(what string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s %v must be positive", ErrBadOption, what, d)
	}
	return nil
}
