package edge

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// Defaults of the environment.
const (
	DefaultListenAddr = ":3101"
	DefaultHealthAddr = ":8080"
	DefaultPeerAddr   = ":3102" // manifest.PeerPort
	DefaultCADir      = "/etc/collabgw/groupwise-ca"
)

// Env is the edge's configuration, read once at start from the variables
// internal/manifest names for the edge.
type Env struct {
	ListenAddr, HealthAddr string
	AuthorizeFunction      string
	ReleaseFunction        string
	GatewayKey             devproto.PrivateKey
	Table                  string
	Lease, Heartbeat       time.Duration
	Drain                  time.Duration
	Grace                  time.Duration
	CADir                  string
	AddrRate               float64
	MaxConns               int
	LogLevel               slog.Level
	// PeerAddr, PeerKey and PeerKeyNext configure the task-to-task link;
	// a zero PeerKey turns it off.
	PeerAddr             string
	PeerKey, PeerKeyNext peerlink.Key
}

// EnvFrom reads the configuration through getenv (os.Getenv in main).
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{
		ListenAddr: or(getenv(manifest.EnvListenAddr), DefaultListenAddr),
		HealthAddr: or(getenv(manifest.EnvHealthAddr), DefaultHealthAddr),
		PeerAddr:   or(getenv(manifest.EnvPeerAddr), DefaultPeerAddr),
		CADir:      or(getenv(manifest.EnvGroupWiseCADir), DefaultCADir),
		Lease:      admission.DefaultLeaseDuration, Heartbeat: admission.DefaultHeartbeatInterval,
		Drain: manifest.DefaultDrainSecs * time.Second, Grace: DefaultCoverageGrace,
		AddrRate: DefaultAddrRate, MaxConns: DefaultMaxConns,
	}
	for name, dst := range map[string]*string{
		manifest.EnvAuthorizeFunction: &e.AuthorizeFunction,
		manifest.EnvReleaseFunction:   &e.ReleaseFunction,
		manifest.EnvTable:             &e.Table,
	} {
		if *dst = getenv(name); *dst == "" {
			return e, fmt.Errorf("%s is required", name)
		}
	}
	key := getenv(manifest.EnvGatewayKey)
	if key == "" {
		return e, fmt.Errorf("%s is required", manifest.EnvGatewayKey)
	}
	var err error
	if e.GatewayKey, err = devproto.ParsePrivateKey(key); err != nil {
		// The error never holds the key: ParsePrivateKey only says why.
		return e, fmt.Errorf("%s: %w", manifest.EnvGatewayKey, err)
	}
	for name, dst := range map[string]*time.Duration{
		manifest.EnvLeaseSeconds:         &e.Lease,
		manifest.EnvHeartbeatSeconds:     &e.Heartbeat,
		manifest.EnvDrainSeconds:         &e.Drain,
		manifest.EnvCoverageGraceSeconds: &e.Grace,
	} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3600 {
				return e, fmt.Errorf("%s=%q: want whole seconds between 1 and 3600", name, v)
			}
			*dst = time.Duration(n) * time.Second
		}
	}
	if e.Lease < 2*e.Heartbeat {
		return e, fmt.Errorf("%s must be at least twice %s: one lost heartbeat must not end a session", manifest.EnvLeaseSeconds, manifest.EnvHeartbeatSeconds)
	}
	if e.Drain >= manifest.DefaultStopTimeout*time.Second {
		return e, fmt.Errorf("%s=%v must be shorter than the ECS stop timeout (%d s)", manifest.EnvDrainSeconds, e.Drain, manifest.DefaultStopTimeout)
	}
	if v := getenv(manifest.EnvAddrLoginRate); v != "" {
		if e.AddrRate, err = strconv.ParseFloat(v, 64); err != nil || e.AddrRate < 0 {
			return e, fmt.Errorf("%s=%q: want a rate per second, 0 for no limit", manifest.EnvAddrLoginRate, v)
		}
	}
	if v := getenv(manifest.EnvMaxConnections); v != "" {
		if e.MaxConns, err = strconv.Atoi(v); err != nil || e.MaxConns < 1 {
			return e, fmt.Errorf("%s=%q: want a positive count", manifest.EnvMaxConnections, v)
		}
	}
	if v := getenv(manifest.EnvLogLevel); v != "" {
		if err := e.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			return e, fmt.Errorf("%s=%q: want debug, info, warn or error", manifest.EnvLogLevel, v)
		}
	}
	for name, dst := range map[string]*peerlink.Key{manifest.EnvPeerKey: &e.PeerKey, manifest.EnvPeerKeyNext: &e.PeerKeyNext} {
		if v := getenv(name); v != "" {
			if *dst, err = peerlink.ParseKey(v); err != nil {
				// The error never holds the key: ParseKey only says why.
				return e, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if e.PeerKey.IsZero() && !e.PeerKeyNext.IsZero() {
		return e, fmt.Errorf("%s is set without %s", manifest.EnvPeerKeyNext, manifest.EnvPeerKey)
	}
	for _, a := range []string{e.ListenAddr, e.HealthAddr, e.PeerAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return e, fmt.Errorf("listen address %q: %w", a, err)
		}
	}
	return e, nil
}

// Options are the server options the configuration implies.
func (e Env) Options(log *slog.Logger, rec *metrics.Recorder) []Option {
	burst := max(int(2*e.AddrRate), 1)
	opts := []Option{
		WithLogger(log), WithMetrics(rec), WithHeartbeat(e.Heartbeat), WithDrainTimeout(e.Drain),
		WithCoverageGrace(e.Grace), WithAddrRate(e.AddrRate, burst), WithMaxConns(e.MaxConns),
		WithGroupWiseDialer(NewGroupWiseDialer(e.CADir, rec)),
	}
	if !e.PeerKey.IsZero() {
		opts = append(opts, WithPeer(e.PeerKey, e.PeerKeyNext))
	}
	return opts
}

// Logger returns a JSON logger at the configured level.
func (e Env) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: e.LogLevel}))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
