package peerlink

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
)

// inResult is how an inbound link attempt ended its setup.
type inResult int

const (
	inOK         inResult = iota // set up; the RESUME went to the handler
	inConnCap                    // over the inbound cap: REFUSE busy
	inVersion                    // a version this task does not speak
	inUnknownKey                 // a key id this task does not hold
	inBadKey                     // a hello that failed authentication
	inTimeout                    // hello or RESUME not in within the handshake timeout
	inMalformed                  // a frame or message that does not parse, or the wrong one
	inIncomplete                 // closed by the initiator (or reset) before the RESUME
	inClosing                    // the server was closing
	numInResults
)

var inNames = [numInResults]string{
	inOK: "ok", inConnCap: "conn_cap", inVersion: "version", inUnknownKey: "unknown_key", inBadKey: "bad_key",
	inTimeout: "timeout", inMalformed: "malformed", inIncomplete: "incomplete", inClosing: "closing",
}

// outResult is how an outbound link attempt ended its setup.
type outResult int

const (
	outOK             outResult = iota // answered (whatever the answer)
	outConnCap                         // over the outbound cap: not dialed
	outDialFailed                      // refused, unreachable, no route
	outTimeout                         // dial, handshake or answer not within the handshake timeout
	outRefusedBusy                     // REFUSE busy
	outRefusedKey                      // REFUSE unknown key or handshake: the tasks' keys differ
	outRefusedVersion                  // REFUSE version
	outHandshake                       // a WELCOME or ANSWER that failed authentication or did not parse, or a reset
	outWrongTask                       // another task answered at the address
	numOutResults
)

var outNames = [numOutResults]string{
	outOK: "ok", outConnCap: "conn_cap", outDialFailed: "dial_failed", outTimeout: "timeout",
	outRefusedBusy: "refused_busy", outRefusedKey: "refused_key", outRefusedVersion: "refused_version",
	outHandshake: "handshake_failed", outWrongTask: "wrong_task",
}

// endReason is how an established link ended.
type endReason int

const (
	endClosed      endReason = iota // in order: Close on this side or CLOSE from the other
	endPeerLost                     // the connection ended without a CLOSE (task died, reset)
	endIdleTimeout                  // nothing arrived within the idle timeout
	endWriteFailed                  // a write failed or passed its deadline (the other side stopped reading)
	endBadFrame                     // a frame that failed authentication, was too large or did not parse
	numEndReasons
)

var endNames = [numEndReasons]string{
	endClosed: "closed", endPeerLost: "peer_lost", endIdleTimeout: "idle_timeout",
	endWriteFailed: "write_failed", endBadFrame: "bad_frame",
}

// Counters counts a task's links, in and out. One Counters may be shared by
// a Dialer and a Server (WithCounters), so that one snapshot covers both.
// It is safe for concurrent use.
type Counters struct {
	in                [numInResults]atomic.Int64
	out               [numOutResults]atomic.Int64
	ended             [numEndReasons]atomic.Int64
	openIn, openOut   atomic.Int64
	bytesIn, bytesOut atomic.Int64
}

// Stats is a snapshot of Counters, served as JSON on the edge's /stats.
type Stats struct {
	// In counts inbound link attempts by result: "ok" or why the link was
	// refused or dropped during its setup.
	In map[string]int64 `json:"in"`
	// Out counts outbound link attempts by result: "ok" (the owner
	// answered) or why no answer came.
	Out map[string]int64 `json:"out"`
	// Ended counts established links by how they ended: "closed" is the
	// orderly end, the rest are drops.
	Ended    map[string]int64 `json:"ended"`
	OpenIn   int64            `json:"openIn"`
	OpenOut  int64            `json:"openOut"`
	BytesIn  int64            `json:"bytesIn"`  // frame bytes read, handshakes included
	BytesOut int64            `json:"bytesOut"` // frame bytes written
}

// Stats returns a snapshot. Every reason appears, zero or not, so that a
// difference of two snapshots needs no special case.
func (c *Counters) Stats() Stats {
	st := Stats{In: map[string]int64{}, Out: map[string]int64{}, Ended: map[string]int64{}}
	for i := range numInResults {
		st.In[inNames[i]] = c.in[i].Load()
	}
	for i := range numOutResults {
		st.Out[outNames[i]] = c.out[i].Load()
	}
	for i := range numEndReasons {
		st.Ended[endNames[i]] = c.ended[i].Load()
	}
	st.OpenIn, st.OpenOut = c.openIn.Load(), c.openOut.Load()
	st.BytesIn, st.BytesOut = c.bytesIn.Load(), c.bytesOut.Load()
	return st
}

// DropReasons lists the Ended reasons that are drops (all but "closed"),
// for callers that export them as a metric.
func DropReasons() []string { return append([]string(nil), endNames[endPeerLost:]...) }

// isTimeout reports a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
