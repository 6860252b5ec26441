package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/peerlink"
	"github.com/collabgw/collabgw/internal/status"
)

// fakeLocator answers as the store would: the task that authorize gave the
// session to, and that task's peer address and lease as the test sets them.
type fakeLocator struct {
	fn *fakeFunctions

	mu    sync.Mutex
	addrs map[string]string // task → peer address
	dead  map[string]bool   // tasks whose lease lapsed
	err   error             // the store failing
}

func (l *fakeLocator) LocateSession(_ context.Context, deviceID, sessionID string) (SessionOwner, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return SessionOwner{}, l.err
	}
	task := l.fn.ownerOf(deviceID, sessionID)
	if task == "" {
		return SessionOwner{}, fmt.Errorf("session %s: %w", sessionID, ErrSessionNotFound)
	}
	return SessionOwner{Task: task, Addr: l.addrs[task], Live: !l.dead[task]}, nil
}

func (l *fakeLocator) set(f func(l *fakeLocator)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// fleet is several edges sharing one GroupWise simulator, one authorize
// function and one session store, as the tasks of one service do.
type fleet struct {
	sim   *gwsim.Server
	fn    *fakeFunctions
	loc   *fakeLocator
	edges []*testEdge
}

// peerSetup bounds a link's setup in these tests: short enough for the
// hung-owner case, long enough for a loaded machine's real handshakes.
const peerSetup = 1500 * time.Millisecond

var fastPeer = []peerlink.Option{peerlink.WithHandshakeTimeout(peerSetup)}

// newFleet starts n edges named edge-a, edge-b, ... on one peer key;
// extra, when given, adds options to edge i (a WithPeer replaces the key).
func newFleet(t testing.TB, n int, extra func(i int) []Option) *fleet {
	t.Helper()
	sim, fn := newTestBackend(t)
	f := &fleet{sim: sim, fn: fn, loc: &fakeLocator{fn: fn, addrs: map[string]string{}, dead: map[string]bool{}}}
	leases := &fakeLeases{}
	for i := range n {
		owner := fmt.Sprintf("edge-%c", 'a'+i)
		all := []Option{WithPeer(testPeerKey(1), peerlink.Key{}, fastPeer...), WithSessionLocator(f.loc)}
		if extra != nil {
			all = append(all, extra(i)...)
		}
		e := startTestEdge(t, sim, fn, leases, owner, testKey(t, 0), all...)
		f.loc.set(func(l *fakeLocator) { l.addrs[owner] = e.peerAddr })
		f.edges = append(f.edges, e)
	}
	return f
}

// away logs device i in on edge 0, drops its link (a coverage loss) and
// returns its ACCEPTED.
func (f *fleet) away(t testing.TB, d *device) *devproto.ServerStatus {
	t.Helper()
	st := d.mustLogin()
	a := f.edges[0]
	before := a.srv.Stats().Detached
	d.sess.Close()
	eventually(t, "the owner to notice the drop", func() bool { return a.srv.Stats().Detached == before+1 })
	return st
}

func queued(e *testEdge, sessionID string) int {
	ss := e.srv.lookup(sessionID)
	if ss == nil {
		return -1
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.queue)
}

func TestResumeOnAnyEdge(t *testing.T) {
	f := newFleet(t, 3, nil)
	a, b, c := f.edges[0], f.edges[1], f.edges[2]
	d := a.device(1)
	bob := a.groupWiseUser("user0002")
	st := f.away(t, d)
	if err := bob.c.SendMessage(context.Background(), "user0001", "sent while away"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the IM to queue on the owner", func() bool { return queued(a, st.SessionID) == 1 })
	logins := f.sim.Requests("login")

	// Back with a new address: the balancer sends the device to B.
	re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID)
	if re.Code != status.Accepted || re.SessionID != st.SessionID || re.ResumeToken == st.ResumeToken || re.StatusInterval <= 0 {
		t.Fatalf("resume on B: %v session %q (same token: %v)", re.Code, re.SessionID, re.ResumeToken == st.ResumeToken)
	}
	if im := d.receive(devproto.TypeReceiveIM).(*devproto.ReceiveIM); im.Text != "sent while away" || im.From != "user0002" {
		t.Fatalf("queued IM through B: %+v", im)
	}
	if err := bob.c.SendMessage(context.Background(), "user0001", "live"); err != nil {
		t.Fatal(err)
	}
	if im := d.receive(devproto.TypeReceiveIM).(*devproto.ReceiveIM); im.Text != "live" {
		t.Fatalf("live IM through B: %q", im.Text)
	}
	d.send(&devproto.SendIM{To: "user0002", Text: "from the device via B", ClientMsgID: 1})
	select {
	case ev := <-bob.ims:
		if ev.Text != "from the device via B" {
			t.Fatalf("GroupWise user got %q", ev.Text)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the device's IM did not reach GroupWise through B")
	}
	d.send(&devproto.Status{Presence: devproto.PresenceAway})
	d.send(&devproto.Ping{ID: 7})
	if p := d.receive(devproto.TypePong).(*devproto.Pong); p.ID != 7 {
		t.Fatalf("pong %d", p.ID)
	}
	if sa, sb := a.srv.Stats(), b.srv.Stats(); sa.Detached != 0 || sa.Sessions != 1 || sb.Sessions != 0 ||
		sb.Relays["relayed"] != 1 || sa.Events["PeerResumeAccepted"] != 1 || sb.Resumes["ACCEPTED"] != 1 {
		t.Fatalf("after the relayed resume: A %+v, B %+v", sa, sb)
	}

	// Out of coverage again, through the relay: the owner sees the drop.
	d.sess.Close()
	eventually(t, "the owner to see the relayed link drop", func() bool { return a.srv.Stats().Detached == 1 })
	eventually(t, "B to let the link go", func() bool {
		s := b.srv.Stats()
		return s.Connections == 0 && s.Peer.OpenOut == 0
	})

	// Then back through C, with the token B handed out.
	re2 := d.resumeAt(c.addr, re.ResumeToken, st.SessionID)
	if re2.Code != status.Accepted || re2.SessionID != st.SessionID || re2.ResumeToken == re.ResumeToken {
		t.Fatalf("resume on C: %v", re2.Code)
	}
	// B's token is spent: a replay of it, anywhere, is LOGGED_OUT.
	for _, e := range []*testEdge{b, a} {
		if got := e.device(1).resumeAt(e.addr, re.ResumeToken, st.SessionID); got.Code != status.LoggedOut {
			t.Fatalf("B's used token on %s: %v", e.owner, got.Code)
		}
	}
	d.send(&devproto.Ping{ID: 8})
	if p := d.receive(devproto.TypePong).(*devproto.Pong); p.ID != 8 {
		t.Fatalf("pong through C: %d", p.ID)
	}
	if n := f.sim.Requests("login"); n != logins {
		t.Fatalf("GroupWise saw %d logins, want %d: a resume logged in again", n, logins)
	}
	if got := b.srv.Stats().Relays["refused_by_owner"]; got != 1 {
		t.Fatalf("refused_by_owner on B = %d", got)
	}
}

func TestRelayedResumeRefusals(t *testing.T) {
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() { // accepts and never answers: a stuck owner
		for {
			conn, err := hung.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name    string
		setup   func(f *fleet)
		session func(st *devproto.ServerStatus) string
		want    status.Code
		outcome string
	}{
		{"owner's lease lapsed", func(f *fleet) { f.loc.set(func(l *fakeLocator) { l.dead["edge-a"] = true }) }, nil, status.LoggedOut, "owner_dead"},
		{"owner's peer port refuses", func(f *fleet) { f.loc.set(func(l *fakeLocator) { l.addrs["edge-a"] = closedAddr }) }, nil, status.LoggedOut, "owner_unreachable"},
		{"owner hangs", func(f *fleet) { f.loc.set(func(l *fakeLocator) { l.addrs["edge-a"] = hung.Addr().String() }) }, nil, status.LoggedOut, "owner_unreachable"},
		{"another task at the owner's address", func(f *fleet) {
			f.loc.set(func(l *fakeLocator) { l.addrs["edge-a"] = f.edges[2].peerAddr })
		}, nil, status.LoggedOut, "owner_unreachable"},
		{"no such session", func(*fleet) {}, func(*devproto.ServerStatus) string { return "s999" }, status.LoggedOut, "not_found"},
		{"store down", func(f *fleet) { f.loc.set(func(l *fakeLocator) { l.err = errors.New("store unavailable") }) }, nil, status.ServerBusy, "locate_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 3, nil)
			d := f.edges[0].device(1)
			st := f.away(t, d)
			tt.setup(f)
			sid := st.SessionID
			if tt.session != nil {
				sid = tt.session(st)
			}
			b := f.edges[1]
			start := time.Now()
			got := d.resumeAt(b.addr, st.ResumeToken, sid)
			took := time.Since(start)
			if got.Code != tt.want || got.ResumeToken != (devproto.ResumeToken{}) {
				t.Fatalf("resume: %v, want %v", got.Code, tt.want)
			}
			if tt.want == status.ServerBusy && got.RetryAfter <= 0 {
				t.Fatal("SERVER_BUSY without a retry delay")
			}
			// Bounded by the link's setup timeout, inside the device's
			// own 10 s deadline.
			if took > 4*peerSetup {
				t.Fatalf("the answer took %v", took)
			}
			if n := b.srv.Stats().Relays[tt.outcome]; n != 1 {
				t.Fatalf("%s counted %d times: %+v", tt.outcome, n, b.srv.Stats().Relays)
			}
			// The session is still held, out of coverage, on A.
			if s := f.edges[0].srv.Stats(); s.Sessions != 1 || s.Detached != 1 {
				t.Fatalf("owner after a refused relay: %+v", s)
			}
		})
	}
}

func TestRelayOwnedHereButEnded(t *testing.T) {
	f := newFleet(t, 2, nil)
	a := f.edges[0]
	d := a.device(1)
	st := f.away(t, d)
	// The store still names A, but A no longer holds the session (it
	// ended between the store's write and this RESUME).
	ss := a.srv.lookup(st.SessionID)
	a.srv.remove(ss)
	if got := d.resumeAt(a.addr, st.ResumeToken, st.SessionID); got.Code != status.LoggedOut {
		t.Fatalf("resume: %v", got.Code)
	}
	if n := a.srv.Stats().Relays["ended_here"]; n != 1 {
		t.Fatalf("ended_here = %d", n)
	}
	a.srv.add(ss) // for the drain
}

func TestWrongPeerKeyIsRefusedAndCounted(t *testing.T) {
	other := testPeerKey(9)
	f := newFleet(t, 2, func(i int) []Option {
		if i == 1 {
			return []Option{WithPeer(other, peerlink.Key{}, fastPeer...)}
		}
		return nil
	})
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	if got := d.resumeAt(b.addr, st.ResumeToken, st.SessionID); got.Code != status.LoggedOut {
		t.Fatalf("resume through a task with another key: %v", got.Code)
	}
	if n := b.srv.Stats().Peer.Out["refused_key"]; n != 1 {
		t.Fatalf("relaying task counted refused_key %d times", n)
	}
	eventually(t, "the owner to count unknown_key", func() bool { return a.srv.Stats().Peer.In["unknown_key"] == 1 })
	if s := a.srv.Stats(); s.Detached != 1 {
		t.Fatalf("the owner's session after a refused link: %+v", s)
	}
}

func TestPeerKeyRotation(t *testing.T) {
	old, next := testPeerKey(1), testPeerKey(2)
	// Step 2 of a rotation: A (step 1) dials with the old key and accepts
	// the new one; B (step 2) dials with the new one.
	f := newFleet(t, 2, func(i int) []Option {
		if i == 0 {
			return []Option{WithPeer(old, next, fastPeer...)}
		}
		return []Option{WithPeer(next, old, fastPeer...)}
	})
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID)
	if re.Code != status.Accepted {
		t.Fatalf("resume on B during a rotation: %v", re.Code)
	}
	d.send(&devproto.Ping{ID: 1})
	d.receive(devproto.TypePong)
}

func TestOwnerEndsARelayedSession(t *testing.T) {
	f := newFleet(t, 2, nil)
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	if re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID); re.Code != status.Accepted {
		t.Fatalf("resume: %v", re.Code)
	}
	// The owner drains: the device hears why through B, and its link ends.
	if err := a.shutdown(); err != nil {
		t.Fatalf("owner's drain: %v", err)
	}
	if got := d.receive(devproto.TypeServerStatus).(*devproto.ServerStatus); got.Code != status.ServerBusy {
		t.Fatalf("device told %v", got.Code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := d.sess.Receive(ctx); err == nil {
		t.Fatal("the device link outlived its session")
	}
	eventually(t, "B to let the link go", func() bool { return b.srv.Stats().Connections == 0 })
	if r := f.fn.releases(); len(r) != 1 || r[0].Reason != "drain" {
		t.Fatalf("releases %+v", r)
	}
}

func TestLogoutThroughARelay(t *testing.T) {
	f := newFleet(t, 2, nil)
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	if re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID); re.Code != status.Accepted {
		t.Fatalf("resume: %v", re.Code)
	}
	d.send(&devproto.Logout{})
	eventually(t, "release", func() bool {
		r := f.fn.releases()
		return len(r) == 1 && r[0].Reason == "logout"
	})
	eventually(t, "GroupWise logout", func() bool { return f.sim.LoggedIn() == 0 })
	eventually(t, "both ends let go", func() bool {
		sa, sb := a.srv.Stats(), b.srv.Stats()
		return sa.Sessions == 0 && sb.Connections == 0 && sa.Peer.OpenIn == 0 && sb.Peer.OpenOut == 0
	})
}

func TestRelayingTaskDrains(t *testing.T) {
	f := newFleet(t, 3, nil)
	a, b, c := f.edges[0], f.edges[1], f.edges[2]
	d := a.device(1)
	st := f.away(t, d)
	re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID)
	if re.Code != status.Accepted {
		t.Fatalf("resume: %v", re.Code)
	}
	// B drains: the session is not B's to end. The device sees a drop,
	// the owner a coverage loss, and the device resumes elsewhere.
	if err := b.shutdown(); err != nil {
		t.Fatalf("B's drain: %v", err)
	}
	eventually(t, "the owner to see the drop", func() bool { return a.srv.Stats().Detached == 1 })
	if r := f.fn.releases(); len(r) != 0 {
		t.Fatalf("a relaying task's drain released %+v", r)
	}
	if got := d.resumeAt(c.addr, re.ResumeToken, st.SessionID); got.Code != status.Accepted {
		t.Fatalf("resume on C after B drained: %v", got.Code)
	}
}

func TestNewValidatesPeer(t *testing.T) {
	fn, leases := &fakeFunctions{}, &fakeLeases{}
	loc := &fakeLocator{fn: fn}
	tests := []struct {
		name string
		opts []Option
	}{
		{"zero key", []Option{WithPeer(peerlink.Key{}, peerlink.Key{})}},
		{"locator without a key", []Option{WithSessionLocator(loc)}},
		{"nil locator", []Option{WithPeer(testPeerKey(1), peerlink.Key{}), WithSessionLocator(nil)}},
		{"bad link option", []Option{WithPeer(testPeerKey(1), peerlink.Key{}, peerlink.WithMaxLinks(0))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(testKey(t, 0), "o", fn, fn, leases, tt.opts...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	srv, err := New(testKey(t, 0), "o", fn, fn, leases)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ListenPeer(t.Context(), "127.0.0.1:0"); !errors.Is(err, ErrBadOption) {
		t.Fatalf("ListenPeer without WithPeer: %v", err)
	}
}

// TestRelayedProtocolErrorEndsTheSession: a relayed device that breaks the
// protocol (here its message rate, enforced where it is connected) ends
// its session on the owner at once, as a local one does; the frame is
// counted where it arrived.
func TestRelayedProtocolErrorEndsTheSession(t *testing.T) {
	f := newFleet(t, 2, func(i int) []Option {
		if i == 1 {
			return []Option{WithMessageRate(5, 3)}
		}
		return nil
	})
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	if re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID); re.Code != status.Accepted {
		t.Fatalf("resume: %v", re.Code)
	}
	for i := range 20 {
		if d.sess.Send(context.Background(), &devproto.Ping{ID: uint64(i)}) != nil {
			break
		}
	}
	eventually(t, "the owner to end and release the session", func() bool {
		r := f.fn.releases()
		return len(r) == 1 && r[0].Reason == "protocol-error" && f.sim.LoggedIn() == 0
	})
	if sa, sb := a.srv.Stats(), b.srv.Stats(); sa.Events["ProtocolError"] != 1 || sa.Sessions != 0 || sa.Detached != 0 ||
		sb.Events["DropMessageRate"] != 1 || sa.Events["DropMessageRate"] != 0 {
		t.Fatalf("after the relayed flood: A %+v, B %+v", sa.Events, sb.Events)
	}
}
