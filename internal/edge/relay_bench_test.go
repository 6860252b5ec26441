package edge

import (
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// BenchmarkRelayedVsLocal measures what the relay costs a device: PING →
// PONG through its session on the owner (device reader, session queue and
// writer, the link both ways), from a device connected to the owner and
// from one a second task relays, timed side by side in the same
// iterations (alternating which goes first), so that the ratio holds on a
// shared machine. rtt is one message at a time (latency); burst16 sends 16
// before reading the 16 answers (throughput).
//
//	go test -run '^$' -bench BenchmarkRelayedVsLocal -benchtime 2000x ./internal/edge/
func BenchmarkRelayedVsLocal(b *testing.B) {
	f := newFleet(b, 2, nil)
	owner, relayer := f.edges[0], f.edges[1]
	local := owner.device(1)
	local.mustLogin()
	relayed := owner.device(2)
	st := f.away(b, relayed)
	if re := relayed.resumeAt(relayer.addr, st.ResumeToken, st.SessionID); re.Code != status.Accepted {
		b.Fatalf("relayed resume: %v", re.Code)
	}
	for _, burst := range []int{1, 16} {
		name := "rtt"
		if burst > 1 {
			name = "burst16"
		}
		b.Run(name, func(b *testing.B) {
			var took [2]time.Duration
			devs := [2]*device{local, relayed}
			id := uint64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for k := range 2 {
					which := (i + k) % 2
					d := devs[which]
					start := time.Now()
					for range burst {
						id++
						d.send(&devproto.Ping{ID: id})
					}
					for range burst {
						d.receive(devproto.TypePong)
					}
					took[which] += time.Since(start)
				}
			}
			msgs := float64(b.N * burst)
			b.ReportMetric(float64(took[0].Microseconds())/msgs, "local-us/msg")
			b.ReportMetric(float64(took[1].Microseconds())/msgs, "relayed-us/msg")
			b.ReportMetric(float64(took[1])/float64(took[0]), "relayed/local")
		})
	}
}
