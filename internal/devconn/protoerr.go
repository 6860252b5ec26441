package devconn

import (
	"errors"
	"fmt"

	"github.com/collabgw/collabgw/internal/devproto"
)

// Reason says why a link was given up as a protocol error after the
// handshake. Its String is the reason the edge's DeviceFramesRejected
// metric carries, so the names are stable.
type Reason uint8

// Reasons, in the order a frame meets them: its rate, its length prefix,
// its kind and ciphertext, then the message inside.
const (
	// ReasonMessageRate: the device sent more than its message rate.
	ReasonMessageRate Reason = iota + 1
	// ReasonFrameTooLarge: a length prefix over the link's frame limit.
	ReasonFrameTooLarge
	// ReasonBadFrame: a zero length, a kind other than the peer's DATA
	// (a handshake kind, or a frame reflected back), a ciphertext shorter
	// than its tag.
	ReasonBadFrame
	// ReasonFrameAuth: a DATA frame whose AEAD tag failed (tampered,
	// replayed, reordered or garbage).
	ReasonFrameAuth
	// ReasonUnknownMessage: a message type outside the protocol's table.
	ReasonUnknownMessage
	// ReasonUnexpectedMessage: a known type the peer may not send here
	// (LOGIN after the handshake, RECEIVE_IM from a device).
	ReasonUnexpectedMessage
	// ReasonMalformedMessage: a payload or field that does not decode
	// (bad flags, overlong varint, a zstd body over the size cap).
	ReasonMalformedMessage
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonMessageRate: "message_rate", ReasonFrameTooLarge: "frame_too_large", ReasonBadFrame: "bad_frame",
	ReasonFrameAuth: "frame_auth", ReasonUnknownMessage: "unknown_message",
	ReasonUnexpectedMessage: "unexpected_message", ReasonMalformedMessage: "malformed_message",
}

func (r Reason) String() string {
	if r == 0 || r >= numReasons {
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
	return reasonNames[r]
}

// Reasons returns every reason, for callers that count them.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := Reason(1); r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// ProtocolError is a link the peer broke after the handshake: the session
// cannot go on over it, and it is closed. On the gateway the device was
// answered PROTOCOL_ERROR first where an answer was possible (Answered):
// everything but a failed AEAD tag, after which the stream is lost.
type ProtocolError struct {
	Reason   Reason
	Answered bool
	Err      error // the devproto error, or the rate's

	answerable bool // the send side can still carry an answer
}

func (e *ProtocolError) Error() string {
	told := "not answered"
	if e.Answered {
		told = "answered PROTOCOL_ERROR"
	}
	return fmt.Sprintf("devconn: protocol error (%v, %s): %v", e.Reason, told, e.Err)
}

// Unwrap returns ErrProtocol and the cause, so errors.Is matches both.
func (e *ProtocolError) Unwrap() []error { return []error{ErrProtocol, e.Err} }

// errMessageRate is the cause of a ReasonMessageRate ProtocolError.
var errMessageRate = errors.New("devconn: message rate exceeded")

// classify maps an error from the frame's length prefix or from
// Transport.Open to its reason, and says whether the device can still be
// answered: only a failed tag leaves the gateway unable to tell the peer
// anything trustworthy about the stream. ok is false for an error that is
// not the peer's doing (nonce exhaustion).
func classify(err error) (r Reason, answerable, ok bool) {
	switch {
	case errors.Is(err, devproto.ErrFrameAuth):
		return ReasonFrameAuth, false, true
	case errors.Is(err, devproto.ErrFrameTooLarge):
		return ReasonFrameTooLarge, true, true
	case errors.Is(err, devproto.ErrUnknownMessageType):
		return ReasonUnknownMessage, true, true
	case errors.Is(err, devproto.ErrUnexpectedMessage):
		return ReasonUnexpectedMessage, true, true
	case errors.Is(err, devproto.ErrUnexpectedFrame), errors.Is(err, devproto.ErrWrongDirection),
		errors.Is(err, devproto.ErrTruncated):
		return ReasonBadFrame, true, true
	case errors.Is(err, devproto.ErrMalformed):
		return ReasonMalformedMessage, true, true
	}
	return 0, false, false
}
