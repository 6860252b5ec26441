package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/status"
)

// fakeSecrets answers GetSecretValue from a map; a secret missing from it
// is ResourceNotFound. gate, when set, holds every call until closed.
type fakeSecrets struct {
	mu      sync.Mutex
	values  map[string]*secretsmanager.GetSecretValueOutput
	failing error // when set, every call fails with it
	calls   atomic.Int64
	gate    chan struct{}
}

func (f *fakeSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	out, ok := f.values[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: Secrets Manager can't find the specified secret")
	}
	return out, nil
}

func (f *fakeSecrets) set(id string, out *secretsmanager.GetSecretValueOutput, failing error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.values == nil {
		f.values = map[string]*secretsmanager.GetSecretValueOutput{}
	}
	if out != nil {
		f.values[id] = out
	}
	f.failing = failing
}

// testCA is a CA certificate in PEM, made at test time.
func testCA(t *testing.T) []byte {
	t.Helper()
	sim, err := gwsim.New()
	if err != nil {
		t.Fatal(err)
	}
	return sim.CACertPEM()
}

func newTestCache(t *testing.T, dir string, secrets SecretsClient, clock *clocktest.Clock, log *slog.Logger) *caCache {
	t.Helper()
	opts := []DialerOption{WithDialerClock(clock.Now), WithDialerLogger(log)}
	if secrets != nil {
		opts = append(opts, WithSecrets(secrets))
	}
	d, err := NewGroupWiseDialer(dir, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d.cas
}

func TestCABundleSources(t *testing.T) {
	caPEM := testCA(t)
	block, _ := pem.Decode(caPEM)
	dir := t.TempDir()
	for name, body := range map[string][]byte{"pool.pem": caPEM, "key.pem": []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "junk.pem": []byte("not a certificate")} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secrets := &fakeSecrets{}
	secrets.set("ca/pem", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(caPEM))}, nil)
	secrets.set("ca/der", &secretsmanager.GetSecretValueOutput{SecretBinary: block.Bytes}, nil)
	secrets.set("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ca-AbCdEf", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(caPEM))}, nil)
	secrets.set("ca/empty", &secretsmanager.GetSecretValueOutput{}, nil)
	secrets.set("ca/password", &secretsmanager.GetSecretValueOutput{SecretString: aws.String("hunter2-not-a-cert")}, nil)

	tests := []struct {
		name    string
		ref     string
		noSM    bool   // a dialer without a Secrets Manager client
		wantErr string // "" for a bundle
	}{
		{"relative path under the CA folder", "pool.pem", false, ""},
		{"relative path cannot leave the folder", "../" + filepath.Base(dir) + "/pool.pem", false, "no such file"},
		{"absolute path", filepath.Join(dir, "pool.pem"), false, ""},
		{"missing file", "nope.pem", false, "no such file"},
		{"a private key is no CA", "key.pem", false, "holds no PEM certificate"},
		{"not PEM", "junk.pem", false, "holds neither PEM nor DER certificates"},
		{"secret with a PEM string", "secretsmanager:ca/pem", false, ""},
		{"secret with DER binary", "secretsmanager:ca/der", false, ""},
		{"secret by bare ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ca-AbCdEf", false, ""},
		{"secret by ARN with the prefix", "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:ca-AbCdEf", false, ""},
		{"missing secret", "secretsmanager:ca/none", false, "ResourceNotFoundException"},
		{"secret without a value", "secretsmanager:ca/empty", false, "the secret has no value"},
		{"secret that is no certificate", "secretsmanager:ca/password", false, "holds neither PEM nor DER"},
		{"no secret name", "secretsmanager:", false, "no secret name"},
		{"no Secrets Manager client", "secretsmanager:ca/pem", true, "no Secrets Manager client"},
		{"unknown source", "ssm:/collabgw/ca", false, `unknown source "ssm:"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var client SecretsClient = secrets
			if tt.noSM {
				client = nil
			}
			c := newTestCache(t, dir, client, clocktest.New(), slog.New(slog.NewTextHandler(&logs, nil)))
			pool, err := c.get(context.Background(), tt.ref)
			if tt.wantErr == "" {
				if err != nil || pool == nil {
					t.Fatalf("get(%q) = %v, %v", tt.ref, pool, err)
				}
				return
			}
			if !errors.Is(err, ErrCARef) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrCARef saying %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("the error does not name the reference: %v", err)
			}
			for _, s := range []string{"hunter2", "AAAA"} {
				if strings.Contains(err.Error()+logs.String(), s) {
					t.Errorf("a secret's content reached the error or the log: %v\n%s", err, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "GroupWise CA bundle cannot be loaded") {
				t.Errorf("the failure was not logged:\n%s", logs.String())
			}
		})
	}
}

// TestCABundleCaching: a bundle is read once per refresh period; a failed
// reload keeps the last good bundle for the staleness bound, and failures
// are retried only after the retry interval.
func TestCABundleCaching(t *testing.T) {
	caPEM := testCA(t)
	clock := clocktest.New()
	secrets := &fakeSecrets{}
	secrets.set("ca", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(caPEM))}, nil)
	c := newTestCache(t, "", secrets, clock, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	t0 := clock.Now()
	get := func(wantOK bool, wantCalls int64) {
		t.Helper()
		pool, err := c.get(ctx, "secretsmanager:ca")
		if (err == nil && pool != nil) != wantOK {
			t.Fatalf("at +%v: get = %v, %v; want ok=%v", clock.Now().Sub(t0), pool, err, wantOK)
		}
		if n := secrets.calls.Load(); n != wantCalls {
			t.Fatalf("at +%v: %d calls to Secrets Manager, want %d", clock.Now().Sub(t0), n, wantCalls)
		}
	}
	get(true, 1)
	get(true, 1) // cached
	clock.Advance(DefaultCARefresh - time.Second)
	get(true, 1)
	clock.Advance(time.Second) // refresh due
	get(true, 2)

	secrets.set("", nil, errors.New("ThrottlingException: Rate exceeded"))
	clock.Advance(DefaultCARefresh)
	get(true, 3) // reload fails: the last bundle, stale
	get(true, 3) // within the retry interval: no new call
	clock.Advance(DefaultCARetry)
	get(true, 4)
	clock.Advance(DefaultCAMaxStale) // past the staleness bound
	get(false, 5)
	get(false, 5) // the error is remembered for the retry interval
	clock.Advance(DefaultCARetry)
	secrets.set("", nil, nil)
	get(true, 6) // recovered
}

// TestCABundleLoadIsShared: logins arriving while a bundle loads wait for
// that load rather than starting their own; a login that gives up does not
// fail the others.
func TestCABundleLoadIsShared(t *testing.T) {
	caPEM := testCA(t)
	secrets := &fakeSecrets{gate: make(chan struct{})}
	secrets.set("ca", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(caPEM))}, nil)
	c := newTestCache(t, "", secrets, clocktest.New(), slog.New(slog.DiscardHandler))

	impatient, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 9)
	go func() { _, err := c.get(impatient, "secretsmanager:ca"); errs <- err }()
	eventually(t, "the first load to start", func() bool { return secrets.calls.Load() == 1 })
	for range 8 {
		go func() { _, err := c.get(context.Background(), "secretsmanager:ca"); errs <- err }()
	}
	cancel() // the login that started the load gives up
	close(secrets.gate)
	var failed int
	for range 9 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed > 1 {
		t.Fatalf("%d of 9 logins failed; only the cancelled one may", failed)
	}
	if n := secrets.calls.Load(); n != 1 {
		t.Fatalf("%d calls to Secrets Manager for one bundle, want 1", n)
	}
}

func TestCABundleCacheIsBounded(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), testCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New()
	c := newTestCache(t, dir, nil, clock, slog.New(slog.DiscardHandler))
	for i := range maxCARefs + 10 {
		clock.Advance(time.Millisecond)
		// Distinct refs for one file: "./ca.pem", ".//ca.pem", ...
		if _, err := c.get(context.Background(), "."+strings.Repeat("/", i+1)+"ca.pem"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.entries); n > maxCARefs {
		t.Fatalf("%d cached refs, bound %d", n, maxCARefs)
	}
}

// TestSecretsManagerRequestShape runs the real SDK client against a
// loopback server that answers as Secrets Manager does, so the request the
// edge makes (operation, body, signing) and the parsing of the answer are
// those of AWS, not of a fake.
func TestSecretsManagerRequestShape(t *testing.T) {
	caPEM := testCA(t)
	var mu sync.Mutex
	var got []*http.Request
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in map[string]any
		_ = json.Unmarshal(body, &in)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, in)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if in["SecretId"] != "collabgw/groupwise-ca" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ARN":           "arn:aws:secretsmanager:eu-west-1:123456789012:secret:collabgw/groupwise-ca-AbCdEf",
			"Name":          "collabgw/groupwise-ca",
			"SecretString":  string(caPEM),
			"VersionId":     "00000000-0000-0000-0000-000000000001",
			"VersionStages": []string{"AWSCURRENT"},
		})
	}))
	defer srv.Close()
	client := secretsmanager.New(secretsmanager.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "local-secret", ""),
	})
	c := newTestCache(t, "", client, clocktest.New(), slog.New(slog.DiscardHandler))

	if _, err := c.get(context.Background(), "secretsmanager:collabgw/groupwise-ca"); err != nil {
		t.Fatal(err)
	}
	_, err := c.get(context.Background(), "secretsmanager:collabgw/missing")
	if !errors.Is(err, ErrCARef) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing secret: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		t.Errorf("request %s %s target %q type %q", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
	}
	if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "AWS4-HMAC-SHA256") || !strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") {
		t.Errorf("request not signed for Secrets Manager: %q", auth)
	}
	if len(bodies[0]) != 1 || bodies[0]["SecretId"] != "collabgw/groupwise-ca" {
		t.Errorf("request body %v, want only the SecretId", bodies[0])
	}
}

// TestLoginWithCAFromSecretsManager: a pool whose caRef names a secret
// logs in through the edge; one whose secret is missing tells the device
// GROUPWISE_UNAVAILABLE, logs the cause and counts it.
func TestLoginWithCAFromSecretsManager(t *testing.T) {
	secrets := &fakeSecrets{}
	var logs syncBuffer
	dialer, err := NewGroupWiseDialer("", nil, WithSecrets(secrets), WithDialerLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEdge(t, nil, WithGroupWiseDialer(dialer))
	secrets.set("collabgw/groupwise-ca", &secretsmanager.GetSecretValueOutput{SecretString: aws.String(string(e.sim.CACertPEM()))}, nil)

	e.fn.mu.Lock()
	e.fn.target.CARef = "secretsmanager:collabgw/groupwise-ca"
	e.fn.mu.Unlock()
	e.device(1).mustLogin()

	e.fn.mu.Lock()
	e.fn.target.CARef = "secretsmanager:collabgw/not-there"
	e.fn.mu.Unlock()
	if st := e.device(2).login(gwsim.DemoPassword); st.Code != status.GroupWiseUnavailable {
		t.Fatalf("login with a missing CA secret: %v, want GROUPWISE_UNAVAILABLE", st.Code)
	}
	if !strings.Contains(logs.String(), `"caRef":"secretsmanager:collabgw/not-there"`) || !strings.Contains(logs.String(), "ResourceNotFoundException") {
		t.Fatalf("the cause is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "BEGIN CERTIFICATE") {
		t.Fatal("a secret's value reached the log")
	}
	eventually(t, "the slot released", func() bool { return len(e.fn.releases()) == 1 })
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDialerOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opt  DialerOption
	}{
		{"nil secrets client", WithSecrets(nil)},
		{"sub-second refresh", WithCARefresh(time.Millisecond, 0, 0)},
		{"retry past the refresh", WithCARefresh(time.Minute, 2*time.Minute, 0)},
		{"negative staleness", WithCARefresh(time.Minute, time.Second, -1)},
		{"nil logger", WithDialerLogger(nil)},
		{"nil clock", WithDialerClock(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewGroupWiseDialer("", nil, tt.opt); !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
	if _, err := NewGroupWiseDialer("", nil, WithCARefresh(time.Minute, time.Second, 0)); err != nil {
		t.Fatal(err)
	}
}
