package edge

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/status"
)

// ErrCARef reports a pool CA reference the edge cannot load.
var ErrCARef = errors.New("edge: GroupWise CA bundle cannot be loaded")

// TLSDialer logs users in to GroupWise with gwclient, trusting each pool's
// CA bundle (caRef) and/or certificate pin as the authorize response names
// them. CA bundles are read once and shared by every connection.
type TLSDialer struct {
	caDir string
	opts  []gwclient.Option

	mu    sync.Mutex // guards pools
	pools map[string]*x509.CertPool
}

var _ GroupWiseDialer = (*TLSDialer)(nil)

// NewGroupWiseDialer returns a dialer that resolves a relative caRef under
// caDir (an absolute caRef is used as is; an empty one means the system
// roots, or the pin alone when one is set). opts are passed to every
// gwclient.Dial, e.g. gwclient.WithKeepalive.
func NewGroupWiseDialer(caDir string, opts ...gwclient.Option) *TLSDialer {
	return &TLSDialer{caDir: caDir, opts: opts, pools: map[string]*x509.CertPool{}}
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
	c, err := gwclient.Dial(ctx, net.JoinHostPort(l.Target.Host, strconv.Itoa(port)), opts...)
	if err != nil {
		return nil, gwclient.LoginInfo{}, err
	}
	info, err := c.Login(ctx, l.UserID, l.Password, userAgent, l.DeviceIP)
	if err != nil {
		c.Close() // Login closes on failure; this makes it explicit
		return nil, gwclient.LoginInfo{}, err
	}
	return c, info, nil
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
