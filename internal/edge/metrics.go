package edge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/peerlink"
	"github.com/collabgw/collabgw/internal/status"
)

// Counted events. Every rejection and drop has its own name, so a metric
// says why, not only how many.
type counter int

const (
	dropConnCap           counter = iota // a connection over the cap, closed unread
	dropAcceptError                      // an accept that failed (out of file descriptors): backed off
	dropAddrRate                         // a connection over its address's rate, closed unread
	dropHandshake                        // a HELLO that never arrived or did not authenticate
	dropQueueFull                        // a message for a device whose queue was full
	dropDraining                         // a login that arrived while draining
	dropHandshakeShed                    // a handshake still waiting for its HELLO, closed at the cap for a newer connection
	dropFrameTimeout                     // a device frame begun and not completed within the frame timeout (link closed)
	dropMessageRate                      // a device over its message rate (session ended)
	dropFrameTooLarge                    // a device frame over the size limit (session ended)
	dropBadFrame                         // a malformed device frame: empty, wrong kind, short ciphertext (session ended)
	dropFrameAuth                        // a device frame that failed authentication (session ended)
	dropUnknownMessage                   // an unknown message type from a device (session ended)
	dropUnexpectedMessage                // a message a device may not send (session ended)
	dropMalformedMessage                 // a device message that did not decode (session ended)
	evGone                               // a session a renewal reported gone
	evGraceExpired                       // a dropped device that did not resume in time
	evGroupWiseLost                      // a GroupWise connection that ended under a session
	evSignedOnElsewhere                  // GroupWise event 114
	evDeviceDropped                      // a device link that ended without LOGOUT
	evLogout                             // a device that logged out
	evDrained                            // a session ended by the drain at shutdown
	evAbandoned                          // a session the drain had not ended at its deadline, closed without a release
	evProtocolError                      // a session ended because its device broke the protocol
	evReleaseFailed                      // a release the function did not confirm (released again as a stray)
	evStatusWrite                        // a status-time write to the store
	evStoreWriteFailed                   // a lease, status, coverage or connectivity write that failed
	evIMToGroupWise                      // SEND_IM relayed
	evIMToGroupWiseFailed                // SEND_IM that GroupWise refused
	evIMToDevice                         // RECEIVE_IM written to a device
	evHelloCurrentKey                    // during a key rotation, a verified hello for the current gateway key
	evHelloNextKey                       // during a key rotation, a verified hello for the next gateway key
	evPeerResumeAccepted                 // a RESUME another task relayed here, accepted
	evPeerResumeRefused                  // a RESUME another task relayed here, refused
	evStrayReleased                      // a session the store had for this task, which did not hold it, released
	numCounters
)

var counterNames = [numCounters]string{
	dropConnCap: "DropConnCap", dropAcceptError: "DropAcceptError", dropAddrRate: "DropAddrRate", dropHandshake: "DropHandshake",
	dropQueueFull: "DropQueueFull", dropDraining: "DropDraining", dropHandshakeShed: "DropHandshakeShed",
	dropFrameTimeout: "DropFrameTimeout", dropMessageRate: "DropMessageRate", dropFrameTooLarge: "DropFrameTooLarge",
	dropBadFrame: "DropBadFrame", dropFrameAuth: "DropFrameAuth", dropUnknownMessage: "DropUnknownMessage",
	dropUnexpectedMessage: "DropUnexpectedMessage", dropMalformedMessage: "DropMalformedMessage",
	evGone: "SessionGone", evGraceExpired: "GraceExpired", evGroupWiseLost: "GroupWiseLost", evProtocolError: "ProtocolError",
	evSignedOnElsewhere: "SignedOnElsewhere", evDeviceDropped: "DeviceDropped", evLogout: "Logout", evDrained: "Drained", evAbandoned: "Abandoned",
	evReleaseFailed: "ReleaseFailed", evStatusWrite: "StatusWrite", evStoreWriteFailed: "StoreWriteFailed",
	evIMToGroupWise: "IMToGroupWise", evIMToGroupWiseFailed: "IMToGroupWiseFailed", evIMToDevice: "IMToDevice",
	evHelloCurrentKey: "HelloCurrentKey", evHelloNextKey: "HelloNextKey",
	evPeerResumeAccepted: "PeerResumeAccepted", evPeerResumeRefused: "PeerResumeRefused",
	evStrayReleased: "StrayReleased",
}

// maxStatus sizes the per-status arrays; status codes are small and stable.
const maxStatus = 32

type tally struct {
	counters [numCounters]atomic.Int64
	logins   [maxStatus]atomic.Int64 // by status code
	resumes  [maxStatus]atomic.Int64
	relays   [numRelayOutcomes]atomic.Int64 // RESUMEs for sessions held elsewhere, by outcome
	conns    atomic.Int64                   // open device connections
	sessions atomic.Int64                   // held sessions, in coverage or not
	detached atomic.Int64                   // held sessions out of coverage

	mu   sync.Mutex // guards last: the counters at the previous metrics flush
	last Stats
}

func (m *tally) inc(c counter) { m.counters[c].Add(1) }

func (m *tally) login(code status.Code, resume bool) {
	if int(code) >= maxStatus {
		return
	}
	if resume {
		m.resumes[code].Add(1)
	} else {
		m.logins[code].Add(1)
	}
}

// Stats is a snapshot of the edge's counters, served as JSON on /stats.
type Stats struct {
	Connections int64 `json:"connections"`
	// WaitingForHello counts the connections that have not yet sent a
	// whole HELLO: the ones shed first at the connection cap.
	WaitingForHello int64            `json:"waitingForHello"`
	Sessions        int64            `json:"sessions"`
	Detached        int64            `json:"detached"`
	Draining        bool             `json:"draining"`
	Logins          map[string]int64 `json:"logins"`  // by status name
	Resumes         map[string]int64 `json:"resumes"` // by status name
	Events          map[string]int64 `json:"events"`  // drops and lifecycle events by name
	// Relays counts RESUMEs for sessions this task does not hold, by
	// outcome (relayed, owner_dead, ...); empty without a locator.
	Relays map[string]int64 `json:"relays"`
	// Peer is the task-to-task link's counters; nil without WithPeer.
	Peer   *peerlink.Stats `json:"peer,omitempty"`
	Memory MemoryStats     `json:"memory"`
}

func (m *tally) snapshot() Stats {
	st := Stats{
		Connections: m.conns.Load(), Sessions: m.sessions.Load(), Detached: m.detached.Load(),
		Logins: map[string]int64{}, Resumes: map[string]int64{}, Events: map[string]int64{}, Relays: map[string]int64{},
	}
	for o := range numRelayOutcomes {
		if n := m.relays[o].Load(); n > 0 {
			st.Relays[relayNames[o]] = n
		}
	}
	for c := range maxStatus {
		code := status.Code(c)
		if n := m.logins[c].Load(); n > 0 {
			st.Logins[code.String()] = n
		}
		if n := m.resumes[c].Load(); n > 0 {
			st.Resumes[code.String()] = n
		}
	}
	for c := range numCounters {
		st.Events[counterNames[c]] = m.counters[c].Load()
	}
	return st
}

// Reasons the catalog's DeviceFramesRejected and EdgeSessionsEnded carry,
// by counter. Counters not listed (status writes, IMs relayed) are only on
// /stats.
var (
	rejectReasons = map[counter]string{
		dropConnCap: "conn_cap", dropAcceptError: "accept_error", dropAddrRate: "addr_rate",
		dropHandshake: "handshake", dropQueueFull: "queue_full", dropDraining: "draining",
		dropHandshakeShed: "handshake_shed", dropFrameTimeout: "frame_timeout",
		dropMessageRate: "message_rate", dropFrameTooLarge: "frame_too_large", dropBadFrame: "bad_frame",
		dropFrameAuth: "frame_auth", dropUnknownMessage: "unknown_message",
		dropUnexpectedMessage: "unexpected_message", dropMalformedMessage: "malformed_message",
	}
	endReasons = map[counter]string{
		evGone: "gone", evGraceExpired: "grace_expired", evGroupWiseLost: "groupwise_lost",
		evSignedOnElsewhere: "signed_on_elsewhere", evLogout: "logout", evDrained: "drained",
		evProtocolError: "protocol_error", evAbandoned: "abandoned",
	}
	// protocolCounters counts each devconn.Reason; their reject reasons
	// are the Reason's own names (a test holds them equal).
	protocolCounters = map[devconn.Reason]counter{
		devconn.ReasonMessageRate: dropMessageRate, devconn.ReasonFrameTooLarge: dropFrameTooLarge,
		devconn.ReasonBadFrame: dropBadFrame, devconn.ReasonFrameAuth: dropFrameAuth,
		devconn.ReasonUnknownMessage: dropUnknownMessage, devconn.ReasonUnexpectedMessage: dropUnexpectedMessage,
		devconn.ReasonMalformedMessage: dropMalformedMessage,
	}
)

// metricsInterval is how often the edge flushes its metrics: CloudWatch's
// standard resolution.
const metricsInterval = time.Minute

// countLogin counts a login or resume decision, on /stats and in the
// catalog's EdgeLogins / EdgeResumes (by pool when the login was admitted),
// with its latency for logins that reached a decision.
func (s *Server) countLogin(code status.Code, att *attempt, took time.Duration) {
	s.met.login(code, att.resume)
	rec := s.cfg.rec
	if rec == nil {
		return
	}
	var pool string
	if att.session != nil {
		pool = att.session.ref.Pool
	}
	if att.resume {
		rec.Add(metrics.EdgeResumes, 1, metrics.Outcome(code.String()))
		return
	}
	rec.Add(metrics.EdgeLogins, 1, metrics.Pool(pool), metrics.Outcome(code.String()))
	if took > 0 {
		rec.ObserveDuration(metrics.EdgeLoginLatency, took, metrics.Pool(pool))
	}
}

// collectMetrics runs before every flush: the gauges, and the rejections
// and session ends counted since the previous flush.
func (s *Server) collectMetrics(rec *metrics.Recorder) {
	cur := s.Stats()
	s.met.mu.Lock()
	prev := s.met.last
	s.met.last = cur
	s.met.mu.Unlock()
	s.logDrops(cur, prev)
	for c, reason := range rejectReasons {
		if n := cur.Events[counterNames[c]] - prev.Events[counterNames[c]]; n > 0 {
			rec.Add(metrics.DeviceFramesRejected, float64(n), metrics.Reason(reason))
		}
	}
	for c, reason := range endReasons {
		if n := cur.Events[counterNames[c]] - prev.Events[counterNames[c]]; n > 0 {
			rec.Add(metrics.EdgeSessionsEnded, float64(n), metrics.Reason(reason))
		}
	}
	collectPeerMetrics(rec, cur.Peer, prev.Peer)
	rec.Set(metrics.EdgeSessionsHeld, float64(cur.Sessions))
	rec.Set(metrics.EdgeConnections, float64(cur.Connections))
	if cur.Sessions > 0 {
		rec.Set(metrics.EdgeBytesPerSession, float64(cur.Memory.Total)/float64(cur.Sessions))
	}
}

// collectPeerMetrics records the link's attempts, drops and bytes since the
// previous flush.
func collectPeerMetrics(rec *metrics.Recorder, cur, prev *peerlink.Stats) {
	if cur == nil {
		return
	}
	if prev == nil {
		prev = &peerlink.Stats{}
	}
	for reason, n := range cur.In {
		if d := n - prev.In[reason]; d > 0 {
			rec.Add(metrics.PeerLinksIn, float64(d), metrics.Reason(reason))
		}
	}
	for reason, n := range cur.Out {
		if d := n - prev.Out[reason]; d > 0 {
			rec.Add(metrics.PeerLinksOut, float64(d), metrics.Reason(reason))
		}
	}
	for _, reason := range peerlink.DropReasons() {
		if d := cur.Ended[reason] - prev.Ended[reason]; d > 0 {
			rec.Add(metrics.PeerLinkDrops, float64(d), metrics.Reason(reason))
		}
	}
	if d := cur.BytesIn + cur.BytesOut - prev.BytesIn - prev.BytesOut; d > 0 {
		rec.Add(metrics.PeerLinkBytes, float64(d))
	}
}
