package edgeimage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/collabgw/collabgw/internal/clocktest"
)

func TestParseECRHost(t *testing.T) {
	tests := []struct {
		host, account, region string
		ok                    bool
	}{
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com", "123456789012", "eu-west-1", true},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012", "us-gov-west-1", true},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "123456789012", "cn-north-1", true},
		{"123456789012.dkr-ecr.ap-southeast-2.on.aws", "123456789012", "ap-southeast-2", true},
		{"public.ecr.aws", "", "", false},
		{"12345.dkr.ecr.eu-west-1.amazonaws.com", "", "", false},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example", "", "", false},
		{"127.0.0.1:5000", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			account, region, ok := ParseECRHost(tt.host)
			if account != tt.account || region != tt.region || ok != tt.ok {
				t.Errorf("ParseECRHost = %q, %q, %v; want %q, %q, %v", account, region, ok, tt.account, tt.region, tt.ok)
			}
		})
	}
}

// fakeECR answers GetAuthorizationToken from a table; a fake is right
// here because the failures (bad tokens, errors) cannot be had from AWS
// on demand. TestECRKeychainThroughTheSDK covers the real client.
type fakeECR struct {
	token   string
	expires *time.Time
	err     error
	calls   atomic.Int32
}

func (f *fakeECR) GetAuthorizationToken(context.Context, *ecr.GetAuthorizationTokenInput, ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{
		AuthorizationToken: aws.String(f.token), ExpiresAt: f.expires,
	}}}, nil
}

func basic(t *testing.T, a authn.Authenticator) (user, pass string) {
	t.Helper()
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Username, cfg.Password
}

func resource(t *testing.T, repo string) authn.Resource {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const ecrRepo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge"

func TestECRKeychain(t *testing.T) {
	secret := "s3cr3t-password-never-logged"
	good := base64.StdEncoding.EncodeToString([]byte("AWS:" + secret))
	tests := []struct {
		name     string
		fake     *fakeECR
		repo     string
		wantUser string
		wantErr  error
	}{
		{"ECR registry", &fakeECR{token: good}, ecrRepo, "AWS", nil},
		{"other registry is anonymous", &fakeECR{token: good}, "registry.example.com/edge", "", nil},
		{"token not base64", &fakeECR{token: "%%%" + secret}, ecrRepo, "", ErrECRToken},
		{"token without a colon", &fakeECR{token: base64.StdEncoding.EncodeToString([]byte(secret))}, ecrRepo, "", ErrECRToken},
		{"ECR refuses", &fakeECR{err: errors.New("AccessDeniedException")}, ecrRepo, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var regions []string
			kc, err := NewECRKeychain(func(_ context.Context, region string) (ECRTokenAPI, error) {
				regions = append(regions, region)
				return tt.fake, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.ResolveContext(context.Background(), resource(t, tt.repo))
			switch {
			case tt.fake.err != nil:
				if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
					t.Fatalf("err = %v, want ECR's error", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows the token: %v", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if tt.wantUser == "" {
				if a != authn.Anonymous || tt.fake.calls.Load() != 0 {
					t.Fatalf("authenticator %v after %d ECR calls, want anonymous and none", a, tt.fake.calls.Load())
				}
				return
			}
			if user, pass := basic(t, a); user != tt.wantUser || pass != secret {
				t.Errorf("credentials %q/%q", user, pass)
			}
			if len(regions) != 1 || regions[0] != "eu-west-1" {
				t.Errorf("ECR clients for %v, want eu-west-1 (the registry's region)", regions)
			}
		})
	}
}

func TestECRKeychainCachesUntilNearExpiry(t *testing.T) {
	clock := clocktest.New()
	expires := clock.Now().Add(time.Hour)
	fake := &fakeECR{token: base64.StdEncoding.EncodeToString([]byte("AWS:pw")), expires: &expires}
	kc, err := NewECRKeychain(func(context.Context, string) (ECRTokenAPI, error) { return fake, nil })
	if err != nil {
		t.Fatal(err)
	}
	kc.now = clock.Now
	steps := []struct {
		advance   time.Duration
		wantCalls int32
	}{
		{0, 1},                                // first use asks ECR
		{30 * time.Minute, 1},                 // cached
		{30*time.Minute - tokenMargin + 1, 2}, // within the margin of its expiry: renewed
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if _, err := kc.Resolve(resource(t, ecrRepo)); err != nil {
			t.Fatal(err)
		}
		if got := fake.calls.Load(); got != s.wantCalls {
			t.Fatalf("step %d: %d ECR calls, want %d", i, got, s.wantCalls)
		}
	}
}

func TestNewECRKeychainNeedsAClient(t *testing.T) {
	if _, err := NewECRKeychain(nil); !errors.Is(err, ErrBadOption) {
		t.Fatalf("err = %v, want ErrBadOption", err)
	}
}

// TestECRKeychainThroughTheSDK runs the real ECR client against a local
// endpoint that answers as ECR does, checking the request the SDK sends.
func TestECRKeychainThroughTheSDK(t *testing.T) {
	var target, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		target, body = r.Header.Get("X-Amz-Target"), string(b)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			http.Error(w, `{"__type":"MissingAuthenticationTokenException"}`, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte("AWS:from-ecr")),
			"expiresAt":          float64(time.Now().Add(12 * time.Hour).Unix()),
			"proxyEndpoint":      "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
		}}})
	}))
	defer srv.Close()
	kc, err := NewECRKeychain(func(_ context.Context, region string) (ECRTokenAPI, error) {
		return ecr.New(ecr.Options{
			Region:       region,
			Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
			BaseEndpoint: aws.String(srv.URL),
		}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.ResolveContext(context.Background(), resource(t, ecrRepo))
	if err != nil {
		t.Fatal(err)
	}
	if user, pass := basic(t, a); user != "AWS" || pass != "from-ecr" {
		t.Errorf("credentials %q/%q", user, pass)
	}
	if target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" || body != "{}" {
		t.Errorf("request target %q body %q", target, body)
	}
}
