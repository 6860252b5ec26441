package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/status"
)

// ErrCARef reports a pool CA reference the edge cannot load; the device is
// told GROUPWISE_UNAVAILABLE and the cause is logged.
var ErrCARef = errors.New("edge: GroupWise CA bundle cannot be loaded")

// TLSDialer logs users in to GroupWise with gwclient, trusting each pool's
// CA bundle (caRef) and/or certificate pin as the authorize response names
// them. CA bundles are loaded once per refresh period and shared by every
// connection.
type TLSDialer struct {
	rec  *metrics.Recorder // nil: no metrics
	opts []gwclient.Option
	cas  *caCache
}

var _ GroupWiseDialer = (*TLSDialer)(nil)

// DialerOption configures a TLSDialer.
type DialerOption func(*TLSDialer) error

// WithSecrets lets caRef name Secrets Manager secrets
// ("secretsmanager:<name or ARN>"); without it such a reference fails.
func WithSecrets(c SecretsClient) DialerOption {
	return func(d *TLSDialer) error {
		if c == nil {
			return fmt.Errorf("%w: WithSecrets: nil client", ErrBadOption)
		}
		d.cas.secrets = c
		return nil
	}
}

// WithCARefresh sets how long a loaded CA bundle is used before it is read
// again (DefaultCARefresh), how long a failed load is answered from memory
// (DefaultCARetry) and how long past its refresh a bundle stays in use
// while reloading fails (DefaultCAMaxStale; 0 never uses a stale bundle).
func WithCARefresh(refresh, retry, maxStale time.Duration) DialerOption {
	return func(d *TLSDialer) error {
		if refresh < time.Second || refresh > 24*time.Hour || retry < 0 || retry > refresh || maxStale < 0 || maxStale > 7*24*time.Hour {
			return fmt.Errorf("%w: WithCARefresh(%v, %v, %v): want a refresh of 1s-24h, a retry no longer than it and a staleness of 0-7 days", ErrBadOption, refresh, retry, maxStale)
		}
		d.cas.refresh, d.cas.retry, d.cas.stale = refresh, retry, maxStale
		return nil
	}
}

// WithDialerLogger logs CA bundle failures (discarded by default).
func WithDialerLogger(l *slog.Logger) DialerOption {
	return func(d *TLSDialer) error {
		if l == nil {
			return fmt.Errorf("%w: WithDialerLogger: nil logger", ErrBadOption)
		}
		d.cas.log = l
		return nil
	}
}

// WithDialerClock sets the clock of the CA bundle cache (time.Now).
func WithDialerClock(now func() time.Time) DialerOption {
	return func(d *TLSDialer) error {
		if now == nil {
			return fmt.Errorf("%w: WithDialerClock: nil clock", ErrBadOption)
		}
		d.cas.now = now
		return nil
	}
}

// WithClientOptions are passed to every gwclient.Dial, e.g.
// gwclient.WithKeepalive.
func WithClientOptions(opts ...gwclient.Option) DialerOption {
	return func(d *TLSDialer) error {
		d.opts = append(d.opts, opts...)
		return nil
	}
}

// NewGroupWiseDialer returns a dialer that resolves a relative caRef under
// caDir (an absolute caRef is used as is, "secretsmanager:<name or ARN>"
// is read with WithSecrets' client, and an empty one means the system
// roots, or the pin alone when one is set) and records connect and login
// latencies and errors in rec (nil: none).
func NewGroupWiseDialer(caDir string, rec *metrics.Recorder, opts ...DialerOption) (*TLSDialer, error) {
	d := &TLSDialer{rec: rec, cas: &caCache{
		dir: caDir, refresh: DefaultCARefresh, retry: DefaultCARetry, stale: DefaultCAMaxStale,
		now: time.Now, log: slog.New(slog.DiscardHandler), entries: map[string]*caEntry{},
	}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Login implements GroupWiseDialer.
func (d *TLSDialer) Login(ctx context.Context, l GroupWiseLogin) (GroupWise, gwclient.LoginInfo, error) {
	opts := append([]gwclient.Option{gwclient.WithEventHandler(l.Events)}, d.opts...)
	if l.Target.CARef != "" {
		pool, err := d.cas.get(ctx, l.Target.CARef)
		if err != nil {
			if d.rec != nil {
				d.rec.Add(metrics.GroupWiseErrors, 1, metrics.Pool(l.Pool), metrics.ResultCode("ca"))
			}
			return nil, gwclient.LoginInfo{}, err
		}
		opts = append(opts, gwclient.WithRootCAs(pool))
	}
	if l.Target.PinSHA256 != "" {
		opts = append(opts, gwclient.WithPinnedSHA256(l.Target.PinSHA256))
	}
	port := l.Target.Port
	if port == 0 {
		port = manifest.GroupWisePort
	}
	start := time.Now()
	c, err := gwclient.Dial(ctx, net.JoinHostPort(l.Target.Host, strconv.Itoa(port)), opts...)
	d.observe(metrics.GroupWiseConnectLatency, start, l.Pool, err)
	if err != nil {
		return nil, gwclient.LoginInfo{}, err
	}
	start = time.Now()
	info, err := c.Login(ctx, l.UserID, l.Password, userAgent, l.DeviceIP)
	d.observe(metrics.GroupWiseLoginLatency, start, l.Pool, err)
	if err != nil {
		c.Close() // Login closes on failure; this makes it explicit
		return nil, gwclient.LoginInfo{}, err
	}
	return c, info, nil
}

// observe records one GroupWise step's latency and, when it failed, its
// error by result code (or by kind when the server never answered).
func (d *TLSDialer) observe(m metrics.Metric, start time.Time, pool string, err error) {
	if d.rec == nil {
		return
	}
	d.rec.ObserveDuration(m, time.Since(start), metrics.Pool(pool))
	if err != nil {
		d.rec.Add(metrics.GroupWiseErrors, 1, metrics.Pool(pool), metrics.ResultCode(groupWiseErrorCode(err)))
	}
}

// groupWiseErrorCode is a failed step's ResultCode dimension: the server's
// result code, or connect, tls, timeout or protocol (and ca, recorded by
// Login, when the pool's CA bundle cannot be loaded).
func groupWiseErrorCode(err error) string {
	var re *gwclient.ResultError
	var netErr net.Error
	switch {
	case errors.As(err, &re):
		return strconv.Itoa(int(re.Code))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, gwclient.ErrPinMismatch), errors.As(err, new(*tls.CertificateVerificationError)), errors.As(err, new(tls.AlertError)):
		return "tls"
	case errors.Is(err, gwclient.ErrProtocol):
		return "protocol"
	}
	return "connect"
}

// groupWiseStatus maps a failed GroupWise login to what the device is told.
func groupWiseStatus(err error) status.Code {
	switch {
	case errors.Is(err, gwclient.ErrBadCredentials), errors.Is(err, gwclient.ErrUserNotFound):
		return status.BadCredentials
	case errors.Is(err, gwclient.ErrAccountLocked):
		return status.AccountLocked
	}
	return status.GroupWiseUnavailable
}
