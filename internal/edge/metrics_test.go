package edge

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/metrics/metricstest"
	"github.com/collabgw/collabgw/internal/status"
)

// TestEdgeMetricsAreCatalogEMFWithoutSecrets logs a device in, has a second
// refused, and drains: the flush after the drain must be valid EMF of the
// catalog's edge metrics, and neither it nor the edge's logs may carry the
// password, the resume token or a key.
func TestEdgeMetricsAreCatalogEMFWithoutSecrets(t *testing.T) {
	var out metricstest.SyncBuffer
	rec, err := metrics.New(&out)
	if err != nil {
		t.Fatal(err)
	}
	var logs metricstest.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const password = "S3cret-Pa55word!"
	e := newTestEdge(t, []gwsim.Option{gwsim.WithUser("secret", password)}, WithMetrics(rec), WithLogger(log))
	e.fn.refuse["user0002"] = status.ServerBusy
	d := e.device(1)
	d.user = "secret"
	st := d.login(password)
	if st.Code != status.Accepted {
		t.Fatalf("login = %v", st.Code)
	}
	if got := e.device(2).login("demo"); got.Code != status.ServerBusy {
		t.Fatalf("second login = %v, want SERVER_BUSY", got.Code)
	}
	if err := e.shutdown(); err != nil {
		t.Fatal(err)
	}

	docs := metricstest.ValidateEMF(t, out.Bytes())
	names := map[string]bool{}
	for _, d := range docs {
		for k := range d {
			names[k] = true
		}
	}
	for _, want := range []string{"EdgeLogins", "EdgeLoginLatency", "EdgeSessionsHeld", "EdgeConnections", "EdgeSessionsEnded", "GroupWiseConnectLatency", "GroupWiseLoginLatency"} {
		if !names[want] {
			t.Errorf("no %s in the edge's metrics:\n%s", want, out.Bytes())
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(`"Outcome":"SERVER_BUSY"`)) || !bytes.Contains(out.Bytes(), []byte(`"Outcome":"ACCEPTED"`)) {
		t.Errorf("the login decisions are not recorded by outcome:\n%s", out.Bytes())
	}
	gwKey := testKey(t, 0)
	devKey := testKey(t, 1)
	all := append(out.Bytes(), logs.Bytes()...)
	metricstest.AssertNoSecrets(t, all,
		metricstest.Secret{Name: "password", Value: []byte(password)},
		metricstest.Secret{Name: "resume token", Value: st.ResumeToken[:]},
		metricstest.Secret{Name: "gateway key", Value: gwKey[:]},
		metricstest.Secret{Name: "device key", Value: devKey[:]},
	)
}

// TestDropsAreSummarisedAtInfo sends HELLOs that do not authenticate: each
// is a debug line only, and the next metrics flush logs one info line with
// the count by reason.
func TestDropsAreSummarisedAtInfo(t *testing.T) {
	var out, logs metricstest.SyncBuffer
	rec, err := metrics.New(&out)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newTestEdge(t, nil, WithMetrics(rec), WithLogger(log))
	for range 3 {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(bytes.Repeat([]byte{0xff}, 64))
		_, _ = io.Copy(io.Discard, conn) // until the edge closes it
		conn.Close()
	}
	if err := e.shutdown(); err != nil { // the final flush
		t.Fatal(err)
	}
	var summary map[string]any
	for line := range bytes.Lines(logs.Bytes()) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == "drops counted in the last minute" {
			summary = m
		}
	}
	if summary == nil || summary["level"] != "INFO" || summary["handshake"] != 3.0 {
		t.Fatalf("summary %v, want an info line with handshake=3; log:\n%s", summary, logs.Bytes())
	}
}

// TestRelayMetricsAreCatalogEMFWithoutSecrets resumes a device through a
// second task: both tasks' flushes must be valid EMF of the catalog with
// the relay and link metrics, and neither metrics nor logs may carry a
// resume token, the peer key or a device key.
func TestRelayMetricsAreCatalogEMFWithoutSecrets(t *testing.T) {
	var outA, outB, logs metricstest.SyncBuffer
	recA, err := metrics.New(&outA)
	if err != nil {
		t.Fatal(err)
	}
	recB, err := metrics.New(&outB)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFleet(t, 2, func(i int) []Option {
		return []Option{WithMetrics([]*metrics.Recorder{recA, recB}[i]), WithLogger(log)}
	})
	a, b := f.edges[0], f.edges[1]
	d := a.device(1)
	st := f.away(t, d)
	re := d.resumeAt(b.addr, st.ResumeToken, st.SessionID)
	if re.Code != status.Accepted {
		t.Fatalf("resume: %v", re.Code)
	}
	d.send(&devproto.Ping{ID: 1})
	d.receive(devproto.TypePong)
	if err := a.shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := b.shutdown(); err != nil {
		t.Fatal(err)
	}

	names := map[string]bool{}
	for _, out := range [][]byte{outA.Bytes(), outB.Bytes()} {
		for _, doc := range metricstest.ValidateEMF(t, out) {
			for k := range doc {
				names[k] = true
			}
		}
	}
	for _, want := range []string{"RelayedResumes", "PeerLinksIn", "PeerLinksOut", "PeerLinkBytes", "EdgeResumes"} {
		if !names[want] {
			t.Errorf("no %s in the metrics:\n%s\n%s", want, outA.Bytes(), outB.Bytes())
		}
	}
	if !bytes.Contains(outB.Bytes(), []byte(`"Reason":"relayed"`)) {
		t.Errorf("the relayed resume is not recorded by reason:\n%s", outB.Bytes())
	}
	peerKey := testPeerKey(1)
	all := append(append(outA.Bytes(), outB.Bytes()...), logs.Bytes()...)
	metricstest.AssertNoSecrets(t, all,
		metricstest.Secret{Name: "first resume token", Value: st.ResumeToken[:]},
		metricstest.Secret{Name: "relayed resume token", Value: re.ResumeToken[:]},
		metricstest.Secret{Name: "peer key", Value: peerKey[:]},
		metricstest.Secret{Name: "device key", Value: func() []byte { k := testKey(t, 1); return k[:] }()},
	)
}
