package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// Devices of TestResumeFromNewAddresses: the phone's user and the desktop
// user who writes to it.
const (
	resumeUser  = 11
	desktopUser = 12
)

// TestResumeFromNewAddresses: a phone logs in from 127.0.0.1 through the
// balancer, then loses coverage three times and comes back each time from
// a new address (127.0.0.2, .3, .4), so round-robin sends its RESUMEs to
// the edges in turn: the owner resumes it itself, the others relay it to
// the owner. Every RESUME keeps the session and rotates its token, the IM
// written while the phone was away arrives, and GroupWise saw one login.
func TestResumeFromNewAddresses(t *testing.T) {
	const pool = "resume"
	putPool(t, stack, pool, admission.PoolConfig{MaxSessions: 10}, resumeUser, resumeUser)
	f := startFleet(t, stack, localstack.FleetConfig{Edges: edges})
	ctx := t.Context()
	d := newDevice(t, stack, resumeUser)
	gwLogins := stack.Simulator.Logins(d.user())

	first := d.mustLogin(t, f.Addr(), "127.0.0.1")
	ss := sessions(t, stack, pool)
	if len(ss) != 1 || ss[0].ID != first.SessionID {
		t.Fatalf("sessions after the login: %+v", ss)
	}
	owner := edgeOf(f, ss[0].Owner)
	if owner == nil {
		t.Fatalf("the session's owner %s is none of the fleet's edges", ss[0].Owner)
	}
	t.Logf("logged in from 127.0.0.1 on %s", owner.Name)
	writer := desktop(t, stack, demo.UserID(desktopUser))

	tokens := []devproto.ResumeToken{first.ResumeToken}
	servedBy := map[string]int{}
	for n, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		d.drop() // coverage lost
		eventually(t, "the owner to see the drop", 20*time.Second, func() bool {
			st, err := owner.Stats(ctx)
			return err == nil && st.Detached == 1
		})
		text := fmt.Sprintf("written while you were away (%d)", n+1)
		if err := writer.c.SendMessage(ctx, d.user(), text); err != nil {
			t.Fatal(err)
		}

		before := stats(t, f)
		st, err := d.resume(ctx, f.Addr(), from)
		if err != nil {
			t.Fatalf("resume from %s: %v", from, err)
		}
		if st.Code != status.Accepted {
			t.Fatalf("resume from %s: %v, want ACCEPTED", from, st.Code)
		}
		if st.SessionID != first.SessionID {
			t.Fatalf("resume from %s: session %s, want %s", from, st.SessionID, first.SessionID)
		}
		for _, old := range tokens {
			if st.ResumeToken == old || st.ResumeToken.IsZero() {
				t.Fatalf("resume from %s: the resume token was not renewed", from)
			}
		}
		tokens = append(tokens, st.ResumeToken)
		served := servingEdge(t, f, before, stats(t, f))
		servedBy[served]++
		t.Logf("resume from %s: served by %s (owner %s)", from, served, owner.Name)

		im := receiveIM(t, d, 20*time.Second)
		if im.Text != text || im.From != demo.UserID(desktopUser) {
			t.Fatalf("after the resume from %s the device got %+v, want %q from %s", from, im, text, demo.UserID(desktopUser))
		}
	}
	if len(servedBy) < 2 {
		t.Fatalf("the resumes reached %v: want at least two different edges", servedBy)
	}
	relayed := 0
	for _, st := range stats(t, f) {
		relayed += int(st.Relays["relayed"])
	}
	if relayed == 0 {
		t.Fatal("no resume was relayed to the owner by another edge")
	}
	if n := stack.Simulator.Logins(d.user()) - gwLogins; n != 1 {
		t.Fatalf("GroupWise counted %d logins of %s, want exactly 1", n, d.user())
	}
	if n := stack.Simulator.SessionsOf(d.user()); n != 1 {
		t.Fatalf("%s has %d GroupWise sessions, want 1", d.user(), n)
	}
	if ss := sessions(t, stack, pool); len(ss) != 1 || ss[0].ID != first.SessionID || counter(t, stack, pool) != 1 {
		t.Fatalf("after the resumes: sessions %+v, counter %d; want the one session", ss, counter(t, stack, pool))
	}
}

// servingEdge names the one edge whose count of accepted RESUMEs grew
// between two snapshots of the fleet's /stats.
func servingEdge(t *testing.T, f *localstack.Fleet, before, after []edge.Stats) string {
	t.Helper()
	served := ""
	for i, e := range f.Edges() {
		if after[i].Resumes[status.Accepted.String()] > before[i].Resumes[status.Accepted.String()] {
			if served != "" {
				t.Fatalf("one resume counted by %s and %s", served, e.Name)
			}
			served = e.Name
		}
	}
	if served == "" {
		t.Fatal("no edge counted the accepted resume")
	}
	return served
}

// receiveIM waits for the device's next IM, skipping other messages.
func receiveIM(t *testing.T, d *device, within time.Duration) *devproto.ReceiveIM {
	t.Helper()
	sess, _ := d.session()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for {
		m, err := sess.Receive(ctx)
		if err != nil {
			t.Fatalf("device %d waiting for an IM: %v", d.i, err)
		}
		if im, ok := m.(*devproto.ReceiveIM); ok {
			return im
		}
	}
}

// desktopClient is a GroupWise user logged in to the simulator directly.
type desktopClient struct{ c *gwclient.Client }

func desktop(t *testing.T, s *localstack.Stack, user string) *desktopClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), loginTimeout)
	defer cancel()
	c, err := gwclient.Dial(ctx, s.GroupWiseAddr, gwclient.WithCACertPEM(s.Simulator.CACertPEM()),
		gwclient.WithEventHandler(func(gwproto.Event) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Login(ctx, user, gwsim.DemoPassword, "fleet-test", ""); err != nil {
		t.Fatal(err)
	}
	return &desktopClient{c: c}
}
