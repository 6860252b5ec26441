package edge

import (
	"errors"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// linkFailed handles the end of a device link's reader. A device that
// broke the protocol ends its session: it did not lose coverage, so its
// slot and its GroupWise login go at once rather than after the grace
// period. A frame that stalled is counted and, like a dropped connection,
// is a coverage loss: a phone whose radio fades mid-frame resumes. A
// relayed link reports the device's protocol error as a *peerlink.DeviceError
// (the relaying task counted the frame); anything else that ends it is a
// coverage loss.
func (ss *session) linkFailed(link deviceLink, err error) {
	var pe *devconn.ProtocolError
	var de *peerlink.DeviceError
	switch {
	case errors.As(err, &pe):
		ss.srv.met.inc(protocolCounter(pe.Reason))
		ss.protocolError(link, pe.Reason, pe.Answered, pe.Err)
		return
	case errors.As(err, &de):
		ss.protocolError(link, devconn.Reason(de.Reason), true, err)
		return
	case errors.Is(err, devconn.ErrFrameTimeout):
		ss.srv.met.inc(dropFrameTimeout)
	}
	ss.detach(link, err)
}

// protocolCounter is the counter of a devconn.Reason.
func protocolCounter(r devconn.Reason) counter {
	if c, ok := protocolCounters[r]; ok {
		return c
	}
	return dropBadFrame // a reason this edge does not know yet (a test keeps the table complete)
}

// protocolError ends the session of a link whose device broke the
// protocol. devconn (here or on the relaying task) already told the device
// PROTOCOL_ERROR where it could and closed the link, so the ending tells
// it nothing more. A link that is no longer the session's (a resume
// replaced it) ends alone.
func (ss *session) protocolError(link deviceLink, reason devconn.Reason, answered bool, cause error) {
	srv := ss.srv
	link.Close()
	ss.mu.Lock()
	current := !ss.ended && ss.link == link
	ss.mu.Unlock()
	if !current {
		return
	}
	srv.met.inc(evProtocolError)
	srv.cfg.log.Info("device broke the protocol; ending the session", "request", ss.requestID, "session", ss.ref.ID,
		"device", ss.ref.DeviceID, "reason", reason.String(), "answered", answered, "err", cause)
	ss.end(srv.life, ending{reason: "protocol-error", release: true})
}
