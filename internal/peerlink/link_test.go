package peerlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// echoOwner is a test owner: it accepts session "s1" (with a new token)
// and refuses anything else with LOGGED_OUT; on an accepted link it
// answers PING with PONG and SEND_IM with RECEIVE_IM until the link ends.
func echoOwner(ctx context.Context, c *Conn, r *Resume) {
	if r.Request.SessionID != "s1" {
		_ = c.Answer(ctx, &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()})
		return
	}
	if err := c.Answer(ctx, &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{7}, StatusInterval: time.Minute}); err != nil {
		return
	}
	defer c.Close()
	for {
		m, err := c.Receive(ctx)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *devproto.Ping:
			err = c.Send(ctx, &devproto.Pong{ID: m.ID})
		case *devproto.SendIM:
			err = c.Send(ctx, &devproto.ReceiveIM{From: m.To, Text: m.Text, ServerTime: testTime})
		case *devproto.Logout:
			return
		}
		if err != nil {
			return
		}
	}
}

// startServer serves a Server for key on a loopback port.
func startServer(t *testing.T, key Key, handle ResumeFunc, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := NewServer("task-a", key, handle, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Wait(ctx); err != nil {
			t.Errorf("links left open: %v", err)
		}
	})
	return s, ln.Addr().String()
}

func newDialer(t *testing.T, key Key, opts ...Option) *Dialer {
	t.Helper()
	d, err := NewDialer("task-b", key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func resumeS1(t *testing.T, d *Dialer, addr string) (*Conn, *devproto.ServerStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := testResume()
	r.Request.SessionID = "s1"
	c, st, err := d.Resume(ctx, addr, "task-a", r)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, st, err
}

func receiveWithin(t *testing.T, c *Conn, d time.Duration) (devproto.Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Receive(ctx)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinkRelaysBothWays(t *testing.T) {
	shared := new(Counters)
	s, addr := startServer(t, testKey(1), echoOwner, WithCounters(shared))
	d := newDialer(t, testKey(1), WithCounters(shared))
	c, st, err := resumeS1(t, d, addr)
	if err != nil || st.Code != status.Accepted || st.ResumeToken != (devproto.ResumeToken{7}) || c == nil {
		t.Fatalf("resume: %v %+v", err, st)
	}
	if c.PeerTask() != "task-a" {
		t.Fatalf("peer task %q", c.PeerTask())
	}
	ctx := context.Background()
	if err := c.Send(ctx, &devproto.Ping{ID: 5}); err != nil {
		t.Fatal(err)
	}
	if m, err := receiveWithin(t, c, 5*time.Second); err != nil || m.(*devproto.Pong).ID != 5 {
		t.Fatalf("pong: %v %v", m, err)
	}
	if err := c.Send(ctx, &devproto.SendIM{To: "bob", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if m, err := receiveWithin(t, c, 5*time.Second); err != nil || m.(*devproto.ReceiveIM).Text != "hi" {
		t.Fatalf("IM: %v %v", m, err)
	}
	// A message of the wrong side is refused without harm.
	if err := c.Send(ctx, &devproto.ReceiveIM{From: "x", Text: "y", ServerTime: testTime}); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("relaying task sent a gateway message: %v", err)
	}
	st1 := s.Counters().Stats()
	if st1.In["ok"] != 1 || st1.Out["ok"] != 1 || st1.OpenIn != 1 || st1.OpenOut != 1 || st1.BytesIn == 0 || st1.BytesOut == 0 {
		t.Fatalf("stats while relaying: %+v", st1)
	}
	c.Close()
	eventually(t, "both ends closed and counted", func() bool {
		st := shared.Stats()
		return st.OpenIn == 0 && st.OpenOut == 0 && st.Ended["closed"] == 2
	})
	if err := c.Send(ctx, &devproto.Ping{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestLinkRefusals(t *testing.T) {
	cur, next, other := testKey(1), testKey(2), testKey(3)
	tests := []struct {
		name     string
		dialKey  Key
		owner    string
		session  string
		wantCode status.Code // when answered
		wantErr  error
		wantOut  string
		wantIn   string
	}{
		{"right key", cur, "task-a", "s1", status.Accepted, nil, "ok", "ok"},
		{"next key", next, "task-a", "s1", status.Accepted, nil, "ok", "ok"},
		{"refused session", cur, "task-a", "s9", status.LoggedOut, nil, "ok", "ok"},
		{"wrong key", other, "task-a", "s1", 0, ErrRefused, "refused_key", "unknown_key"},
		{"wrong task", cur, "task-z", "s1", 0, ErrWrongTask, "wrong_task", "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared := new(Counters)
			_, addr := startServer(t, cur, echoOwner, WithNextKey(next), WithCounters(shared))
			d := newDialer(t, tt.dialKey, WithCounters(shared))
			r := testResume()
			r.Request.SessionID = tt.session
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, st, err := d.Resume(ctx, addr, tt.owner, r)
			if c != nil {
				defer c.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Resume error %v, want %v", err, tt.wantErr)
			}
			if err == nil && (st.Code != tt.wantCode || (c != nil) != (tt.wantCode == status.Accepted)) {
				t.Fatalf("answer %v with link %v, want %v", st.Code, c != nil, tt.wantCode)
			}
			eventually(t, "both sides counted", func() bool {
				s := shared.Stats()
				return s.Out[tt.wantOut] == 1 && s.In[tt.wantIn] == 1
			})
		})
	}
}

func TestDialFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	d := newDialer(t, testKey(1))
	if _, _, err := resumeS1(t, d, closedAddr); err == nil {
		t.Fatal("resume to a closed port succeeded")
	}
	if n := d.Counters().Stats().Out["dial_failed"]; n != 1 {
		t.Fatalf("dial_failed = %d", n)
	}
	bad := testResume()
	bad.DeviceKey = devproto.PublicKey{}
	if _, _, err := d.Resume(context.Background(), closedAddr, "task-a", bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("an invalid RESUME: %v", err)
	}
}

func TestLinkCaps(t *testing.T) {
	t.Run("inbound", func(t *testing.T) {
		shared := new(Counters)
		_, addr := startServer(t, testKey(1), echoOwner, WithMaxLinks(1), WithCounters(shared))
		d := newDialer(t, testKey(1), WithCounters(shared))
		first, _, err := resumeS1(t, d, addr)
		if err != nil {
			t.Fatal(err)
		}
		var ref *RefusedError
		if _, _, err := resumeS1(t, d, addr); !errors.As(err, &ref) || ref.Reason != RefuseBusy {
			t.Fatalf("link over the inbound cap: %v", err)
		}
		if s := shared.Stats(); s.In["conn_cap"] != 1 || s.Out["refused_busy"] != 1 {
			t.Fatalf("counted %+v", s)
		}
		first.Close()
		eventually(t, "the slot back", func() bool { return shared.Stats().OpenIn == 0 })
		if _, _, err := resumeS1(t, d, addr); err != nil {
			t.Fatalf("link after the slot came back: %v", err)
		}
	})
	t.Run("outbound", func(t *testing.T) {
		_, addr := startServer(t, testKey(1), echoOwner)
		d := newDialer(t, testKey(1), WithMaxLinks(1))
		if _, _, err := resumeS1(t, d, addr); err != nil {
			t.Fatal(err)
		}
		if _, _, err := resumeS1(t, d, addr); !errors.Is(err, ErrTooManyLinks) {
			t.Fatalf("link over the outbound cap: %v", err)
		}
		if n := d.Counters().Stats().Out["conn_cap"]; n != 1 {
			t.Fatalf("conn_cap = %d", n)
		}
	})
}

func TestOrderlyCloseDeliversWhatPrecededIt(t *testing.T) {
	_, addr := startServer(t, testKey(1), func(ctx context.Context, c *Conn, _ *Resume) {
		if c.Answer(ctx, &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{1}}) != nil {
			return
		}
		_ = c.Send(ctx, &devproto.ServerStatus{Code: status.LoggedOut, Message: "bye"})
		c.Close()
	})
	c, _, err := resumeS1(t, newDialer(t, testKey(1)), addr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := receiveWithin(t, c, 5*time.Second)
	if err != nil || m.(*devproto.ServerStatus).Code != status.LoggedOut {
		t.Fatalf("last message: %v %v", m, err)
	}
	if _, err := receiveWithin(t, c, 5*time.Second); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("after the last message: %v", err)
	}
}

func TestKeepalivesKeepAQuietLinkUp(t *testing.T) {
	// Keepalives go out every idle/3; the rest is slack for the timers of
	// a loaded machine.
	const idle = 1500 * time.Millisecond
	shared := new(Counters)
	_, addr := startServer(t, testKey(1), echoOwner, WithIdleTimeout(idle), WithCounters(shared))
	d := newDialer(t, testKey(1), WithIdleTimeout(idle), WithCounters(shared))
	c, _, err := resumeS1(t, d, addr)
	if err != nil {
		t.Fatal(err)
	}
	// Two idle timeouts of silence from both applications.
	if _, err := receiveWithin(t, c, 2*idle); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a quiet link: %v", err)
	}
	if err := c.Send(context.Background(), &devproto.Ping{ID: 9}); err != nil {
		t.Fatal(err)
	}
	if m, err := receiveWithin(t, c, 5*time.Second); err != nil || m.(*devproto.Pong).ID != 9 {
		t.Fatalf("after the quiet: %v %v (%+v)", m, err, shared.Stats())
	}
	if s := shared.Stats(); s.Ended["idle_timeout"] != 0 {
		t.Fatalf("a quiet but live link timed out: %+v", s)
	}
}

// TestKeepalivesAreSent watches the frames of a quiet link: KEEPALIVEs,
// about one per idle/3.
func TestKeepalivesAreSent(t *testing.T) {
	const idle = 300 * time.Millisecond
	answer := acceptedAnswer(t)
	got := make(chan int, 1)
	addr := rawResponder(t, testKey(1), func(p *rawPeer) {
		dst, start := p.tr.begin(nil, msgAnswer)
		frame, err := p.tr.seal(append(dst, answer...), start)
		if err != nil {
			got <- -1
			return
		}
		_, _ = p.conn.Write(frame)
		n := 0
		_ = p.conn.SetReadDeadline(time.Now().Add(4 * idle))
		for {
			f, err := readFrame(p.conn, nil, DefaultMaxFrameSize)
			if err != nil {
				break
			}
			if typ, body, err := p.tr.open(f); err != nil || typ != msgKeepalive || len(body) != 0 {
				break
			}
			n++
		}
		got <- n
	})
	c, _, err := resumeS1(t, newDialer(t, testKey(1), WithIdleTimeout(idle)), addr)
	if err != nil {
		t.Fatal(err)
	}
	// Four idle timeouts: about twelve keepalives; two prove the timer re-arms.
	if n := <-got; n < 2 {
		t.Fatalf("%d keepalives in %v with an idle timeout of %v", n, 4*idle, idle)
	}
	c.Close()
}

func TestServerCloseThenWait(t *testing.T) {
	s, addr := startServer(t, testKey(1), echoOwner)
	d := newDialer(t, testKey(1))
	c, _, err := resumeS1(t, d, addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, _, err := resumeS1(t, d, addr); err == nil {
		t.Fatal("a closed server set up a link")
	}
	// The relaying link survives Close: it belongs to its session.
	if err := c.Send(context.Background(), &devproto.Ping{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := receiveWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); err == nil {
		t.Fatal("Wait returned with a link open")
	}
	c.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.Wait(ctx2); err != nil {
		t.Fatal(err)
	}
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, *Conn, *Resume) {}
	tests := []struct {
		name string
		task string
		key  Key
		h    ResumeFunc
		opts []Option
	}{
		{"no task", "", testKey(1), h, nil},
		{"no key", "t", Key{}, h, nil},
		{"no handler", "t", testKey(1), nil, nil},
		{"zero timeout", "t", testKey(1), h, []Option{WithHandshakeTimeout(0)}},
		{"tiny idle", "t", testKey(1), h, []Option{WithIdleTimeout(time.Millisecond)}},
		{"no links", "t", testKey(1), h, []Option{WithMaxLinks(0)}},
		{"small frames", "t", testKey(1), h, []Option{WithMaxFrameSize(MinFrameSize - 1)}},
		{"nil counters", "t", testKey(1), h, []Option{WithCounters(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewServer(tt.task, tt.key, tt.h, tt.opts...); err == nil {
				t.Fatal("NewServer accepted")
			}
			if tt.h != nil {
				if _, err := NewDialer(tt.task, tt.key, tt.opts...); err == nil {
					t.Fatal("NewDialer accepted")
				}
			}
		})
	}
}

func TestServeAfterClose(t *testing.T) {
	s, err := NewServer("task-a", testKey(1), echoOwner)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the listener was left open: %v", err)
	}
}

func TestCloseDeviceError(t *testing.T) {
	got := make(chan error, 1)
	shared := new(Counters)
	_, addr := startServer(t, testKey(1), func(ctx context.Context, c *Conn, _ *Resume) {
		if c.Answer(ctx, &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{1}}) != nil {
			return
		}
		if err := c.CloseDeviceError(1); !errors.Is(err, ErrUnexpectedMessage) {
			got <- fmt.Errorf("the owner sent a device error: %w", err)
			return
		}
		for {
			if _, err := c.Receive(ctx); err != nil {
				got <- err
				return
			}
		}
	}, WithCounters(shared))
	c, _, err := resumeS1(t, newDialer(t, testKey(1), WithCounters(shared)), addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), &devproto.Ping{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseDeviceError(7); err != nil {
		t.Fatal(err)
	}
	var de *DeviceError
	select {
	case err := <-got:
		if !errors.As(err, &de) || de.Reason != 7 || !errors.Is(err, ErrPeerClosed) {
			t.Fatalf("owner's Receive after the PING: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer from the owner")
	}
	eventually(t, "both ends counted closed", func() bool { return shared.Stats().Ended["closed"] == 2 })
}
