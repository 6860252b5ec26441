package edge

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsClient is the one Secrets Manager call the edge makes: reading a
// pool's GroupWise CA bundle. *secretsmanager.Client satisfies it.
type SecretsClient interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsClient = (*secretsmanager.Client)(nil)

// CA reference forms. A pool's caRef is one of:
//   - "secretsmanager:<name or ARN>", or a bare Secrets Manager ARN: a
//     secret whose value (string or binary) is a PEM bundle, or DER
//     certificates when binary;
//   - an absolute path: a PEM file in the edge's image or a mounted volume;
//   - a relative path: a PEM file under COLLABGW_GROUPWISE_CA_DIR.
const (
	CARefSecretsManager = "secretsmanager:"
	secretsManagerARN   = "arn:" // followed by partition ":secretsmanager:"
)

// Defaults of the CA bundle cache.
const (
	// DefaultCARefresh is how long a loaded bundle is used before it is
	// read again, so a rotated CA reaches every task within it.
	DefaultCARefresh = 5 * time.Minute
	// DefaultCARetry is how long a failed load is answered from memory
	// (the last good bundle, or the error) before it is tried again, so a
	// burst of logins to a pool with a broken caRef costs one request.
	DefaultCARetry = 10 * time.Second
	// DefaultCAMaxStale is how long past its refresh a bundle keeps being
	// used while reloading it fails (Secrets Manager unreachable), so a
	// short outage there does not stop logins.
	DefaultCAMaxStale = time.Hour
	// caLoadTimeout bounds one read of a secret or file.
	caLoadTimeout = 5 * time.Second
	// maxCARefs bounds the cache; there is one ref per pool.
	maxCARefs = 256
	// maxCABundle bounds what one bundle may hold (Secrets Manager's own
	// limit is 64 KiB).
	maxCABundle = 1 << 20
)

// caCache loads and caches CA bundles by reference. Concurrent logins to a
// pool whose bundle is not loaded share one load.
type caCache struct {
	dir                   string
	secrets               SecretsClient // nil: secret references fail
	refresh, retry, stale time.Duration
	now                   func() time.Time
	log                   *slog.Logger

	mu      sync.Mutex // guards entries and every entry's fields
	entries map[string]*caEntry
}

type caEntry struct {
	pool     *x509.CertPool // the last good bundle; nil until one loaded
	loaded   time.Time      // when pool was loaded
	err      error          // the last load's error, nil after a success
	failedAt time.Time
	loading  chan struct{} // non-nil while a load runs; closed when it ends
}

// get returns the bundle ref names.
func (c *caCache) get(ctx context.Context, ref string) (*x509.CertPool, error) {
	c.mu.Lock()
	for {
		e := c.entries[ref]
		now := c.now()
		switch {
		case e == nil:
			e = c.addLocked(ref)
		case e.pool != nil && now.Before(e.loaded.Add(c.refresh)):
			c.mu.Unlock()
			return e.pool, nil
		case e.loading != nil:
			wait := e.loading
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: %q: %w", ErrCARef, ref, ctx.Err())
			}
			c.mu.Lock()
			continue
		case e.err != nil && now.Before(e.failedAt.Add(c.retry)):
			pool, err := c.staleLocked(e, now)
			c.mu.Unlock()
			return pool, err
		}
		return c.loadLocked(ctx, ref, e)
	}
}

// staleLocked answers from a failed entry: the last good bundle while it
// is not too old, else the error.
func (c *caCache) staleLocked(e *caEntry, now time.Time) (*x509.CertPool, error) {
	if e.pool != nil && now.Before(e.loaded.Add(c.refresh+c.stale)) {
		return e.pool, nil
	}
	return nil, e.err
}

// addLocked makes room for and adds an entry for ref: the entry loaded
// longest ago goes (pools are few; a full cache means refs changed).
func (c *caCache) addLocked(ref string) *caEntry {
	if len(c.entries) >= maxCARefs {
		var oldest string
		for r, e := range c.entries {
			if e.loading == nil && (oldest == "" || e.loaded.Before(c.entries[oldest].loaded)) {
				oldest = r
			}
		}
		delete(c.entries, oldest)
	}
	e := &caEntry{}
	c.entries[ref] = e
	return e
}

// loadLocked loads ref into e; it is called with c.mu held and returns
// with it released.
func (c *caCache) loadLocked(ctx context.Context, ref string, e *caEntry) (*x509.CertPool, error) {
	done := make(chan struct{})
	e.loading = done
	c.mu.Unlock()
	// The load outlives the login that started it: others may wait on it.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), caLoadTimeout)
	pool, err := c.load(lctx, ref)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.loading = nil
	close(done)
	now := c.now()
	if err == nil {
		e.pool, e.loaded, e.err = pool, now, nil
		return pool, nil
	}
	e.err, e.failedAt = err, now
	pool, serr := c.staleLocked(e, now)
	if pool != nil {
		c.log.Warn("GroupWise CA bundle could not be reloaded; using the last one loaded", "caRef", ref, "loaded", e.loaded, "err", err)
	} else {
		c.log.Error("GroupWise CA bundle cannot be loaded; logins to its pool get GROUPWISE_UNAVAILABLE", "caRef", ref, "err", err)
	}
	return pool, serr
}

// load reads and parses one bundle.
func (c *caCache) load(ctx context.Context, ref string) (*x509.CertPool, error) {
	var (
		data []byte
		err  error
	)
	if id, ok := secretID(ref); ok {
		data, err = c.readSecret(ctx, id)
	} else {
		data, err = c.readFile(ref)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrCARef, ref, err)
	}
	pool, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrCARef, ref, err)
	}
	return pool, nil
}

// secretID returns the secret a Secrets Manager reference names.
func secretID(ref string) (string, bool) {
	if id, ok := strings.CutPrefix(ref, CARefSecretsManager); ok {
		return id, true
	}
	if strings.HasPrefix(ref, secretsManagerARN) && strings.Contains(ref, ":secretsmanager:") {
		return ref, true
	}
	return "", false
}

func (c *caCache) readSecret(ctx context.Context, id string) ([]byte, error) {
	if id == "" {
		return nil, errors.New("no secret name after the secretsmanager prefix")
	}
	if c.secrets == nil {
		return nil, errors.New("the edge has no Secrets Manager client")
	}
	out, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		// The SDK's error names the operation, the status and the
		// service's reason; it never holds the secret's value.
		return nil, err
	}
	switch {
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	case out.SecretBinary != nil:
		return out.SecretBinary, nil
	}
	return nil, errors.New("the secret has no value")
}

func (c *caCache) readFile(ref string) ([]byte, error) {
	if before, _, ok := strings.Cut(ref, ":"); ok && !strings.Contains(before, "/") {
		return nil, fmt.Errorf("unknown source %q: use a path or %s<name or ARN>", before+":", CARefSecretsManager)
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.dir, filepath.Clean("/"+ref))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxCABundle+1))
}

// parseBundle reads PEM certificates, or DER ones (as a binary secret may
// hold them).
func parseBundle(data []byte) (*x509.CertPool, error) {
	if len(data) > maxCABundle {
		return nil, fmt.Errorf("bundle larger than %d bytes", maxCABundle)
	}
	pool := x509.NewCertPool()
	if block, _ := pem.Decode(data); block != nil {
		if !pool.AppendCertsFromPEM(data) {
			return nil, errors.New("holds no PEM certificate")
		}
		return pool, nil
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil || len(certs) == 0 {
		return nil, errors.New("holds neither PEM nor DER certificates")
	}
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	return pool, nil
}
