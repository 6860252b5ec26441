package idlepoll

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

const testTimeout = 5 * time.Second

// pair returns the two ends of a loopback TCP connection.
func pair(t *testing.T) (local *net.TCPConn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c.(*net.TCPConn), peer
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// watch registers conn with a callback that signals on the returned channel.
func watch(t *testing.T, p *Poller, conn *net.TCPConn) (*Watch, chan struct{}) {
	t.Helper()
	ready := make(chan struct{}, 16)
	w, err := p.Watch(rawConn(t, conn), func() { ready <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	return w, ready
}

func rawConn(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func wantReady(t *testing.T, ready chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(testTimeout):
		t.Fatal("onReady did not run")
	}
}

// wantQuiet checks onReady does not run within a short while. It can only
// pass wrongly on a slow machine, never fail wrongly.
func wantQuiet(t *testing.T, ready chan struct{}) {
	t.Helper()
	select {
	case <-ready:
		t.Fatal("onReady ran")
	case <-time.After(100 * time.Millisecond):
	}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func tryRead(t *testing.T, rc syscall.RawConn) (string, error) {
	t.Helper()
	buf := make([]byte, 64)
	n, err := TryRead(rc, buf)
	return string(buf[:n]), err
}

func TestReadinessFiresOncePerArm(t *testing.T) {
	tests := []struct {
		name       string
		dataBefore bool // input arrives before Arm (level-triggered: fires at once)
	}{
		{"input after arm", false},
		{"input before arm", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPoller(t)
			local, peer := pair(t)
			rc := rawConn(t, local)
			w, ready := watch(t, p, local)
			if tt.dataBefore {
				write(t, peer, "hello")
				time.Sleep(10 * time.Millisecond)
			}
			if err := w.Arm(); err != nil {
				t.Fatal(err)
			}
			if !tt.dataBefore {
				wantQuiet(t, ready)
				write(t, peer, "hello")
			}
			wantReady(t, ready)
			if got, err := tryRead(t, rc); got != "hello" || err != nil {
				t.Fatalf("TryRead = %q, %v", got, err)
			}
			if _, err := tryRead(t, rc); !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("TryRead on nothing = %v, want ErrWouldBlock", err)
			}
			// One shot: more input does not fire again until re-armed.
			write(t, peer, "again")
			wantQuiet(t, ready)
			if err := w.Arm(); err != nil {
				t.Fatal(err)
			}
			wantReady(t, ready)
			if got, err := tryRead(t, rc); got != "again" || err != nil {
				t.Fatalf("TryRead = %q, %v", got, err)
			}
		})
	}
}

func TestHangUpFiresAndReadsEOF(t *testing.T) {
	p := newPoller(t)
	local, peer := pair(t)
	w, ready := watch(t, p, local)
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	wantReady(t, ready)
	if _, err := tryRead(t, rawConn(t, local)); !errors.Is(err, io.EOF) {
		t.Fatalf("TryRead after hang-up = %v, want io.EOF", err)
	}
}

func TestClosedWatchNeverFires(t *testing.T) {
	p := newPoller(t)
	local, peer := pair(t)
	w, ready := watch(t, p, local)
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, peer, "late")
	wantQuiet(t, ready)
	if err := w.Arm(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Arm after Close = %v, want ErrClosed", err)
	}
	if n := p.Watching(); n != 0 {
		t.Fatalf("Watching = %d after Close, want 0", n)
	}
	// Closing the watch after the connection is harmless too.
	w2, _ := watch(t, p, local)
	if err := w2.Arm(); err != nil {
		t.Fatal(err)
	}
	local.Close()
	if err := w2.Close(); err != nil {
		t.Fatalf("Close after the connection closed: %v", err)
	}
}

func TestManyWatchesEachFire(t *testing.T) {
	const n = 200 // more than one epoll_wait returns
	p := newPoller(t)
	ready := make(chan int, n)
	peers := make([]net.Conn, n)
	for i := range n {
		local, peer := pair(t)
		peers[i] = peer
		w, err := p.Watch(rawConn(t, local), func() { ready <- i })
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Arm(); err != nil {
			t.Fatal(err)
		}
	}
	for _, peer := range peers {
		write(t, peer, "x")
	}
	seen := make([]bool, n)
	for range n {
		select {
		case i := <-ready:
			if seen[i] {
				t.Fatalf("watch %d fired twice", i)
			}
			seen[i] = true
		case <-time.After(testTimeout):
			t.Fatal("not every watch fired")
		}
	}
}

func TestStoppedPollerWakesEveryWatchAndRefusesArm(t *testing.T) {
	p := newPoller(t)
	local, _ := pair(t)
	w, ready := watch(t, p, local)
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	wantReady(t, ready) // its owner must learn to read on its own
	deadline := time.Now().Add(testTimeout)
	for w.Arm() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Arm still succeeds on a stopped poller")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := p.Watch(rawConn(t, local), func() {}); err == nil {
		t.Fatal("Watch succeeded on a stopped poller")
	}
}

func TestWouldBlockKeepsLayeredReadersUsable(t *testing.T) {
	var ne net.Error
	if !errors.As(ErrWouldBlock, &ne) || !ne.Timeout() || !ne.Temporary() { //nolint:staticcheck // crypto/tls checks Temporary
		t.Fatalf("ErrWouldBlock = %#v, want a temporary timeout net.Error", ErrWouldBlock)
	}
}

func TestTryReadHonoursPassedDeadline(t *testing.T) {
	local, peer := pair(t)
	write(t, peer, "data")
	time.Sleep(10 * time.Millisecond)
	if err := local.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := tryRead(t, rawConn(t, local)); !isTimeout(err) {
		t.Fatalf("TryRead past the deadline = %v, want a timeout", err)
	}
	if err := local.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, err := tryRead(t, rawConn(t, local)); got != "data" || err != nil {
		t.Fatalf("TryRead = %q, %v", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
