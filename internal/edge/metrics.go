package edge

import (
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
	evGone                               // a session a renewal reported gone
	evGraceExpired                       // a dropped device that did not resume in time
	evGroupWiseLost                      // a GroupWise connection that ended under a session
	evSignedOnElsewhere                  // GroupWise event 114
	evDeviceDropped                      // a device link that ended without LOGOUT
	evLogout                             // a device that logged out
	evReleaseFailed                      // a release the function did not confirm (the sweep frees it)
	evStatusWrite                        // a status-time write to the store
	evStoreWriteFailed                   // a lease, status, coverage or connectivity write that failed
	evIMToGroupWise                      // SEND_IM relayed
	evIMToGroupWiseFailed                // SEND_IM that GroupWise refused
	evIMToDevice                         // RECEIVE_IM written to a device
	numCounters
)

var counterNames = [numCounters]string{
	dropConnCap: "DropConnCap", dropAcceptError: "DropAcceptError", dropAddrRate: "DropAddrRate", dropHandshake: "DropHandshake",
	dropQueueFull: "DropQueueFull", dropDraining: "DropDraining",
	evGone: "SessionGone", evGraceExpired: "GraceExpired", evGroupWiseLost: "GroupWiseLost",
	evSignedOnElsewhere: "SignedOnElsewhere", evDeviceDropped: "DeviceDropped", evLogout: "Logout",
	evReleaseFailed: "ReleaseFailed", evStatusWrite: "StatusWrite", evStoreWriteFailed: "StoreWriteFailed",
	evIMToGroupWise: "IMToGroupWise", evIMToGroupWiseFailed: "IMToGroupWiseFailed", evIMToDevice: "IMToDevice",
}

// maxStatus sizes the per-status arrays; status codes are small and stable.
const maxStatus = 32

type metrics struct {
	counters [numCounters]atomic.Int64
	logins   [maxStatus]atomic.Int64 // by status code
	resumes  [maxStatus]atomic.Int64
	conns    atomic.Int64 // open device connections
	sessions atomic.Int64 // held sessions, in coverage or not
	detached atomic.Int64 // held sessions out of coverage

	mu   sync.Mutex // guards last: what the previous EMF line reported
	last Stats
}

func (m *metrics) inc(c counter) { m.counters[c].Add(1) }

func (m *metrics) login(code status.Code, resume bool) {
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
	Connections int64            `json:"connections"`
	Sessions    int64            `json:"sessions"`
	Detached    int64            `json:"detached"`
	Draining    bool             `json:"draining"`
	Logins      map[string]int64 `json:"logins"`  // by status name
	Resumes     map[string]int64 `json:"resumes"` // by status name
	Events      map[string]int64 `json:"events"`  // drops and lifecycle events by name
	Memory      MemoryStats      `json:"memory"`
}

func (m *metrics) snapshot() Stats {
	st := Stats{
		Connections: m.conns.Load(), Sessions: m.sessions.Load(), Detached: m.detached.Load(),
		Logins: map[string]int64{}, Resumes: map[string]int64{}, Events: map[string]int64{},
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

// writeEMF writes one CloudWatch embedded-metric-format line: the gauges,
// and every counter as its change since the previous line.
func (m *metrics) writeEMF(w io.Writer, now time.Time) error {
	cur := m.snapshot()
	m.mu.Lock()
	prev := m.last
	m.last = cur
	m.mu.Unlock()
	values := map[string]any{"Connections": cur.Connections, "Sessions": cur.Sessions, "Detached": cur.Detached}
	delta := func(prefix string, now, before map[string]int64) {
		for k, v := range now {
			values[prefix+k] = v - before[k]
		}
	}
	delta("Login_", cur.Logins, prev.Logins)
	delta("Resume_", cur.Resumes, prev.Resumes)
	delta("", cur.Events, prev.Events)
	defs := make([]map[string]string, 0, len(values))
	for name := range values {
		defs = append(defs, map[string]string{"Name": name, "Unit": "Count"})
	}
	values["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": "collabgw/edge", "Dimensions": [][]string{{}}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
