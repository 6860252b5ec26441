package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/status"
)

// TestDrainEndsAtItsDeadlineWhenAReleaseHangs: a release may take longer
// than the drain (releaseTimeout is 30 s), so every release ends with the
// server's life. Every release here hangs until its context ends: one a
// logout started before the shutdown, one the drain's (releases one at a
// time). Run returns once the drain's deadline passed (the shutdown's
// bound is far below releaseTimeout), both hung releases' contexts are
// cancelled by then, the session the drain never reached is closed
// without a release (Abandoned), and the task's lease is still ended.
func TestDrainEndsAtItsDeadlineWhenAReleaseHangs(t *testing.T) {
	sim, fn := newTestBackend(t)
	entered, hung := make(chan struct{}, 4), make(chan error, 4)
	fn.releaseHook = func(ctx context.Context) error {
		entered <- struct{}{}
		<-ctx.Done()
		hung <- ctx.Err()
		return ctx.Err()
	}
	oneAtATime := func(c *config) error { c.releaseConcurrency = 1; return nil }
	leases := &fakeLeases{}
	e := startTestEdge(t, sim, fn, leases, "edge-test", testKey(t, 0), WithDrainTimeout(300*time.Millisecond), oneAtATime)
	devs := []*device{e.device(1), e.device(2)}
	for _, d := range devs {
		d.mustLogin()
	}
	leaver := e.device(3)
	leaver.mustLogin()
	leaver.send(&devproto.Logout{})
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the logout's release did not start")
	}

	if err := e.shutdown(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v, want the drain's deadline", err)
	}
	for i := range 2 {
		select {
		case err := <-hung:
			if err == nil {
				t.Fatal("a hung release returned with its context alive")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of the 2 hung releases' contexts cancelled after Run returned", i)
		}
	}
	eventually(t, "the failed releases counted", func() bool { return e.srv.Stats().Events["ReleaseFailed"] == 2 })
	st := e.srv.Stats()
	if st.Sessions != 0 || st.Events["Drained"] != 1 || st.Events["Abandoned"] != 1 {
		t.Fatalf("sessions %d, drained %d, abandoned %d, releases failed %d; want 0, 1, 1, 2",
			st.Sessions, st.Events["Drained"], st.Events["Abandoned"], st.Events["ReleaseFailed"])
	}
	if r := fn.releases(); len(r) != 0 {
		t.Fatalf("released %+v: the abandoned session must not be released", r)
	}
	// One device was told to go elsewhere; the other's link was closed
	// with no word. Both links end (neither waits for the receive bound).
	told := 0
	for _, d := range devs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for {
			m, err := d.sess.Receive(ctx)
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("%s: link still open after Run returned", d.id)
				}
				break
			}
			if ss, ok := m.(*devproto.ServerStatus); ok && ss.Code == status.ServerBusy {
				told++
			}
		}
		cancel()
	}
	if told != 1 {
		t.Fatalf("%d devices told SERVER_BUSY, want the drained one only", told)
	}
	eventually(t, "GroupWise logouts", func() bool { return sim.LoggedIn() == 0 })
	leases.mu.Lock()
	defer leases.mu.Unlock()
	if !leases.expired {
		t.Fatal("the task's lease was not ended after a drain cut short")
	}
}

// TestSendIMUsesTheRequestTimeout: a SEND_IM GroupWise never finishes
// answering fails at the request timeout, not the login timeout. The two
// are set far apart (200 ms and an hour), so only the request timeout can
// end it within the wait.
func TestSendIMUsesTheRequestTimeout(t *testing.T) {
	e := newTestEdge(t, []gwsim.Option{gwsim.WithStall("sendmessage", time.Hour)},
		WithLoginTimeout(time.Hour), WithRequestTimeout(200*time.Millisecond))
	d := e.device(1)
	d.mustLogin()
	d.send(&devproto.SendIM{To: "user0002", Text: "into a stalled server", ClientMsgID: 1})
	eventually(t, "the SEND_IM to fail", func() bool { return e.srv.Stats().Events["IMToGroupWiseFailed"] == 1 })
	if n := e.srv.Stats().Events["IMToGroupWise"]; n != 0 {
		t.Fatalf("%d IMs counted as sent to a stalled server", n)
	}
}
