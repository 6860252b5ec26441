package lambdaapi

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/dynamotest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/metrics/metricstest"
	"github.com/collabgw/collabgw/internal/status"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// stack is the handlers over a real store on DynamoDB Local, logging and
// writing metrics to one buffer, as the functions share stdout.
type stack struct {
	t     *testing.T
	ctx   context.Context
	store *admission.Store
	h     *Handlers
	clock *clocktest.Clock
	out   *metricstest.SyncBuffer
	keys  map[string][]byte // device -> public key
	seq   int
	// run makes request ids unique across tests: DynamoDB (Local too)
	// remembers a transaction's client token account-wide for 10 minutes.
	run string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := admission.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	out := &metricstest.SyncBuffer{}
	log := Env{LogLevel: slog.LevelDebug}.Logger(out).With("function", "test")
	clk := clocktest.New()
	store, err := admission.New(client, table, admission.WithClock(clk.Now), admission.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := metrics.New(out, metrics.WithClock(clk.Now), metrics.WithProperty("function", "test"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(store, WithLogger(log), WithMetrics(rec))
	if err != nil {
		t.Fatal(err)
	}
	h.now = clk.Now
	if _, err := store.RenewTaskLease(ctx, "edge-1", "edge-1.internal:3102"); err != nil {
		t.Fatal(err)
	}
	return &stack{t: t, ctx: ctx, store: store, h: h, clock: clk, out: out, keys: map[string][]byte{}, run: rand.Text()[:8]}
}

func (s *stack) pool(c admission.PoolConfig) {
	s.t.Helper()
	c.GroupWise.Host = "gw.example.internal"
	if _, err := s.store.PutPool(s.ctx, c); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) user(id, pool string, permitted bool) {
	s.t.Helper()
	if err := s.store.PutUser(s.ctx, admission.User{ID: id, Pool: pool, Permitted: permitted}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) device(id, user string) {
	s.t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		s.t.Fatal(err)
	}
	s.keys[id] = k.PublicKey().Bytes()
	if err := s.store.RegisterDevice(s.ctx, admission.Device{ID: id, UserID: user, PublicKey: s.keys[id], Active: true}); err != nil {
		s.t.Fatal(err)
	}
}

// login builds an authorize event of device for user with a fresh request
// id and a device time later than any before.
func (s *stack) login(device, user string) AuthorizeRequest {
	s.seq++
	key := s.keys[device]
	if key == nil {
		key = make([]byte, 32)
	}
	return AuthorizeRequest{
		RequestID: fmt.Sprintf("req-%s-%d-%s", device, s.seq, s.run), DeviceID: device, DevicePublicKey: key,
		DeviceTime: s.clock.Now().Add(time.Duration(s.seq) * time.Millisecond), UserID: user,
		ClientVersion: "1.0", EdgeTask: "edge-1", SourceAddr: "192.0.2.1",
		ResumeTokenHash: make([]byte, 32),
	}
}

// invocation is the context the Lambda runtime gives a handler.
func invocation(id string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
}

func (s *stack) authorize(req AuthorizeRequest) AuthorizeResponse {
	s.t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.h.Authorize(invocation("aws-"+req.RequestID), raw)
	if err != nil {
		s.t.Fatalf("authorize %s: %v", req.RequestID, err)
	}
	return resp
}

type metricWant struct {
	name  string
	dims  map[string]string
	value float64
}

// total sums metric name over the EMF documents whose dimension members
// are exactly dims (array values count their elements).
func total(docs []metricstest.Document, name string, dims map[string]string) (float64, bool) {
	sum, found := 0.0, false
	for _, d := range docs {
		v, ok := d[name]
		if !ok {
			continue
		}
		match := true
		for _, k := range []string{metrics.DimPool, metrics.DimOutcome, metrics.DimReason, metrics.DimFunction, metrics.DimErrorType} {
			got, has := d[k].(string)
			want, wanted := dims[k]
			if has != wanted || got != want {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch v := v.(type) {
		case float64:
			sum += v
		case []any:
			sum += float64(len(v))
		}
	}
	return sum, found
}

// TestHandlersRecordEveryDecision drives the real handlers over DynamoDB
// Local through each decision and checks the metrics they flush: valid
// EMF (schema and catalog), with the counts and dimensions expected.
func TestHandlersRecordEveryDecision(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *stack)
		want []metricWant
	}{
		{
			name: "accepted",
			run:  func(s *stack) { s.authorize(s.login("dev-a", "alice")) },
			want: []metricWant{
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "ACCEPTED"}, 1},
				{"AdmissionLatency", map[string]string{"Pool": "main"}, 1},
			},
		},
		{
			name: "not permitted, before any pool is read",
			run:  func(s *stack) { s.authorize(s.login("dev-c", "carol")) },
			want: []metricWant{{"LoginAttempts", map[string]string{"Outcome": "NOT_PERMITTED"}, 1}},
		},
		{
			name: "unknown device",
			run:  func(s *stack) { s.authorize(s.login("dev-unknown", "alice")) },
			want: []metricWant{{"LoginAttempts", map[string]string{"Outcome": "DEVICE_REVOKED"}, 1}},
		},
		{
			name: "server busy at the maximum",
			run: func(s *stack) {
				s.authorize(s.login("dev-a", "alice"))
				s.authorize(s.login("dev-b", "bob"))
			},
			want: []metricWant{
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "ACCEPTED"}, 1},
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "SERVER_BUSY"}, 1},
			},
		},
		{
			name: "failed 300 at the protocol limit",
			run: func(s *stack) {
				s.authorize(s.login("dev-o1", "olga"))
				s.authorize(s.login("dev-o2", "oscar"))
			},
			want: []metricWant{{"LoginAttempts", map[string]string{"Pool": "open", "Outcome": "FAILED_300"}, 1}},
		},
		{
			name: "replayed login",
			run: func(s *stack) {
				req := s.login("dev-a", "alice")
				s.authorize(req)
				req.RequestID += "-replay"
				s.authorize(req)
			},
			want: []metricWant{{"LoginAttempts", map[string]string{"Outcome": "PROTOCOL_ERROR"}, 1}},
		},
		{
			name: "idle session evicted at the maximum",
			run: func(s *stack) {
				resp := s.authorize(s.login("dev-a", "alice"))
				// alice's edge marks her silent; edge-1 stays alive.
				silent := admission.Activity{Coverage: admission.CoverageIn, LastStatus: s.clock.Now(), Silent: true, Seq: 1}
				if err := s.store.SetActivity(s.ctx, "edge-1", *resp.Session, silent); err != nil {
					s.t.Fatal(err)
				}
				s.clock.Advance(61 * time.Second) // past the idle timeout
				if _, err := s.store.RenewTaskLease(s.ctx, "edge-1", ""); err != nil {
					s.t.Fatal(err)
				}
				s.authorize(s.login("dev-b", "bob"))
			},
			want: []metricWant{
				{"Evictions", map[string]string{"Pool": "main", "Reason": "idle"}, 1},
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "ACCEPTED"}, 2},
			},
		},
		{
			name: "same device replaces its session",
			run: func(s *stack) {
				s.authorize(s.login("dev-a", "alice"))
				s.authorize(s.login("dev-a", "alice"))
			},
			want: []metricWant{{"Evictions", map[string]string{"Pool": "main", "Reason": "replaced"}, 1}},
		},
		{
			name: "release",
			run: func(s *stack) {
				resp := s.authorize(s.login("dev-a", "alice"))
				raw, _ := json.Marshal(ReleaseRequest{Session: *resp.Session, Reason: "logout"})
				if _, err := s.h.Release(invocation("aws-release"), raw); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []metricWant{{"Releases", map[string]string{"Pool": "main"}, 1}},
		},
		{
			name: "sweep ends a dead lease and reports the pools",
			run: func(s *stack) {
				s.authorize(s.login("dev-a", "alice"))
				s.clock.Advance(10 * time.Minute)
				if _, err := s.h.Sweep(invocation("aws-sweep"), json.RawMessage(`{}`)); err != nil {
					s.t.Fatal(err)
				}
			},
			want: []metricWant{
				{"Evictions", map[string]string{"Pool": "main", "Reason": "lease_expired"}, 1},
				{"ActiveSessions", map[string]string{"Pool": "main"}, 0},
				{"CounterDrift", map[string]string{"Pool": "main"}, 0},
				{"ActiveSessions", map[string]string{"Pool": "open"}, 0},
			},
		},
		{
			name: "a device time outside the clock window stores nothing",
			run: func(s *stack) {
				for _, at := range []time.Time{
					s.clock.Now().AddDate(74, 0, 0),
					time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), // calendar-free: beyond any clock
				} {
					req := s.login("dev-a", "alice")
					req.DeviceTime = at
					if resp := s.authorize(req); resp.Status != status.ProtocolError || resp.Reason != "device-clock-skew" {
						s.t.Fatalf("deviceTime %v: %v (%s), want PROTOCOL_ERROR (device-clock-skew)", at, resp.Status, resp.Reason)
					}
				}
				// Nothing was stored: not locked out as a replay.
				if resp := s.authorize(s.login("dev-a", "alice")); resp.Status != status.Accepted {
					s.t.Fatalf("next login: %v (%s), want ACCEPTED", resp.Status, resp.Reason)
				}
			},
			want: []metricWant{
				{"LoginAttempts", map[string]string{"Outcome": "PROTOCOL_ERROR"}, 2},
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "ACCEPTED"}, 1},
			},
		},
		{
			name: "bad event",
			run: func(s *stack) {
				if _, err := s.h.Authorize(invocation("aws-bad"), json.RawMessage(`{"requestId":`)); err == nil {
					s.t.Fatal("a malformed event was accepted")
				}
			},
			want: []metricWant{{"FunctionErrors", map[string]string{"Function": "authorize", "ErrorType": ErrorTypeBadEvent}, 1}},
		},
		{
			name: "user of a pool without configuration",
			run: func(s *stack) {
				raw, _ := json.Marshal(s.login("dev-g", "gary"))
				if _, err := s.h.Authorize(invocation("aws-ghost"), raw); errorType(err) != ErrorTypeConfig {
					s.t.Fatalf("authorize = %v, want a ConfigError", err)
				}
			},
			want: []metricWant{{"FunctionErrors", map[string]string{"Function": "authorize", "ErrorType": ErrorTypeConfig}, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			s.pool(admission.PoolConfig{Name: "main", MaxSessions: 1, IdleTimeout: time.Minute})
			s.pool(admission.PoolConfig{Name: "open", ProtocolLimit: 1})
			for _, u := range []struct{ user, pool, device string }{
				{"alice", "main", "dev-a"}, {"bob", "main", "dev-b"}, {"olga", "open", "dev-o1"}, {"oscar", "open", "dev-o2"}, {"gary", "ghost", "dev-g"},
			} {
				s.user(u.user, u.pool, true)
				s.device(u.device, u.user)
			}
			s.user("carol", "main", false)
			s.device("dev-c", "carol")
			tt.run(s)
			docs := metricstest.ValidateEMF(t, s.out.Bytes())
			for _, w := range tt.want {
				got, ok := total(docs, w.name, w.dims)
				if !ok || got != w.value {
					t.Errorf("%s %v = %v (found %v), want %v", w.name, w.dims, got, ok, w.value)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", s.out.Bytes())
			}
		})
	}
}

// TestEveryLoginLineCarriesRequestAndSession follows logins through the
// function and the admission store (at debug level, so every line shows):
// every log line carries the edge's request id and the session key, the
// session id once there is one, and the Lambda request id.
func TestEveryLoginLineCarriesRequestAndSession(t *testing.T) {
	s := newStack(t)
	s.pool(admission.PoolConfig{Name: "main", MaxSessions: 1})
	s.user("alice", "main", true)
	s.device("dev-a", "alice")
	s.user("bob", "main", true)
	s.device("dev-b", "bob")

	accepted := s.login("dev-a", "alice")
	resp := s.authorize(accepted)
	busy := s.login("dev-b", "bob")
	if got := s.authorize(busy); got.Status != status.ServerBusy {
		t.Fatalf("second login: %v, want SERVER_BUSY", got.Status)
	}
	_, logs := metricstest.Split(t, s.out.Bytes())
	lines := map[string]int{}
	for _, l := range logs {
		req, _ := l[LogRequest].(string)
		lines[req]++
		sess, hasSession := l[LogSession].(string)
		if !hasSession || l[LogAWSRequest] != "aws-"+req {
			t.Errorf("line without session or Lambda request id: %v", l)
		}
		if req == accepted.RequestID && l["msg"] == "authorize" && sess != resp.Session.ID {
			t.Errorf("accepted login's line has session %q, want %q: %v", sess, resp.Session.ID, l)
		}
		if l["function"] != "test" {
			t.Errorf("line without the function name: %v", l)
		}
	}
	if lines[accepted.RequestID] < 2 || lines[busy.RequestID] < 1 || len(lines) != 2 {
		t.Errorf("lines by request id: %v, want only the two logins (the accepted one from the handler and the store)", lines)
	}
}

// TestNoSecretsInLogsOrMetrics drives every handler, the error paths
// included, with recognisable secrets where a careless change could put
// them (an event carrying a password, the resume token's hash, keys) and
// scans everything written, and every answer and error, for them.
func TestNoSecretsInLogsOrMetrics(t *testing.T) {
	s := newStack(t)
	s.pool(admission.PoolConfig{Name: "main", MaxSessions: 5, IdleTimeout: time.Minute, InactivityTimeout: 5 * time.Minute})
	s.user("alice", "main", true)
	s.device("dev-a", "alice")

	password := []byte("Pa55w0rd-never-logged-7f3a")
	token := []byte("resume-token-never-logged-91c2e")
	tokenHash := sha256.Sum256(token)
	gatewayKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []metricstest.Secret{
		{Name: "password", Value: password},
		{Name: "resume token", Value: token},
		{Name: "resume token hash", Value: tokenHash[:]},
		{Name: "gateway private key", Value: gatewayKey.Bytes()},
	}
	var answers []byte
	record := func(v any, err error) {
		b, _ := json.Marshal(v)
		answers = append(answers, b...)
		if err != nil {
			answers = append(answers, err.Error()...)
		}
	}

	req := s.login("dev-a", "alice")
	req.ResumeTokenHash = tokenHash[:]
	raw, _ := json.Marshal(req)
	resp, err := s.h.Authorize(invocation("aws-1"), raw)
	record(resp, err)

	// An edge bug that forwards the password: rejected, and not echoed.
	var withPassword map[string]any
	_ = json.Unmarshal(raw, &withPassword)
	withPassword["password"] = string(password)
	withPassword["requestId"] = "req-with-password-" + s.run
	bad, _ := json.Marshal(withPassword)
	record(s.h.Authorize(invocation("aws-2"), bad))

	// The password where a string is expected but not accepted.
	withPassword["deviceTime"] = string(password)
	delete(withPassword, "password")
	bad, _ = json.Marshal(withPassword)
	record(s.h.Authorize(invocation("aws-3"), bad))

	if resp.Session != nil {
		rel, _ := json.Marshal(ReleaseRequest{Session: *resp.Session, Reason: "logout"})
		record(s.h.Release(invocation("aws-4"), rel))
	}
	s.clock.Advance(10 * time.Minute)
	record(s.h.Sweep(invocation("aws-5"), json.RawMessage(`{}`)))

	out := s.out.Bytes()
	metricstest.ValidateEMF(t, out)
	metricstest.AssertNoSecrets(t, out, secrets...)
	metricstest.AssertNoSecrets(t, answers, secrets...)
	if emf, logs := metricstest.Split(t, out); len(emf) == 0 || len(logs) == 0 {
		t.Errorf("the test saw %d EMF documents and %d log lines; it must see both to prove anything", len(emf), len(logs))
	}
}
