package edge

import (
	"errors"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/status"
)

// holding returns device i of e provisioned with the gateway public key of
// gatewayKey (not necessarily e's).
func (e *testEdge) holding(i int, gatewayKey devproto.PrivateKey) *device {
	d := e.device(i)
	pub, err := gatewayKey.Public()
	if err != nil {
		e.t.Fatal(err)
	}
	if d.client, err = devconn.NewClient(testKey(e.t, i), pub, devconn.WithHandshakeTimeout(5*time.Second)); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestGatewayKeyRotation runs the rotation procedure of edge/README.md
// through the edge's configuration: during the window
// (COLLABGW_GATEWAY_PRIVATE_KEY the old key, ..._NEXT the new one) a device
// holding the old public key and one holding the new both log in; after it
// (the new key current, no next key) only the new one does, and the old
// one's HELLO is not answered.
func TestGatewayKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(t, 40), testKey(t, 41)
	env := func(current, next devproto.PrivateKey) Env {
		t.Helper()
		vars := map[string]string{
			manifest.EnvAuthorizeFunction: "authorize", manifest.EnvReleaseFunction: "release", manifest.EnvTable: "t",
			manifest.EnvGatewayKey: keyTextOf(current),
		}
		if next != (devproto.PrivateKey{}) {
			vars[manifest.EnvGatewayKeyNext] = keyTextOf(next)
		}
		e, err := EnvFrom(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	during := env(oldKey, newKey)
	window := newTestEdgeWithKey(t, during.GatewayKey, nil, WithNextGatewayKey(during.NextGatewayKey))
	if st := window.holding(1, oldKey).login("demo"); st.Code != status.Accepted {
		t.Fatalf("during the window, the device holding the old key got %v", st.Code)
	}
	if st := window.holding(2, newKey).login("demo"); st.Code != status.Accepted {
		t.Fatalf("during the window, the device holding the new key got %v", st.Code)
	}
	if ev := window.srv.Stats().Events; ev["HelloCurrentKey"] != 1 || ev["HelloNextKey"] != 1 {
		t.Fatalf("key use counted as %d current, %d next; want 1 and 1", ev["HelloCurrentKey"], ev["HelloNextKey"])
	}

	afterEnv := env(newKey, devproto.PrivateKey{})
	after := newTestEdgeWithKey(t, afterEnv.GatewayKey, nil)
	if st := after.holding(2, newKey).login("demo"); st.Code != status.Accepted {
		t.Fatalf("after the window, the device holding the new key got %v", st.Code)
	}
	d := after.holding(1, oldKey)
	ctx := t.Context()
	conn, err := d.client.Dial(ctx, after.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.client.Login(ctx, conn, devproto.Login{DeviceID: d.id, UserID: d.user, Password: "demo"})
	if !errors.Is(err, devproto.ErrHandshakeRejected) {
		t.Fatalf("after the window, the device holding the old key: %v, want ErrHandshakeRejected", err)
	}
	eventually(t, "the refused handshake counted", func() bool { return after.srv.Stats().Events["DropHandshake"] == 1 })
	if n := after.srv.Stats().Events["HelloCurrentKey"]; n != 0 {
		t.Fatalf("after the window, %d current-key hellos counted; want none (no rotation, no count)", n)
	}
}
