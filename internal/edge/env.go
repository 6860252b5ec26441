package edge

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// Env is the edge's configuration, read once at start from the variables
// internal/manifest names for the edge.
type Env struct {
	ListenAddr, HealthAddr string
	AuthorizeFunction      string
	ReleaseFunction        string
	GatewayKey             devproto.PrivateKey
	// NextGatewayKey is the next key of a key rotation; zero when none.
	NextGatewayKey   devproto.PrivateKey
	Table            string
	Lease, Heartbeat time.Duration
	Drain            time.Duration
	Grace            time.Duration
	CADir            string
	AddrRate         float64
	MaxConns         int
	LogLevel         slog.Level
	// PeerAddr, PeerKey and PeerKeyNext configure the task-to-task link;
	// a zero PeerKey turns it off.
	PeerAddr             string
	PeerAdvertiseAddr    string // empty: found by TaskAddr
	PeerKey, PeerKeyNext peerlink.Key
}

// EnvFrom reads the configuration through getenv (os.Getenv in main), with
// the defaults and ranges of internal/manifest. The error names every
// wrong variable, and never holds a key.
func EnvFrom(getenv func(string) string) (Env, error) {
	r := manifest.NewReader(getenv)
	e := Env{Table: r.Text(manifest.Table)}
	e.Lease, e.Heartbeat = r.LeaseAndHeartbeat()
	e.LogLevel = r.Level()
	e.ListenAddr = hostPort(r, manifest.ListenAddr)
	e.HealthAddr = hostPort(r, manifest.HealthAddr)
	e.AuthorizeFunction = r.Text(manifest.AuthorizeFunction)
	e.ReleaseFunction = r.Text(manifest.ReleaseFunction)
	e.GatewayKey = privateKey(r, manifest.GatewayKey)
	e.NextGatewayKey = privateKey(r, manifest.GatewayKeyNext)
	if e.NextGatewayKey == e.GatewayKey {
		// Closing a rotation copies the next key into the main secret and
		// only then removes the next one: a task started between the two
		// steps (a scale-out, a replacement) holds one key twice. It is
		// one key, not a crash loop.
		e.NextGatewayKey = devproto.PrivateKey{}
	}
	e.Drain = r.Seconds(manifest.Drain)
	e.CADir = r.Text(manifest.GroupWiseCADir)
	e.Grace = r.Seconds(manifest.CoverageGrace)
	e.AddrRate = r.Rate(manifest.AddrLoginRate)
	e.MaxConns = r.Count(manifest.MaxConnections)
	e.PeerAddr = hostPort(r, manifest.PeerAddr)
	e.PeerAdvertiseAddr = r.Text(manifest.PeerAdvertiseAddr)
	e.PeerKey = peerKey(r, manifest.PeerKey)
	e.PeerKeyNext = peerKey(r, manifest.PeerKeyNext)
	if e.PeerKey.IsZero() && !e.PeerKeyNext.IsZero() {
		r.Invalid(manifest.PeerKeyNext, "set without "+manifest.EnvPeerKey)
	}
	return e, r.Err()
}

// peerKey parses a task-to-task link key setting (zero when unset).
func peerKey(r *manifest.Reader, s manifest.Setting) peerlink.Key {
	v := r.Secret(s)
	if v == "" {
		return peerlink.Key{}
	}
	k, err := peerlink.ParseKey(v)
	if err != nil {
		// ParseKey says why, never what the value was.
		r.Invalid(s, err.Error())
	}
	return k
}

// privateKey parses a gateway key setting (zero when unset and optional).
func privateKey(r *manifest.Reader, s manifest.Setting) devproto.PrivateKey {
	v := r.Secret(s)
	if v == "" {
		return devproto.PrivateKey{}
	}
	k, err := devproto.ParsePrivateKey(v)
	if err != nil {
		// ParsePrivateKey says why (not base64 at an offset, the wrong
		// length), never what the value was.
		r.Invalid(s, err.Error())
	}
	return k
}

// hostPort reads a listen address.
func hostPort(r *manifest.Reader, s manifest.Setting) string {
	v := r.Text(s)
	if _, _, err := net.SplitHostPort(v); err != nil {
		r.Invalid(s, "want host:port or :port")
	}
	return v
}

// Options are the server options the configuration implies. secrets reads
// the pools' GroupWise CA bundles that caRef names in Secrets Manager (nil:
// such a reference fails the logins to its pool).
func (e Env) Options(log *slog.Logger, rec *metrics.Recorder, secrets SecretsClient) ([]Option, error) {
	dopts := []DialerOption{WithDialerLogger(log)}
	if secrets != nil {
		dopts = append(dopts, WithSecrets(secrets))
	}
	dialer, err := NewGroupWiseDialer(e.CADir, rec, dopts...)
	if err != nil {
		return nil, err
	}
	burst := max(int(2*e.AddrRate), 1)
	opts := []Option{
		WithLogger(log), WithMetrics(rec), WithHeartbeat(e.Heartbeat), WithDrainTimeout(e.Drain),
		WithCoverageGrace(e.Grace), WithAddrRate(e.AddrRate, burst), WithMaxConns(e.MaxConns),
		WithGroupWiseDialer(dialer),
	}
	if e.NextGatewayKey != (devproto.PrivateKey{}) {
		opts = append(opts, WithNextGatewayKey(e.NextGatewayKey))
	}
	if !e.PeerKey.IsZero() {
		opts = append(opts, WithPeer(e.PeerKey, e.PeerKeyNext))
	}
	return opts, nil
}

// Logger returns a JSON logger at the configured level.
func (e Env) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: e.LogLevel}))
}
