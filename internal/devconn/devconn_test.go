package devconn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

const (
	testDevice  = "android-7f3c9a2b"
	testTimeout = 5 * time.Second
)

var testToken = devproto.ResumeToken{4, 2}

// gateway is an Acceptor on a loopback listener whose results a test reads.
type gateway struct {
	ln       net.Listener
	verifier *devprototest.Verifier
	acceptor *devconn.Acceptor
	results  chan acceptResult
	admit    devconn.AdmitFunc
}

type acceptResult struct {
	s   *devconn.Session
	err error
}

func admitAll(_ context.Context, h *devproto.Hello) *devproto.ServerStatus {
	if r, ok := h.Request.(*devproto.Resume); ok && !testToken.Hash().Verify(r.Token) {
		return &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()}
	}
	return &devproto.ServerStatus{Code: status.Accepted, SessionID: "s-1", ResumeToken: testToken, StatusInterval: time.Minute}
}

func startGateway(t *testing.T, admit devconn.AdmitFunc, opts ...devconn.Option) *gateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{ln: ln, verifier: devprototest.NewVerifier(), results: make(chan acceptResult, 16), admit: admit}
	g.verifier.Register(testDevice, devprototest.PublicKey("device"))
	resp, err := devproto.NewResponder(devprototest.Key("gateway"), g.verifier)
	if err != nil {
		t.Fatal(err)
	}
	g.acceptor, err = devconn.NewAcceptor(resp, opts...)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				s, err := g.acceptor.Accept(ctx, conn, g.admit)
				g.results <- acceptResult{s, err}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return g
}

// next returns the next Accept result, or fails the test after testTimeout.
func (g *gateway) next(t *testing.T) acceptResult {
	t.Helper()
	select {
	case r := <-g.results:
		if r.s != nil {
			t.Cleanup(func() { r.s.Close() })
		}
		return r
	case <-time.After(testTimeout):
		t.Fatal("no Accept result")
		return acceptResult{}
	}
}

func newClient(t *testing.T, device, gatewayKey string) *devconn.Client {
	t.Helper()
	c, err := devconn.NewClient(devprototest.Key(device), devprototest.PublicKey(gatewayKey))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func login(t *testing.T, c *devconn.Client, addr string, deviceID string) (*devconn.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := c.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Login(ctx, conn, devproto.Login{DeviceID: deviceID, UserID: "jsmith", Password: "correct horse", ClientVersion: "test/1"})
	if s != nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestLoginAndChat(t *testing.T) {
	g := startGateway(t, admitAll)
	dev, err := login(t, newClient(t, "device", "gateway"), g.ln.Addr().String(), testDevice)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	r := g.next(t)
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	gw := r.s
	if got := dev.Accepted(); got.SessionID != "s-1" || got.ResumeToken != testToken || got.StatusInterval != time.Minute {
		t.Fatalf("device got %+v", got)
	}
	if l, ok := gw.Request().(*devproto.Login); !ok || l.UserID != "jsmith" || l.Password != "" || gw.DeviceKey() != devprototest.PublicKey("device") {
		t.Fatalf("gateway saw %#v from %v", gw.Request(), gw.DeviceKey())
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	steps := []struct {
		name string
		from *devconn.Session
		to   *devconn.Session
		msg  devproto.Message
	}{
		{"device sends its status", dev, gw, &devproto.Status{Presence: devproto.PresenceBusy, Text: "In a meeting"}},
		{"device sends an IM", dev, gw, &devproto.SendIM{To: "jdoe", Text: "Can you send me the report?", ClientMsgID: 9}},
		{"gateway delivers an IM", gw, dev, &devproto.ReceiveIM{From: "jdoe", Text: "Sure, in 5 minutes", ServerTime: time.Now()}},
		{"gateway pings", gw, dev, &devproto.Ping{ID: 1}},
		{"device answers", dev, gw, &devproto.Pong{ID: 1}},
		{"device logs out", dev, gw, &devproto.Logout{}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.from.Send(ctx, st.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got, err := st.to.Receive(ctx)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if got.Type() != st.msg.Type() {
				t.Fatalf("received %v, want %v", got.Type(), st.msg.Type())
			}
		})
	}
	dev.Close()
	if _, err := gw.Receive(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the device hung up: %v, want EOF", err)
	}
	if err := gw.Send(ctx, &devproto.Ping{}); !errors.Is(err, devconn.ErrClosed) {
		t.Fatalf("Send on a closed session: %v", err)
	}
}

func TestResume(t *testing.T) {
	g := startGateway(t, admitAll)
	c := newClient(t, "device", "gateway")
	tests := []struct {
		name  string
		token devproto.ResumeToken
		want  status.Code
	}{
		{"resume token accepted", testToken, status.Accepted},
		{"stale resume token refused", devproto.ResumeToken{9}, status.LoggedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			conn, err := c.Dial(ctx, g.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Resume(ctx, conn, devproto.Resume{DeviceID: testDevice, SessionID: "s-1", Token: tt.token})
			if s != nil {
				defer s.Close()
			}
			got := status.Accepted
			var rej *devconn.RejectedError
			if errors.As(err, &rej) {
				got = rej.Status.Code
			} else if err != nil {
				t.Fatalf("Resume: %v", err)
			}
			if got != tt.want {
				t.Fatalf("device told %v, want %v", got, tt.want)
			}
			g.next(t)
		})
	}
}

func TestRefusals(t *testing.T) {
	busy := func(context.Context, *devproto.Hello) *devproto.ServerStatus {
		return &devproto.ServerStatus{Code: status.ServerBusy, Message: status.ServerBusy.Text(), RetryAfter: time.Minute}
	}
	tests := []struct {
		name       string
		device     string // key seed
		deviceID   string
		gatewayKey string
		revoke     bool
		admit      devconn.AdmitFunc
		wantDevice error       // what Login returns
		wantStatus status.Code // when Login returns a RejectedError
		wantGW     error       // what Accept returns
	}{
		{"unknown device", "stranger", "stranger-1", "gateway", false, admitAll, devconn.ErrRejected, status.DeviceRevoked, devproto.ErrUnknownDevice},
		{"revoked device", "device", testDevice, "gateway", true, admitAll, devconn.ErrRejected, status.DeviceRevoked, devproto.ErrDeviceRevoked},
		{"device id claimed with another key", "thief", testDevice, "gateway", false, admitAll, devconn.ErrRejected, status.DeviceRevoked, devproto.ErrDeviceKeyMismatch},
		{"wrong gateway key", "device", testDevice, "impostor", false, admitAll, devproto.ErrHandshakeRejected, 0, devproto.ErrHandshakeAuth},
		{"admission says busy", "device", testDevice, "gateway", false, busy, devconn.ErrRejected, status.ServerBusy, devconn.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, tt.admit)
			if tt.revoke {
				g.verifier.Revoke(testDevice)
			}
			_, err := login(t, newClient(t, tt.device, tt.gatewayKey), g.ln.Addr().String(), tt.deviceID)
			if !errors.Is(err, tt.wantDevice) {
				t.Fatalf("Login error = %v, want %v", err, tt.wantDevice)
			}
			var rej *devconn.RejectedError
			if errors.As(err, &rej) && rej.Status.Code != tt.wantStatus {
				t.Fatalf("device told %v, want %v", rej.Status.Code, tt.wantStatus)
			}
			if r := g.next(t); !errors.Is(r.err, tt.wantGW) {
				t.Fatalf("Accept error = %v, want %v", r.err, tt.wantGW)
			}
		})
	}
}

// recordingConn keeps what a client writes, to replay it.
type recordingConn struct {
	net.Conn
	written []byte
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.written = append(c.written, b...)
	return c.Conn.Write(b)
}

func TestReplayedHelloIsRefused(t *testing.T) {
	g := startGateway(t, admitAll)
	c := newClient(t, "device", "gateway")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := c.Dial(ctx, g.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: conn}
	s, err := c.Login(ctx, rec, devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if r := g.next(t); r.err != nil {
		t.Fatal(r.err)
	}
	// An attacker replays the captured HELLO on a new connection.
	raw, err := net.Dial("tcp", g.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write(rec.written); err != nil {
		t.Fatal(err)
	}
	if r := g.next(t); !errors.Is(r.err, devproto.ErrReplayed) {
		t.Fatalf("replayed hello: Accept error = %v, want ErrReplayed", r.err)
	}
}

func TestHandshakeDeadline(t *testing.T) {
	const deadline = 200 * time.Millisecond
	g := startGateway(t, admitAll, devconn.WithHandshakeTimeout(deadline))
	conn, err := net.Dial("tcp", g.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// A silent client, and one that stalls half-way through its HELLO.
	r := g.next(t)
	if !errors.Is(r.err, devconn.ErrHandshakeTimeout) {
		t.Fatalf("silent client: Accept error = %v, want ErrHandshakeTimeout", r.err)
	}
	if waited := time.Since(start); waited < deadline/2 || waited > testTimeout/2 {
		t.Fatalf("dropped after %v, deadline %v", waited, deadline)
	}
	if err := conn.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("silent client's connection: read error = %v, want EOF (closed)", err)
	}
	stall, err := net.Dial("tcp", g.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	if _, err := stall.Write([]byte{0, 200, devproto.KindHello, devproto.Version}); err != nil {
		t.Fatal(err)
	}
	if r := g.next(t); !errors.Is(r.err, devconn.ErrHandshakeTimeout) {
		t.Fatalf("stalled client: Accept error = %v, want ErrHandshakeTimeout", r.err)
	}
}

func TestReceiveFailures(t *testing.T) {
	tests := []struct {
		name string
		send func(raw net.Conn) error // what the device's side of the wire carries
		want error
	}{
		{"oversized frame", func(raw net.Conn) error {
			_, err := raw.Write([]byte{0xff, 0xff, devproto.KindDeviceData})
			return err
		}, devproto.ErrFrameTooLarge},
		{"truncated frame", func(raw net.Conn) error {
			if _, err := raw.Write([]byte{0, 40, devproto.KindDeviceData, 1, 2, 3}); err != nil {
				return err
			}
			return raw.Close()
		}, devproto.ErrTruncated},
		{"tampered frame", func(raw net.Conn) error {
			_, err := raw.Write([]byte{0, 21, devproto.KindDeviceData, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
			return err
		}, devproto.ErrFrameAuth},
		{"frame from the wrong direction", func(raw net.Conn) error {
			_, err := raw.Write([]byte{0, 21, devproto.KindGatewayData, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
			return err
		}, devproto.ErrWrongDirection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, admitAll)
			c := newClient(t, "device", "gateway")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			raw, err := c.Dial(ctx, g.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordingConn{Conn: raw}
			dev, err := c.Login(ctx, rec, devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			r := g.next(t)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if err := tt.send(raw); err != nil {
				t.Fatal(err)
			}
			if _, err := r.s.Receive(ctx); !errors.Is(err, tt.want) {
				t.Fatalf("Receive error = %v, want %v", err, tt.want)
			}
			select {
			case <-r.s.Done():
			default:
				t.Fatal("the session survived a broken stream")
			}
		})
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	g := startGateway(t, admitAll)
	dev, err := login(t, newClient(t, "device", "gateway"), g.ln.Addr().String(), testDevice)
	if err != nil {
		t.Fatal(err)
	}
	gw := g.next(t).s
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := gw.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive after cancel: %v, want context.Canceled", err)
	}
	// Nothing was consumed, so the session carries on.
	ctx, cancel = context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := dev.Send(ctx, &devproto.Ping{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if m, err := gw.Receive(ctx); err != nil || m.(*devproto.Ping).ID != 3 {
		t.Fatalf("Receive after a cancelled one: %#v, %v", m, err)
	}
}

// TestReceiveDeadlinesLeaveTheSessionUsable polls an idle session with
// short deadlines, as a load generator does: whether the socket deadline
// or the context reports first, nothing was read, so the session stays
// open and the next message arrives.
func TestReceiveDeadlinesLeaveTheSessionUsable(t *testing.T) {
	g := startGateway(t, admitAll)
	dev, err := login(t, newClient(t, "device", "gateway"), g.ln.Addr().String(), testDevice)
	if err != nil {
		t.Fatal(err)
	}
	gw := g.next(t).s
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Millisecond)
		_, err := gw.Receive(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("poll %d: %v, want context.DeadlineExceeded", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := dev.Send(ctx, &devproto.Ping{ID: 4}); err != nil {
		t.Fatal(err)
	}
	if m, err := gw.Receive(ctx); err != nil || m.(*devproto.Ping).ID != 4 {
		t.Fatalf("Receive after polling: %#v, %v", m, err)
	}
}

// TestIdleSessionMemory measures what an idle gateway session costs: its
// heap, and the stack of the goroutine blocked in Receive (the edge runs
// one per session). It fails if a per-connection buffer creeps in.
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many connections")
	}
	const n = 200
	g := startGateway(t, admitAll)
	c := newClient(t, "device", "gateway")
	// Warm up the process-wide zstd contexts and pools first: they are
	// shared by all sessions and must not count against each one.
	if _, err := login(t, c, g.ln.Addr().String(), testDevice); err != nil {
		t.Fatal(err)
	}
	g.next(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sessions := make([]*devconn.Session, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range n {
		d, err := login(t, c, g.ln.Addr().String(), testDevice)
		if err != nil {
			t.Fatal(err)
		}
		r := g.next(t)
		if r.err != nil {
			t.Fatal(r.err)
		}
		sessions = append(sessions, r.s)
		go func() { _, _ = r.s.Receive(ctx) }() // parks like the edge's reader
		_ = d
	}
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Both ends live in this process: halve the total for one side.
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n / 2
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("per idle session (one side): heap ≈ %d B; receive goroutine stack ≈ %d B", heap, stack)
	if heap > 8<<10 {
		t.Errorf("an idle session costs %d B of heap, want under 8 KiB", heap)
	}
	// A reader parked in Receive must not keep a grown stack: the edge
	// holds tens of thousands of them (a stack grown through a handshake
	// is 16 KiB or more).
	if stack > 8<<10 {
		t.Errorf("an idle session's receive goroutine holds %d B of stack, want under 8 KiB", stack)
	}
	runtime.KeepAlive(sessions)
}
