package edge

import (
	"context"
	"errors"

	"github.com/collabgw/collabgw/internal/devconn"
)

// linkFailed handles the end of a device link's reader. A device that
// broke the protocol ends its session: it did not lose coverage, so its
// slot and its GroupWise login go at once rather than after the grace
// period. A frame that stalled is counted and, like a dropped connection,
// is a coverage loss: a phone whose radio fades mid-frame resumes.
func (ss *session) linkFailed(link *devconn.Session, err error) {
	var pe *devconn.ProtocolError
	switch {
	case errors.As(err, &pe):
		ss.protocolError(link, pe)
		return
	case errors.Is(err, devconn.ErrFrameTimeout):
		ss.srv.met.inc(dropFrameTimeout)
	}
	ss.detach(link, err)
}

// protocolError ends the session of a link whose device broke the
// protocol. devconn already told the device PROTOCOL_ERROR where it could
// and closed the link, so the ending tells it nothing more. A link that is
// no longer the session's (a resume replaced it) ends alone.
func (ss *session) protocolError(link *devconn.Session, pe *devconn.ProtocolError) {
	srv := ss.srv
	c, ok := protocolCounters[pe.Reason]
	if !ok {
		c = dropBadFrame // a reason this edge does not know yet (a test keeps the table complete)
	}
	srv.met.inc(c)
	link.Close()
	ss.mu.Lock()
	current := !ss.ended && ss.link == link
	ss.mu.Unlock()
	if !current {
		return
	}
	srv.met.inc(evProtocolError)
	srv.cfg.log.Info("device broke the protocol; ending the session", "request", ss.requestID, "session", ss.ref.ID,
		"device", ss.ref.DeviceID, "reason", pe.Reason.String(), "answered", pe.Answered, "err", pe.Err)
	ss.end(context.Background(), ending{reason: "protocol-error", release: true})
}
