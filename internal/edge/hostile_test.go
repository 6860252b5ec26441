package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devconn/devconntest"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/metrics/metricstest"
	"github.com/collabgw/collabgw/internal/status"
)

// rawDevice logs device i in with a hostile client, which then sends what
// the test tells it to.
func (e *testEdge) rawDevice(i int) *devconntest.RawDevice {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := devconntest.Login(ctx, e.addr, testKey(e.t, i), e.gateway, fmt.Sprintf("device%04d", i), fmt.Sprintf("user%04d", i), gwsim.DemoPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	if d.Status != status.Accepted {
		e.t.Fatalf("device%04d told %v", i, d.Status)
	}
	return d
}

// TestStalledFramesAreClosedAndCounted: 40 devices each send the header of
// a 16 KiB DATA frame and stall. Every link is closed within the frame
// timeout (far below the hour-long coverage grace and write timeout),
// counted, and the sessions wait out of coverage for a resume.
func TestStalledFramesAreClosedAndCounted(t *testing.T) {
	const n = 40
	e := newTestEdge(t, []gwsim.Option{gwsim.WithDemoUsers(n)},
		WithFrameTimeout(200*time.Millisecond), WithCoverageGrace(time.Hour), WithWriteTimeout(time.Hour))
	devs := make([]*devconntest.RawDevice, n)
	for i := range devs {
		devs[i] = e.rawDevice(i + 1)
	}
	for _, d := range devs {
		if err := d.Write([]byte{0x40, 0x00, devproto.KindDeviceData}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	closed := make(chan error, n)
	for _, d := range devs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := d.ReceiveStatus(ctx)
			closed <- err
		})
	}
	wg.Wait()
	close(closed)
	for err := range closed {
		if !errors.Is(err, devconntest.ErrNoStatus) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stalled link: %v, want closed by the edge", err)
		}
	}
	eventually(t, "40 stalls counted and the sessions out of coverage", func() bool {
		st := e.srv.Stats()
		return st.Events["DropFrameTimeout"] == n && st.Detached == n && st.Connections == 0
	})
	if st := e.srv.Stats(); st.Sessions != n || st.Events["ProtocolError"] != 0 {
		t.Fatalf("a stall is a coverage loss, not an end: %+v", st)
	}
}

// TestPingFloodIsCutOff: a device floods PINGs and never reads its PONGs.
// It is cut off at its burst, long before the (hour-long) write deadline
// could, told PROTOCOL_ERROR where possible, and its session ends.
func TestPingFloodIsCutOff(t *testing.T) {
	const burst = 100
	e := newTestEdge(t, nil, WithMessageRate(20, burst), WithWriteTimeout(time.Hour), WithCoverageGrace(time.Hour))
	d := e.rawDevice(1)
	flood := make(chan error, 1)
	go func() {
		ping := devconntest.Payload(devconntest.TypePing, devconntest.Uvarint(1))
		for {
			if err := d.SendPayload(ping); err != nil {
				flood <- err
				return
			}
		}
	}()
	select {
	case err := <-flood:
		t.Logf("the flood ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the flooding device is still connected")
	}
	eventually(t, "the session ended and released", func() bool {
		r := e.fn.releases()
		return len(r) == 1 && r[0].Reason == "protocol-error" && e.sim.LoggedIn() == 0
	})
	st := e.srv.Stats()
	if st.Events["DropMessageRate"] != 1 || st.Events["ProtocolError"] != 1 || st.Sessions != 0 || st.Detached != 0 {
		t.Fatalf("stats after the flood: %+v", st)
	}
	// The PONGs it provoked were bounded by its burst.
	if q := st.Events["DropQueueFull"]; q > burst {
		t.Fatalf("%d PONGs dropped for a full queue: more messages were handled than the burst", q)
	}
}

// TestProtocolErrorsEndTheSession: an unknown message type, an oversized
// frame or a bad AEAD tag after the handshake ends the session at once —
// GroupWise logout and release, no coverage grace (an hour here) — answers
// PROTOCOL_ERROR except after a bad tag, and is counted by reason, on
// /stats and in DeviceFramesRejected.
func TestProtocolErrorsEndTheSession(t *testing.T) {
	tests := []struct {
		name     string
		send     func(d *devconntest.RawDevice) error
		counter  string
		reason   string
		answered bool
	}{
		{"unknown message type", func(d *devconntest.RawDevice) error {
			return d.SendPayload(devconntest.Payload(99))
		}, "DropUnknownMessage", "unknown_message", true},
		{"oversized frame", func(d *devconntest.RawDevice) error {
			return d.Write([]byte{0xff, 0xff, devproto.KindDeviceData})
		}, "DropFrameTooLarge", "frame_too_large", true},
		{"bad AEAD tag", func(d *devconntest.RawDevice) error {
			return d.Write(append([]byte{0, 40, devproto.KindDeviceData}, bytes.Repeat([]byte{0xa5}, 39)...))
		}, "DropFrameAuth", "frame_auth", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out metricstest.SyncBuffer
			rec, err := metrics.New(&out)
			if err != nil {
				t.Fatal(err)
			}
			e := newTestEdge(t, nil, WithCoverageGrace(time.Hour), WithMetrics(rec))
			d := e.rawDevice(1)
			if err := tt.send(d); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := d.ReceiveStatus(ctx)
			switch {
			case tt.answered && (err != nil || code != status.ProtocolError):
				t.Fatalf("device heard %v, %v; want PROTOCOL_ERROR", code, err)
			case !tt.answered && (!errors.Is(err, devconntest.ErrNoStatus) || errors.Is(err, context.DeadlineExceeded)):
				t.Fatalf("device heard %v, %v; want the link closed unanswered", code, err)
			}
			eventually(t, "release and GroupWise logout", func() bool {
				r := e.fn.releases()
				return len(r) == 1 && r[0].Reason == "protocol-error" && e.sim.LoggedIn() == 0
			})
			st := e.srv.Stats()
			if st.Events[tt.counter] != 1 || st.Events["ProtocolError"] != 1 || st.Sessions != 0 || st.Detached != 0 || st.Events["DeviceDropped"] != 0 {
				t.Fatalf("stats: %+v", st)
			}
			if err := e.shutdown(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"Reason":"` + tt.reason + `"`, `"Reason":"protocol_error"`} {
				if !bytes.Contains(out.Bytes(), []byte(want)) {
					t.Errorf("no %s in the metrics:\n%s", want, out.Bytes())
				}
			}
		})
	}
}

// TestConnectionCapShedsSilentHandshakes: with the cap at 100, 400 silent
// connections arrive, then a real device. It logs in while the newest
// silent connections are still open (the handshake timeout is an hour),
// because each newcomer displaced the oldest connection that had not sent
// its HELLO; every one displaced is counted.
func TestConnectionCapShedsSilentHandshakes(t *testing.T) {
	const limit, idle = 100, 400
	e := newTestEdge(t, nil, WithMaxConns(limit), WithHandshakeTimeout(time.Hour))
	conns := make([]net.Conn, idle)
	for i := range conns {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	eventually(t, "the flood accepted", func() bool {
		return e.srv.Stats().Events["DropHandshakeShed"] == idle-limit
	})
	d := e.device(1)
	d.mustLogin()
	st := e.srv.Stats()
	if st.Connections != limit || st.WaitingForHello != limit-1 || st.Events["DropHandshakeShed"] != idle-limit+1 || st.Events["DropConnCap"] != 0 || st.Events["DropHandshake"] != 0 {
		t.Fatalf("stats after the login: connections %d, events %v", st.Connections, st.Events)
	}
	// The newest limit-1 silent connections still hold their slots; the
	// older ones were closed, oldest first.
	for i, c := range conns {
		open := isOpen(t, c)
		if want := i >= idle-limit+1; open != want {
			t.Fatalf("silent connection %d open = %v, want %v", i, open, want)
		}
	}
	// The device's session holds its slot: a silent newcomer cannot take it.
	d.send(&devproto.Ping{ID: 1})
	for range limit {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	if p := d.receive(devproto.TypePong).(*devproto.Pong); p.ID != 1 {
		t.Fatalf("pong %d", p.ID)
	}
	eventually(t, "the silent connections cycled", func() bool {
		return e.srv.Stats().Events["DropHandshakeShed"] == idle-limit+1+limit
	})
	d.send(&devproto.Ping{ID: 2})
	if p := d.receive(devproto.TypePong).(*devproto.Pong); p.ID != 2 {
		t.Fatalf("pong %d after the second flood", p.ID)
	}
}

// TestAddressRateComesBeforeShedding: a connection over its address's rate
// is closed before it takes a slot, so it cannot shed another's handshake.
func TestAddressRateComesBeforeShedding(t *testing.T) {
	e := newTestEdge(t, nil, WithMaxConns(2), WithAddrRate(0.001, 2), WithHandshakeTimeout(time.Hour))
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	eventually(t, "the third connection refused for its rate", func() bool { return e.srv.Stats().Events["DropAddrRate"] == 1 })
	if st := e.srv.Stats(); st.Events["DropHandshakeShed"] != 0 || st.WaitingForHello != 2 || !isOpen(t, conns[0]) || !isOpen(t, conns[1]) || isOpen(t, conns[2]) {
		t.Fatalf("stats %+v", st)
	}
}

// isOpen reports whether the edge still holds c open: a read times out
// rather than finding the end of the stream.
func isOpen(t *testing.T, c net.Conn) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestConnCap(t *testing.T) {
	conn := func(i int) net.Conn { return &fakeConn{id: i} }
	c := newConnCap(2)
	a, b, x := conn(1), conn(2), conn(3)
	sa, shed, ok := c.acquire(a)
	if !ok || shed != nil {
		t.Fatal("first slot")
	}
	sb, _, _ := c.acquire(b)
	if err := c.helloArrived(b); err != nil {
		t.Fatal(err)
	}
	// At the cap: x displaces a (waiting), not b (spoke).
	sx, shed, ok := c.acquire(x)
	if !ok || shed != a || !c.wasShed(sa) {
		t.Fatalf("at the cap: shed %v ok %v, want a", shed, ok)
	}
	if err := c.helloArrived(a); !errors.Is(err, errShed) {
		t.Fatalf("a's late HELLO: %v, want errShed", err)
	}
	if c.release(sa) {
		t.Fatal("a shed slot was freed twice")
	}
	if err := c.helloArrived(x); err != nil {
		t.Fatal(err)
	}
	// Everyone has spoken: the newest is refused.
	if _, _, ok := c.acquire(conn(4)); ok {
		t.Fatal("a connection over the cap with nothing to shed was admitted")
	}
	if !c.release(sb) || !c.release(sx) {
		t.Fatal("release")
	}
	if open, waiting := c.counts(); open != 0 || waiting != 0 {
		t.Fatalf("after releases: open %d waiting %d", open, waiting)
	}
}

// fakeConn is a distinct net.Conn for connCap's bookkeeping, which never
// does I/O.
type fakeConn struct {
	net.Conn
	id int
}

func TestProtocolReasonsMatchDevconn(t *testing.T) {
	for _, r := range devconn.Reasons() {
		c, ok := protocolCounters[r]
		if !ok {
			t.Errorf("devconn reason %v has no counter", r)
			continue
		}
		if rejectReasons[c] != r.String() {
			t.Errorf("counter %s reports reason %q, want devconn's %q", counterNames[c], rejectReasons[c], r)
		}
	}
}

// TestOperationsDocNamesEveryReason keeps docs/operations.md's reasons the
// ones the edge reports.
func TestOperationsDocNamesEveryReason(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, reasons := range map[string]map[counter]string{"DeviceFramesRejected": rejectReasons, "EdgeSessionsEnded": endReasons} {
		for _, r := range reasons {
			if !bytes.Contains(doc, []byte("`"+r+"`")) {
				t.Errorf("docs/operations.md does not explain %s reason %s", name, r)
			}
		}
	}
}
