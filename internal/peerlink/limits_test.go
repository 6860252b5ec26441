package peerlink

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// rawPeer is one end of a link driven by hand: the handshake functions
// over a plain socket, so a test can make it slow, silent or deaf.
type rawPeer struct {
	conn net.Conn
	tr   *transport
}

func (p *rawPeer) write(t *testing.T, typ msgType, body []byte) {
	t.Helper()
	dst, start := p.tr.begin(nil, typ)
	frame, err := p.tr.seal(append(dst, body...), start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}

func (p *rawPeer) read(t *testing.T) (msgType, []byte) {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	frame, err := readFrame(p.conn, nil, MaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	typ, body, err := p.tr.open(frame)
	if err != nil {
		t.Fatal(err)
	}
	return typ, body
}

// rawInitiator dials addr and runs the handshake and the RESUME of s1,
// with a small receive buffer so that a test can fill it.
func rawInitiator(t *testing.T, addr string, key Key) *rawPeer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	hello, pending, err := startHello("raw-b", key, DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(hello); err != nil {
		t.Fatal(err)
	}
	frame, err := readFrame(conn, nil, MaxHandshakeSize)
	if err != nil {
		t.Fatal(err)
	}
	_, tr, err := pending.finish(frame)
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{conn: conn, tr: tr}
	r := testResume()
	r.Request.SessionID = "s1"
	body, err := appendResume(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, msgResume, body)
	return p
}

// rawResponder serves one link on a loopback port by hand: behave runs
// once the RESUME is in (nil: the responder never even completes the
// handshake).
func rawResponder(t *testing.T, key Key, behave func(p *rawPeer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if behave == nil {
			_, _ = io.Copy(io.Discard, conn) // silent: reads, never answers
			return
		}
		kr, _ := newKeyring(key, Key{})
		frame, err := readFrame(conn, nil, MaxHandshakeSize)
		if err != nil {
			return
		}
		in, err := kr.readHello(frame)
		if err != nil {
			return
		}
		welcome, tr, err := in.reply("task-a", DefaultMaxFrameSize)
		if err != nil {
			return
		}
		if _, err := conn.Write(welcome); err != nil {
			return
		}
		resume, err := readFrame(conn, nil, DefaultMaxFrameSize)
		if err != nil {
			return
		}
		if typ, _, err := tr.open(resume); err != nil || typ != msgResume {
			return
		}
		// rawPeer's helpers call t.Fatal: not from this goroutine.
		behave(&rawPeer{conn: conn, tr: tr})
	}()
	return ln.Addr().String()
}

func acceptedAnswer(t *testing.T) []byte {
	t.Helper()
	b, err := devproto.AppendPayload(nil, &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSetupIsBounded: a responder that never answers, or answers the
// handshake but not the RESUME, costs the relaying task no more than the
// handshake timeout.
func TestSetupIsBounded(t *testing.T) {
	const timeout = 150 * time.Millisecond
	tests := []struct {
		name   string
		behave func(p *rawPeer)
	}{
		{"silent responder", nil},
		{"no answer to the RESUME", func(p *rawPeer) { _, _ = io.Copy(io.Discard, p.conn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawResponder(t, testKey(1), tt.behave)
			d := newDialer(t, testKey(1), WithHandshakeTimeout(timeout))
			start := time.Now()
			_, _, err := resumeS1(t, d, addr)
			took := time.Since(start)
			if !errors.Is(err, ErrHandshakeTimeout) {
				t.Fatalf("Resume = %v, want ErrHandshakeTimeout", err)
			}
			if took > 20*timeout {
				t.Fatalf("Resume took %v with a %v timeout", took, timeout)
			}
			if n := d.Counters().Stats().Out["timeout"]; n != 1 {
				t.Fatalf("timeout counted %d times", n)
			}
			eventually(t, "the slot back", func() bool { return d.Counters().Stats().OpenOut == 0 })
		})
	}
}

// TestInboundSetupIsBounded: an initiator that connects and says nothing,
// or stops after the handshake, is dropped after the handshake timeout.
func TestInboundSetupIsBounded(t *testing.T) {
	const timeout = 150 * time.Millisecond
	tests := []struct {
		name  string
		speak func(t *testing.T, conn net.Conn)
	}{
		{"silent initiator", func(*testing.T, net.Conn) {}},
		{"no RESUME after the handshake", func(t *testing.T, conn net.Conn) {
			hello, _, err := startHello("raw-b", testKey(1), DefaultMaxFrameSize)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(hello); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := startServer(t, testKey(1), echoOwner, WithHandshakeTimeout(timeout))
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tt.speak(t, conn)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn) // until the server drops us
			if err != nil {
				t.Fatalf("the server did not close the connection: %v", err)
			}
			eventually(t, "timeout counted", func() bool { return s.Counters().Stats().In["timeout"] == 1 })
			eventually(t, "slot back", func() bool { return s.Counters().Stats().OpenIn == 0 })
		})
	}
}

// TestIdleLinkEnds: an owner that stops sending even keepalives (a stuck
// task) ends the link after the idle timeout.
func TestIdleLinkEnds(t *testing.T) {
	const idle = 150 * time.Millisecond
	answer := acceptedAnswer(t)
	stuck := make(chan struct{})
	addr := rawResponder(t, testKey(1), func(p *rawPeer) {
		dst, start := p.tr.begin(nil, msgAnswer)
		if frame, err := p.tr.seal(append(dst, answer...), start); err == nil {
			_, _ = p.conn.Write(frame)
		}
		<-stuck
	})
	t.Cleanup(func() { close(stuck) }) // before rawResponder's cleanup, which waits for it
	d := newDialer(t, testKey(1), WithIdleTimeout(idle))
	c, _, err := resumeS1(t, d, addr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Receive(context.Background())
	if !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("Receive = %v, want ErrIdleTimeout", err)
	}
	if took := time.Since(start); took < idle {
		t.Fatalf("idle timeout after %v, before %v", took, idle)
	}
	if n := d.Counters().Stats().Ended["idle_timeout"]; n != 1 {
		t.Fatalf("idle_timeout counted %d times", n)
	}
}

// TestDeafPeerEndsTheLink: a relaying task that stops reading makes the
// owner's writes fail within the write timeout, and the link ends; nothing
// queues without bound.
func TestDeafPeerEndsTheLink(t *testing.T) {
	const writeTimeout = 100 * time.Millisecond
	sendErr := make(chan error, 1)
	wrote := make(chan int, 1)
	s, addr := startServer(t, testKey(1), func(ctx context.Context, c *Conn, _ *Resume) {
		if err := c.Answer(ctx, &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{1}}); err != nil {
			sendErr <- err
			return
		}
		im := &devproto.ReceiveIM{From: "bob", Text: incompressible(devproto.MaxIMTextLen), ServerTime: testTime}
		for i := range 20_000 { // at most 160 MiB: far beyond any socket buffer
			if err := c.Send(ctx, im); err != nil {
				wrote <- i
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}, WithWriteTimeout(writeTimeout))
	p := rawInitiator(t, addr, testKey(1))
	_ = p // never reads again
	select {
	case err := <-sendErr:
		if err == nil {
			t.Fatal("every write succeeded to a peer that does not read")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes to a deaf peer did not fail")
	}
	t.Logf("writes failed after %d IMs", <-wrote)
	eventually(t, "write_failed counted", func() bool { return s.Counters().Stats().Ended["write_failed"] == 1 })
}

// incompressible returns n letters that zstd cannot shrink much.
func incompressible(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range n {
		b.WriteByte(byte('!' + rng.IntN(90)))
	}
	return b.String()
}

// TestBadFramesEndTheLink: once relaying, a frame that fails
// authentication or is of the wrong type ends the link, counted.
func TestBadFramesEndTheLink(t *testing.T) {
	tests := []struct {
		name string
		send func(t *testing.T, p *rawPeer)
	}{
		{"tampered", func(t *testing.T, p *rawPeer) {
			dst, start := p.tr.begin(nil, msgDevice)
			frame, _ := p.tr.seal(append(dst, 1, 2, 3), start)
			frame[len(frame)-1] ^= 1
			_, _ = p.conn.Write(frame)
		}},
		{"second RESUME", func(t *testing.T, p *rawPeer) {
			body, _ := appendResume(nil, testResume())
			p.write(t, msgResume, body)
		}},
		{"undecodable message", func(t *testing.T, p *rawPeer) { p.write(t, msgDevice, []byte{0xff}) }},
		{"oversized", func(t *testing.T, p *rawPeer) { _, _ = p.conn.Write([]byte{0xff, 0xff, kindInitiatorData}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, addr := startServer(t, testKey(1), echoOwner, WithMaxFrameSize(MinFrameSize))
			p := rawInitiator(t, addr, testKey(1))
			if typ, _ := p.read(t); typ != msgAnswer {
				t.Fatalf("first frame %v", typ)
			}
			tt.send(t, p)
			eventually(t, "bad_frame counted", func() bool { return s.Counters().Stats().Ended["bad_frame"] == 1 })
		})
	}
}
