package edge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/status"
)

// ErrCARef reports a pool CA reference the edge cannot load.
var ErrCARef = errors.New("edge: GroupWise CA bundle cannot be loaded")

// TLSDialer logs users in to GroupWise with gwclient, trusting each pool's
// CA bundle (caRef) and/or certificate pin as the authorize response names
// them. CA bundles are read once and shared by every connection.
type TLSDialer struct {
	caDir string
	rec   *metrics.Recorder // nil: no metrics
	opts  []gwclient.Option

	mu    sync.Mutex // guards pools
	pools map[string]*x509.CertPool
}

var _ GroupWiseDialer = (*TLSDialer)(nil)

// NewGroupWiseDialer returns a dialer that resolves a relative caRef under
// caDir (an absolute caRef is used as is; an empty one means the system
// roots, or the pin alone when one is set) and records connect and login
// latencies and errors in rec (nil: none). opts are passed to every
// gwclient.Dial, e.g. gwclient.WithKeepalive.
func NewGroupWiseDialer(caDir string, rec *metrics.Recorder, opts ...gwclient.Option) *TLSDialer {
	return &TLSDialer{caDir: caDir, rec: rec, opts: opts, pools: map[string]*x509.CertPool{}}
}

// Login implements GroupWiseDialer.
func (d *TLSDialer) Login(ctx context.Context, l GroupWiseLogin) (GroupWise, gwclient.LoginInfo, error) {
	opts := append([]gwclient.Option{gwclient.WithEventHandler(l.Events)}, d.opts...)
	if l.Target.CARef != "" {
		pool, err := d.pool(l.Target.CARef)
		if err != nil {
			return nil, gwclient.LoginInfo{}, err
		}
		opts = append(opts, gwclient.WithRootCAs(pool))
	}
	if l.Target.PinSHA256 != "" {
		opts = append(opts, gwclient.WithPinnedSHA256(l.Target.PinSHA256))
	}
	port := l.Target.Port
	if port == 0 {
		port = 8300
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
// result code, or connect, tls, timeout or protocol.
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

func (d *TLSDialer) pool(ref string) (*x509.CertPool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.pools[ref]; ok {
		return p, nil
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(d.caDir, filepath.Clean("/"+ref))
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrCARef, ref, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: %q holds no PEM certificate", ErrCARef, ref)
	}
	d.pools[ref] = p
	return p, nil
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
