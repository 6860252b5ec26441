package edge

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
)

// TestFailedReleaseIsRetriedUntilConfirmed: a release the function does
// not confirm (throttled here, as Lambda answers 429 past its concurrency)
// must not leave the slot taken while the task lives — its lease is
// renewed, so nothing else would free it. The edge keeps it and retries
// after heartbeats until one is confirmed.
func TestFailedReleaseIsRetriedUntilConfirmed(t *testing.T) {
	sim, fn := newTestBackend(t)
	var calls atomic.Int32
	fn.releaseHook = func(context.Context) error {
		if calls.Add(1) <= 2 {
			return errors.New("TooManyRequestsException: Rate Exceeded")
		}
		return nil
	}
	e := startTestEdge(t, sim, fn, &fakeLeases{}, "edge-test", testKey(t, 0), WithHeartbeat(50*time.Millisecond))
	d := e.device(1)
	d.mustLogin()
	d.send(&devproto.Logout{})
	eventually(t, "the release confirmed by a retry", func() bool { return len(fn.releases()) == 1 })
	eventually(t, "the retry counted", func() bool { return e.srv.Stats().Events["ReleaseRetried"] == 1 })
	st := e.srv.Stats()
	if st.Events["ReleaseFailed"] != 1 || st.PendingReleases != 0 || calls.Load() != 3 {
		t.Fatalf("releases failed %d, pending %d, release calls %d; want 1, 0, 3 (the first failed, one retry failed, the next confirmed)",
			st.Events["ReleaseFailed"], st.PendingReleases, calls.Load())
	}
	if r := fn.releases()[0]; r.Reason != "logout" || r.Session.DeviceID != d.id {
		t.Fatalf("retried %+v, want the device's logout", r)
	}
}

// TestPendingReleasesAreBounded: past maxPendingReleases a failed release
// is counted as dropped rather than kept; a session already kept is kept
// once, however often it fails.
func TestPendingReleasesAreBounded(t *testing.T) {
	var p pendingReleases
	for i := range maxPendingReleases {
		if !p.add(pendingRelease{ref: refOf(i)}) {
			t.Fatalf("release %d refused below the bound", i)
		}
	}
	if p.add(pendingRelease{ref: refOf(maxPendingReleases)}) {
		t.Fatal("a release kept past the bound")
	}
	if !p.add(pendingRelease{ref: refOf(7)}) || p.len() != maxPendingReleases {
		t.Fatalf("a session kept again: %d kept, want %d", p.len(), maxPendingReleases)
	}
	todo := p.begin()
	if len(todo) != maxPendingReleases || p.begin() != nil {
		t.Fatal("a second round began while one runs")
	}
	p.done(todo[0].ref.ID)
	p.end()
	if p.len() != maxPendingReleases-1 {
		t.Fatalf("%d kept after one was done", p.len())
	}
}

func refOf(i int) admission.SessionRef {
	return admission.SessionRef{Pool: "p", DeviceID: "d" + strconv.Itoa(i), ID: "s" + strconv.Itoa(i)}
}
