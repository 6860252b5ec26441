package gwclient

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"syscall"

	"github.com/collabgw/collabgw/internal/idlepoll"
)

// recordHeaderLen is the length of a TLS record header: type, version,
// length.
const recordHeaderLen = 5

// recordConn is the TCP connection under crypto/tls. It reads at most to
// the end of the TLS record being received. crypto/tls keeps its raw input
// buffer for the connection's life at the largest size it ever needed, and
// a plain connection lets it swallow whatever has arrived: the server's
// whole handshake flight, which made it 3 KiB for the simulator's two small
// ECDSA certificates. Bounded, it is the largest record plus the 512 bytes
// crypto/tls always asks for.
//
// While probing, a read returns what has arrived, or idlepoll.ErrWouldBlock
// at once, so the reader can learn that nothing is pending — crypto/tls
// itself may hold a whole record already read — and park on the poller.
type recordConn struct {
	net.Conn
	sys     syscall.RawConn // for probing; nil without a watch
	probing bool            // set by the reader around a probe
	greedy  bool            // reads as large as the caller's buffer (measurement only)
	hdr     [recordHeaderLen]byte
	hdrN    int // bytes of the next record's header read so far
	left    int // bytes of the current record's body not yet read
}

func (c *recordConn) Read(p []byte) (int, error) {
	if !c.greedy && len(p) > 0 {
		if c.left > 0 {
			p = p[:min(len(p), c.left)]
		} else {
			p = p[:min(len(p), recordHeaderLen-c.hdrN)]
		}
	}
	var n int
	var err error
	if c.probing {
		n, err = idlepoll.TryRead(c.sys, p)
	} else {
		n, err = c.Conn.Read(p)
	}
	if !c.greedy {
		c.track(p[:n])
	}
	return n, err
}

// track follows the record framing through the bytes b just read.
func (c *recordConn) track(b []byte) {
	for len(b) > 0 {
		if c.left > 0 {
			k := min(len(b), c.left)
			c.left -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.hdrN:], b)
		c.hdrN += k
		b = b[k:]
		if c.hdrN == recordHeaderLen {
			c.left = int(c.hdr[3])<<8 | int(c.hdr[4])
			c.hdrN = 0
		}
	}
}

// maxTLSConfigs bounds the shared TLS configurations: a gateway talks to a
// handful of GroupWise servers.
const maxTLSConfigs = 64

// tlsConfigs shares one *tls.Config among the connections that verify the
// same server the same way. A crypto/tls connection keeps a pointer to its
// Config (464 bytes) for life, so one each would be kept per session.
var tlsConfigs = struct {
	sync.Mutex
	m map[tlsKey]*tls.Config
}{m: map[tlsKey]*tls.Config{}}

// tlsKey is everything a client's tls.Config is made of.
type tlsKey struct {
	roots      *x509.CertPool // nil: the system roots
	pin        [sha256.Size]byte
	pinned     bool
	serverName string
}

// tlsConfig returns the TLS configuration for serverName under cfg,
// shared with every other connection that has the same.
func (cfg *config) tlsConfig(serverName string) *tls.Config {
	key := tlsKey{roots: cfg.roots, serverName: serverName}
	if cfg.pin != nil {
		key.pinned = true
		copy(key.pin[:], cfg.pin)
	}
	if cfg.privateTLSConfig {
		return newTLSConfig(key)
	}
	tlsConfigs.Lock()
	defer tlsConfigs.Unlock()
	if tc, ok := tlsConfigs.m[key]; ok {
		return tc
	}
	if len(tlsConfigs.m) >= maxTLSConfigs {
		clear(tlsConfigs.m) // bounded: start over
	}
	tc := newTLSConfig(key)
	tlsConfigs.m[key] = tc
	return tc
}

func newTLSConfig(key tlsKey) *tls.Config {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    key.roots,
		ServerName: key.serverName,
	}
	if key.pinned {
		pin := key.pin
		if key.roots == nil {
			// The pin alone is the trust anchor; VerifyConnection checks it.
			tc.InsecureSkipVerify = true //nolint:gosec // replaced by the pin check below
		}
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(sum[:], pin[:]) != 1 {
				return ErrPinMismatch
			}
			return nil
		}
	}
	return tc
}
