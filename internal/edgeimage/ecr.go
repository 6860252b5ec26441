package edgeimage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
)

// ECRTokenAPI is the one ECR call the keychain makes; *ecr.Client
// satisfies it.
type ECRTokenAPI interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

var _ ECRTokenAPI = (*ecr.Client)(nil)

// ECRClientFunc returns an ECR client for a region (the AWS SDK's default
// configuration with that region, in the command).
type ECRClientFunc func(ctx context.Context, region string) (ECRTokenAPI, error)

// ErrECRToken reports an authorization token ECR gave that cannot be used.
var ErrECRToken = errors.New("edgeimage: unusable ECR authorization token")

// ecrHost matches private ECR registries: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]
// and the dual-stack <account>.dkr-ecr[-fips].<region>.on.aws.
var ecrHost = regexp.MustCompile(`^([0-9]{12})\.(?:dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|dkr-ecr(?:-fips)?\.([a-z0-9-]+)\.on\.aws)$`)

// ParseECRHost returns the account and region of an ECR registry host.
func ParseECRHost(host string) (account, region string, ok bool) {
	m := ecrHost.FindStringSubmatch(host)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2] + m[3], true
}

// ECRKeychain resolves credentials for ECR registries with ECR's
// GetAuthorizationToken, so a push needs no `docker login`: the AWS SDK's
// credentials (profile, environment, SSO, instance role) are enough. For
// any other registry it answers anonymous, so it combines with other
// keychains (NewKeychain). Tokens are cached until shortly before they
// expire.
type ECRKeychain struct {
	newClient ECRClientFunc
	now       func() time.Time
	match     func(host string) (account, region string, ok bool)

	mu    sync.Mutex             // guards cache
	cache map[string]cachedToken // by registry host
}

type cachedToken struct {
	auth    authn.AuthConfig
	expires time.Time
}

// tokenMargin is how long before its expiry a cached token is renewed.
const tokenMargin = 5 * time.Minute

// NewECRKeychain returns a keychain that asks newClient's ECR for tokens.
func NewECRKeychain(newClient ECRClientFunc) (*ECRKeychain, error) {
	if newClient == nil {
		return nil, fmt.Errorf("%w: no ECR client", ErrBadOption)
	}
	return &ECRKeychain{newClient: newClient, now: time.Now, match: ParseECRHost, cache: map[string]cachedToken{}}, nil
}

var _ authn.ContextKeychain = (*ECRKeychain)(nil)

// Resolve implements authn.Keychain.
func (k *ECRKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *ECRKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	host := r.RegistryStr()
	_, region, ok := k.match(host)
	if !ok {
		return authn.Anonymous, nil
	}
	k.mu.Lock()
	c, hit := k.cache[host]
	k.mu.Unlock()
	if hit && k.now().Before(c.expires.Add(-tokenMargin)) {
		return authn.FromConfig(c.auth), nil
	}
	client, err := k.newClient(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("edgeimage: ECR client for %s: %w", region, err)
	}
	// The token opens every registry the caller's IAM principal may use in
	// that region, so no registry id is sent.
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return nil, fmt.Errorf("edgeimage: ECR GetAuthorizationToken for %s: %w", host, err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return nil, fmt.Errorf("%w: none returned for %s", ErrECRToken, host)
	}
	data := out.AuthorizationData[0]
	// The token is base64("AWS:<password>"); never put it in an error.
	raw, err := base64.StdEncoding.DecodeString(*data.AuthorizationToken)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrECRToken)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return nil, fmt.Errorf("%w: not user:password", ErrECRToken)
	}
	c = cachedToken{auth: authn.AuthConfig{Username: user, Password: pass}, expires: k.now().Add(time.Hour)}
	if data.ExpiresAt != nil {
		c.expires = *data.ExpiresAt
	}
	k.mu.Lock()
	k.cache[host] = c
	k.mu.Unlock()
	return authn.FromConfig(c.auth), nil
}

// NewKeychain is the keychain `collabgw image --push` uses: ECR
// registries through the AWS SDK, any other registry through the
// credentials `docker login` (or `crane auth login`) stored, else
// anonymous.
func NewKeychain(newClient ECRClientFunc) (authn.Keychain, error) {
	ecrKeys, err := NewECRKeychain(newClient)
	if err != nil {
		return nil, err
	}
	return authn.NewMultiKeychain(ecrKeys, authn.DefaultKeychain), nil
}
