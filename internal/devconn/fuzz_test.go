package devconn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
)

// sameEphemeral makes every handshake use one ephemeral key on each side,
// so every fuzz run derives the same transport keys and the seeds'
// recorded DATA frames decrypt. Never outside tests.
type sameEphemeral struct{}

func (sameEphemeral) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(i*13 + 5)
	}
	return len(b), nil
}

// pipeLink is one deterministic login over net.Pipe: the gateway's session
// and the device's connection, whose bytes after the handshake the test
// controls.
type pipeLink struct {
	gw     *devconn.Session
	device *devconn.Session
	raw    *recordingConn // the device's end
}

type pipeFixture struct {
	acceptor *devconn.Acceptor
	client   *devconn.Client
}

func newPipeFixture(f testing.TB) *pipeFixture {
	verifier := devprototest.NewVerifier()
	verifier.Register(testDevice, devprototest.PublicKey("device"))
	resp, err := devproto.NewResponder(devprototest.Key("gateway"), verifier, devproto.WithRand(sameEphemeral{}))
	if err != nil {
		f.Fatal(err)
	}
	acc, err := devconn.NewAcceptor(resp, devconn.WithAnswerTimeout(50*time.Millisecond), devconn.WithFrameTimeout(time.Second))
	if err != nil {
		f.Fatal(err)
	}
	c, err := devconn.NewClient(devprototest.Key("device"), devprototest.PublicKey("gateway"),
		devconn.WithProtocol(devproto.WithRand(sameEphemeral{})))
	if err != nil {
		f.Fatal(err)
	}
	return &pipeFixture{acceptor: acc, client: c}
}

func (p *pipeFixture) login(t testing.TB) *pipeLink {
	gwEnd, devEnd := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	type result struct {
		s   *devconn.Session
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		s, err := p.acceptor.Accept(ctx, gwEnd, admitAll)
		accepted <- result{s, err}
	}()
	raw := &recordingConn{Conn: devEnd}
	dev, err := p.client.Login(ctx, raw, devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	r := <-accepted
	if r.err != nil {
		t.Fatal(r.err)
	}
	raw.written = nil
	return &pipeLink{gw: r.s, device: dev, raw: raw}
}

// FuzzSessionReceive writes arbitrary bytes after a real handshake and
// reads them on the gateway: no panic, every message one a device may
// send, and every error one of the documented kinds — the stream ended, a
// frame timed out, or a *ProtocolError with a known reason that was not
// answered after a failed tag.
func FuzzSessionReceive(f *testing.F) {
	p := newPipeFixture(f)
	// Seeds: real frames recorded from a device session (they decrypt in
	// every run, the keys being the same), and broken ones.
	link := p.login(f)
	go func() {
		for {
			if _, err := link.gw.Receive(context.Background()); err != nil {
				return
			}
		}
	}()
	for _, m := range []devproto.Message{
		&devproto.Ping{ID: 1}, &devproto.Status{Presence: devproto.PresenceAway, Text: "out"},
		&devproto.SendIM{To: "jdoe", Text: "hello hello hello hello", ClientMsgID: 3}, &devproto.Logout{},
	} {
		if err := link.device.Send(context.Background(), m); err != nil {
			f.Fatal(err)
		}
	}
	good := append([]byte(nil), link.raw.written...)
	link.gw.Close()
	link.device.Close()
	// The recorded frames open on a fresh login: the keys are the same.
	if n := feed(f, p.login(f), good); n != 4 {
		f.Fatalf("a fresh login read %d of the 4 recorded messages", n)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte(nil), good...), 0xff, 0xff, devproto.KindDeviceData))
	f.Add([]byte{0, 0})
	f.Add([]byte{0x40})
	f.Add([]byte{0, 21, devproto.KindGatewayData, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{0, 3, devproto.KindHello, devproto.Version, 0})

	f.Fuzz(func(t *testing.T, wire []byte) { feed(t, p.login(t), wire) })
}

// feed writes wire on the device's end of link, then ends the stream, and
// checks what the gateway makes of it; it returns the messages read.
func feed(t testing.TB, link *pipeLink, wire []byte) (messages int) {
	defer link.device.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _, _ = io.Copy(io.Discard, link.raw.Conn) }) // answers, if any
	wg.Go(func() {
		_, _ = link.raw.Conn.Write(wire)
		link.raw.Close() // the end of the stream
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		m, err := link.gw.Receive(ctx)
		if err == nil {
			switch m.(type) {
			case *devproto.Ping, *devproto.Pong, *devproto.Status, *devproto.SendIM, *devproto.Logout:
			default:
				t.Fatalf("gateway received a %v from a device", m.Type())
			}
			messages++
			continue
		}
		var pe *devconn.ProtocolError
		switch {
		case errors.As(err, &pe):
			if !slices.Contains(devconn.Reasons(), pe.Reason) {
				t.Fatalf("unknown reason %d: %v", pe.Reason, err)
			}
			if pe.Reason == devconn.ReasonFrameAuth && pe.Answered {
				t.Fatalf("answered after a failed tag: %v", err)
			}
		case errors.Is(err, io.EOF), errors.Is(err, devproto.ErrTruncated), errors.Is(err, io.ErrClosedPipe):
		default:
			t.Fatalf("Receive error of no documented kind: %v", err)
		}
		select {
		case <-link.gw.Done():
		default:
			t.Fatalf("the session survived %v", err)
		}
		return messages
	}
}
