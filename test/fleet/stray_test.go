package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// strayUser is the demo user whose login the edge never hears about.
const strayUser = 470

// strayWithin bounds the wait for the edge to release a stray: its login
// timeout (8 s) and a few heartbeats, on a loaded machine.
const strayWithin = time.Minute

// TestStrayIsReleased: authorize admits a login for edge1 that edge1
// never holds (as when the edge gave up on a slow authorize call, or its
// release failed). The session is in the store, owned by a live task, so
// the sweep would never end it; edge1's heartbeat finds it stray and,
// once a login's time has passed, releases it: the counter is back to 0.
func TestStrayIsReleased(t *testing.T) {
	const pool = "stray"
	putPool(t, stack, pool, admission.PoolConfig{MaxSessions: 5}, strayUser, strayUser)
	f := startFleet(t, stack, localstack.FleetConfig{Edges: edges})
	owner := f.Edge(0)

	key, err := stack.DeviceKey(strayUser)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), strayWithin)
	defer cancel()
	d, err := stack.Store.Admit(ctx, admission.Login{
		RequestID: "stray-" + owner.TaskID(), DeviceID: demo.DeviceID(strayUser), DevicePublicKey: pub[:],
		DeviceTime: time.Now(), UserID: demo.UserID(strayUser), ClientVersion: "collabgw-fleet-test/1",
		Owner: owner.TaskID(), SourceAddr: "127.0.0.1", ResumeTokenHash: make([]byte, admission.ResumeTokenHashLen),
	})
	if err != nil || d.Status != status.Accepted {
		t.Fatalf("admit: %v (%s), %v", d.Status, d.Reason, err)
	}
	admitted := time.Now()
	if n := counter(t, stack, pool); n != 1 {
		t.Fatalf("counter %d after the admission, want 1", n)
	}
	eventually(t, "the stray released", strayWithin, func() bool {
		return counter(t, stack, pool) == 0 && len(sessions(t, stack, pool)) == 0
	})
	t.Logf("stray released %v after its admission (login timeout 8 s, heartbeat %v)", time.Since(admitted).Round(time.Millisecond), heartbeat)
	st, err := owner.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Events["StrayReleased"]; n != 1 {
		t.Fatalf("%s counted %d strays released, want 1", owner.Name, n)
	}
	if ps := sweep(t, stack, pool); ps.Drift != 0 || ps.Live != 0 {
		t.Fatalf("sweep after the release: %+v", ps)
	}
}
