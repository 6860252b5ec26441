package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// Defaults of the options.
const (
	// DefaultMaxConns caps open device connections (held sessions in
	// coverage plus handshakes): at it, a new connection takes the slot of
	// the oldest one still waiting for its HELLO, and is closed at once
	// only when none waits.
	DefaultMaxConns = manifest.DefaultMaxConnections
	// DefaultAddrRate and DefaultAddrBurst limit new connections per source
	// address. A HELLO costs the edge two X25519 operations before it knows
	// who sent it, so this limit is what protects the CPU
	// (docs/device-protocol.md, "Rates and limits").
	DefaultAddrRate  = float64(manifest.DefaultAddrLoginRate)
	DefaultAddrBurst = 2 * manifest.DefaultAddrLoginRate
	// DefaultDeviceRate and DefaultDeviceBurst limit logins per device id:
	// a device retrying in a loop gets RATE_LIMITED with a retry delay.
	DefaultDeviceRate  = 0.5
	DefaultDeviceBurst = 5
	// DefaultRateKeys bounds the addresses (and devices) remembered.
	DefaultRateKeys = 100_000
	// DefaultLoginTimeout bounds authorize plus the GroupWise login; it is
	// below the device's 10 s round-trip deadline so that the device hears
	// an answer rather than a timeout.
	DefaultLoginTimeout = 8 * time.Second
	// DefaultRequestTimeout bounds one GroupWise request a device's
	// message makes (SEND_IM, STATUS). The device's reader waits for it,
	// so a GroupWise server that stops answering holds up that device's
	// next messages for at most this long, not a login's whole budget.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultCoverageGrace is how long a session whose device dropped keeps
	// its GroupWise connection and queues IMs, waiting for a RESUME.
	DefaultCoverageGrace = manifest.DefaultCoverageGraceSeconds * time.Second
	// DefaultQueueLimit bounds the messages queued for one device; beyond
	// it new ones are dropped and counted.
	DefaultQueueLimit = 64
	// DefaultSilenceScanInterval is how often held sessions are checked for
	// a device that stopped sending STATUS; it bounds how late the silent
	// mark lands (admission.StatusTiming).
	DefaultSilenceScanInterval = time.Second
	// DefaultDrainTimeout bounds Run's drain after its context ends; the
	// manifest's ECS stop timeout (30 s) leaves room after it.
	DefaultDrainTimeout = manifest.DefaultDrainSecs * time.Second
	// DefaultReleaseConcurrency bounds parallel release calls in a drain.
	DefaultReleaseConcurrency = 32
	// DefaultGoodbyeTimeout bounds the last SERVER_STATUS written to a
	// device whose session ends, so a device that stopped reading cannot
	// hold up a heartbeat or the drain.
	DefaultGoodbyeTimeout = 2 * time.Second
	// DefaultTCPKeepAlive probes a silent device link, so half-open
	// connections (a phone that left coverage) are found.
	DefaultTCPKeepAlive = 30 * time.Second
	// DefaultDrainRetryAfter is the retry delay devices are given when the
	// edge drains: they log in again through the load balancer.
	DefaultDrainRetryAfter = time.Second
	// userAgent is what GroupWise sees as the client.
	userAgent = "collabgw-edge/1"
)

// ErrBadOption reports an invalid option or required argument.
var ErrBadOption = errors.New("edge: invalid option")

// Option configures a Server.
type Option func(*config) error

type config struct {
	log                 *slog.Logger
	rec                 *metrics.Recorder
	now                 func() time.Time
	dialer              GroupWiseDialer
	heartbeat           time.Duration
	maxConns            int
	addrRate            float64
	addrBurst           int
	deviceRate          float64
	deviceBurst         int
	rateKeys            int
	loginTimeout        time.Duration
	requestTimeout      time.Duration
	grace               time.Duration
	queueLimit          int
	silenceScanInterval time.Duration
	drainTimeout        time.Duration
	releaseConcurrency  int
	goodbyeTimeout      time.Duration
	tcpKeepAlive        time.Duration
	handshakeTimeout    time.Duration
	writeTimeout        time.Duration
	frameTimeout        time.Duration
	messageRate         float64
	messageBurst        int
	maxClockSkew        time.Duration
	edgeAddr            string
	taskAddr            string
	nextGatewayKey      *devproto.PrivateKey // during a key rotation
	// The task-to-task link (WithPeer); a zero peerKey turns it off.
	peerKey, peerNext peerlink.Key
	peerOpts          []peerlink.Option
	locator           SessionLocator
}

func defaultConfig() config {
	return config{
		log:                 slog.New(slog.DiscardHandler),
		now:                 time.Now,
		heartbeat:           admission.DefaultHeartbeatInterval,
		maxConns:            DefaultMaxConns,
		addrRate:            DefaultAddrRate,
		addrBurst:           DefaultAddrBurst,
		deviceRate:          DefaultDeviceRate,
		deviceBurst:         DefaultDeviceBurst,
		rateKeys:            DefaultRateKeys,
		loginTimeout:        DefaultLoginTimeout,
		requestTimeout:      DefaultRequestTimeout,
		grace:               DefaultCoverageGrace,
		queueLimit:          DefaultQueueLimit,
		silenceScanInterval: DefaultSilenceScanInterval,
		drainTimeout:        DefaultDrainTimeout,
		releaseConcurrency:  DefaultReleaseConcurrency,
		goodbyeTimeout:      DefaultGoodbyeTimeout,
		tcpKeepAlive:        DefaultTCPKeepAlive,
		handshakeTimeout:    devconn.DefaultHandshakeTimeout,
		writeTimeout:        devconn.DefaultWriteTimeout,
		frameTimeout:        devconn.DefaultFrameTimeout,
		messageRate:         devconn.DefaultMessageRate,
		messageBurst:        devconn.DefaultMessageBurst,
		maxClockSkew:        devproto.DefaultMaxClockSkew,
	}
}

// durationOption sets the config field that field points at to d, which
// must be positive.
func durationOption(name string, d time.Duration, field func(*config) *time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: %s %v is not positive", ErrBadOption, name, d)
		}
		*field(c) = d
		return nil
	}
}

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithMetrics records the edge's metrics of the catalog (internal/metrics)
// in rec, which Run flushes every minute and once more after the drain.
// Without it the counters are only served on /stats.
func WithMetrics(rec *metrics.Recorder) Option {
	return func(c *config) error { c.rec = rec; return nil }
}

// WithClock sets the clock for rate limits, timestamps and status
// coalescing (tests use a fake one).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.now = now
		return nil
	}
}

// WithGroupWiseDialer replaces the GroupWise dialer (default: gwclient
// with the system roots; see NewGroupWiseDialer).
func WithGroupWiseDialer(d GroupWiseDialer) Option {
	return func(c *config) error {
		if d == nil {
			return fmt.Errorf("%w: nil GroupWise dialer", ErrBadOption)
		}
		c.dialer = d
		return nil
	}
}

// WithHeartbeat sets how often leases are renewed; it must match the
// functions' COLLABGW_HEARTBEAT_SECONDS (admission.DefaultHeartbeatInterval).
func WithHeartbeat(d time.Duration) Option {
	return durationOption("heartbeat", d, func(c *config) *time.Duration { return &c.heartbeat })
}

// WithMaxConns caps open device connections (DefaultMaxConns); at the cap
// the oldest connection still waiting for its HELLO is shed first.
func WithMaxConns(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max connections %d", ErrBadOption, n)
		}
		c.maxConns = n
		return nil
	}
}

// WithAddrRate limits new connections per source address: perSecond on
// average with bursts of burst. perSecond 0 turns the limit off (load
// tests from one address).
func WithAddrRate(perSecond float64, burst int) Option {
	return func(c *config) error {
		if perSecond < 0 || (perSecond > 0 && burst < 1) {
			return fmt.Errorf("%w: address rate %v/s burst %d", ErrBadOption, perSecond, burst)
		}
		c.addrRate, c.addrBurst = perSecond, burst
		return nil
	}
}

// WithDeviceRate limits logins and resumes per device id; 0 turns it off.
func WithDeviceRate(perSecond float64, burst int) Option {
	return func(c *config) error {
		if perSecond < 0 || (perSecond > 0 && burst < 1) {
			return fmt.Errorf("%w: device rate %v/s burst %d", ErrBadOption, perSecond, burst)
		}
		c.deviceRate, c.deviceBurst = perSecond, burst
		return nil
	}
}

// WithLoginTimeout bounds authorize plus the GroupWise login.
func WithLoginTimeout(d time.Duration) Option {
	return durationOption("login timeout", d, func(c *config) *time.Duration { return &c.loginTimeout })
}

// WithRequestTimeout bounds one GroupWise request a device's message
// makes: SEND_IM and STATUS (DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) Option {
	return durationOption("request timeout", d, func(c *config) *time.Duration { return &c.requestTimeout })
}

// WithCoverageGrace sets how long a dropped device may take to resume.
func WithCoverageGrace(d time.Duration) Option {
	return durationOption("coverage grace", d, func(c *config) *time.Duration { return &c.grace })
}

// WithQueueLimit bounds the messages queued per device.
func WithQueueLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: queue limit %d", ErrBadOption, n)
		}
		c.queueLimit = n
		return nil
	}
}

// WithSilenceScanInterval sets how often held sessions are checked for a
// silent device (DefaultSilenceScanInterval).
func WithSilenceScanInterval(d time.Duration) Option {
	return durationOption("silence scan interval", d, func(c *config) *time.Duration { return &c.silenceScanInterval })
}

// WithDrainTimeout bounds the drain after Run's context ends.
func WithDrainTimeout(d time.Duration) Option {
	return durationOption("drain timeout", d, func(c *config) *time.Duration { return &c.drainTimeout })
}

// WithHandshakeTimeout sets the time a new connection has to deliver its
// HELLO (devconn.DefaultHandshakeTimeout).
func WithHandshakeTimeout(d time.Duration) Option {
	return durationOption("handshake timeout", d, func(c *config) *time.Duration { return &c.handshakeTimeout })
}

// WithWriteTimeout sets the per-frame write deadline on device links.
func WithWriteTimeout(d time.Duration) Option {
	return durationOption("write timeout", d, func(c *config) *time.Duration { return &c.writeTimeout })
}

// WithFrameTimeout sets how long the rest of a device frame may take once
// its first byte arrived (devconn.DefaultFrameTimeout). A stalled frame
// closes the link as a coverage loss, counted as DropFrameTimeout.
func WithFrameTimeout(d time.Duration) Option {
	return durationOption("frame timeout", d, func(c *config) *time.Duration { return &c.frameTimeout })
}

// WithMessageRate sets the token bucket of messages one device link may
// send (devconn.DefaultMessageRate, devconn.DefaultMessageBurst); 0 turns
// it off. A device over it is told PROTOCOL_ERROR and its session ends.
func WithMessageRate(perSecond float64, burst int) Option {
	return func(c *config) error {
		if perSecond < 0 || (perSecond > 0 && burst < 1) {
			return fmt.Errorf("%w: message rate %v/s burst %d", ErrBadOption, perSecond, burst)
		}
		c.messageRate, c.messageBurst = perSecond, burst
		return nil
	}
}

// WithMaxClockSkew sets how far a device clock may be from the edge's.
func WithMaxClockSkew(d time.Duration) Option {
	return durationOption("clock skew", d, func(c *config) *time.Duration { return &c.maxClockSkew })
}

// WithNextGatewayKey adds the next gateway key of a key rotation: devices
// provisioned with either public key log in (edge/README.md, "Rotating the
// gateway key"). A login with the current key costs what it did before.
func WithNextGatewayKey(k devproto.PrivateKey) Option {
	return func(c *config) error {
		if _, err := k.Public(); err != nil || k == (devproto.PrivateKey{}) {
			return fmt.Errorf("%w: next gateway key: not a key", ErrBadOption)
		}
		c.nextGatewayKey = &k
		return nil
	}
}

// WithEdgeAddr is the address recorded in each session's connectivity
// cache (this task's address), for operators.
func WithEdgeAddr(addr string) Option {
	return func(c *config) error { c.edgeAddr = addr; return nil }
}

// WithTaskAddr is the address (host:port) other edge tasks reach this one
// at over the task-to-task link; every heartbeat stores it in this task's
// lease item, where a task that receives a RESUME for a session held here
// finds it (admission.Store.LocateSession). Empty: none advertised.
func WithTaskAddr(addr string) Option {
	return func(c *config) error {
		if len(addr) > admission.MaxTaskAddrLen {
			return fmt.Errorf("%w: task address longer than %d bytes", ErrBadOption, admission.MaxTaskAddrLen)
		}
		if addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return fmt.Errorf("%w: task address %q: %w", ErrBadOption, addr, err)
			}
		}
		c.taskAddr = addr
		return nil
	}
}

// WithPeer turns on the task-to-task link (package peerlink) with the
// deployment's pre-shared key, and next during a rotation (zero: none).
// The edge then answers RESUMEs other tasks relay to it on the listener
// ListenPeer opens, and — with WithSessionLocator — relays a RESUME for a
// session held elsewhere to its owner. opts bound the link (peerlink's
// timeouts, caps and frame size).
func WithPeer(key, next peerlink.Key, opts ...peerlink.Option) Option {
	return func(c *config) error {
		if key.IsZero() {
			return fmt.Errorf("%w: peer key not set", ErrBadOption)
		}
		c.peerKey, c.peerNext, c.peerOpts = key, next, opts
		return nil
	}
}

// WithSessionLocator is how the edge finds the task holding a session it
// does not hold; it needs WithPeer. Without it a RESUME for a session held
// elsewhere is answered LOGGED_OUT, as on a single task.
func WithSessionLocator(loc SessionLocator) Option {
	return func(c *config) error {
		if loc == nil {
			return fmt.Errorf("%w: nil session locator", ErrBadOption)
		}
		c.locator = loc
		return nil
	}
}
