package peerlink

import (
	"errors"
	"fmt"

	"github.com/collabgw/collabgw/internal/noisecipher"
)

// Errors of the wire format and the handshake. Each failure has its own
// sentinel so that callers, tests and the counters can tell them apart.
var (
	ErrInvalidKey         = errors.New("peerlink: invalid key")
	ErrUnsupportedVersion = errors.New("peerlink: unsupported link version")
	ErrUnknownKey         = errors.New("peerlink: hello names a key this task does not hold")
	ErrHandshakeAuth      = errors.New("peerlink: handshake failed authentication (wrong key?)")
	ErrMalformed          = errors.New("peerlink: malformed frame or message")
	ErrFrameTooLarge      = errors.New("peerlink: frame too large")
	ErrTruncated          = errors.New("peerlink: truncated frame")
	ErrUnexpectedFrame    = errors.New("peerlink: unexpected frame kind")
	ErrUnexpectedMessage  = errors.New("peerlink: message not allowed here")
	ErrFrameAuth          = errors.New("peerlink: frame failed authentication (tampered, replayed or reordered)")
	ErrNonceExhausted     = noisecipher.ErrNonceExhausted // 2^64−1 frames on one link: open a new one
)

// Errors of links.
var (
	// ErrRefused: the responder refused the link; a *RefusedError says why.
	ErrRefused = errors.New("peerlink: link refused")
	// ErrWrongTask: the task that answered at the address is not the one
	// the caller meant to reach (the address was reused).
	ErrWrongTask = errors.New("peerlink: another task answered")
	// ErrTooManyLinks: this task holds its maximum of links in that
	// direction.
	ErrTooManyLinks = errors.New("peerlink: too many links")
	// ErrHandshakeTimeout: the link was not set up within the handshake
	// timeout.
	ErrHandshakeTimeout = errors.New("peerlink: handshake timed out")
	// ErrIdleTimeout: nothing, not even a keepalive, arrived within the
	// idle timeout.
	ErrIdleTimeout = errors.New("peerlink: link idle for too long")
	// ErrPeerClosed: the other task closed the link in order.
	ErrPeerClosed = errors.New("peerlink: closed by the other task")
	// ErrClosed: the link was closed on this side.
	ErrClosed = errors.New("peerlink: link closed")
	// ErrNotAnswered: Send before the RESUME was answered ACCEPTED, or a
	// second Answer.
	ErrNotAnswered = errors.New("peerlink: link not in the relaying state")
)

// DeviceError is how Receive reports, on the owner, a link the relaying
// task closed because the device broke its protocol: the owner ends the
// session as if its own device link had been broken. Reason is the
// relaying task's code for why (opaque here; the edge passes devconn's).
type DeviceError struct{ Reason uint8 }

func (e *DeviceError) Error() string {
	return fmt.Sprintf("peerlink: the relaying task closed the link: the device broke its protocol (reason %d)", e.Reason)
}

// Unwrap returns ErrPeerClosed: the link ended in order.
func (e *DeviceError) Unwrap() error { return ErrPeerClosed }

// RefuseReason is why a responder refused a link; it travels in a clear
// REFUSE frame, so it is a hint, not an authenticated statement.
type RefuseReason byte

// Refuse reasons. The numbers are on the wire.
const (
	RefuseVersion    RefuseReason = 1 // the responder does not speak the hello's version
	RefuseUnknownKey RefuseReason = 2 // the key id names no key the responder holds
	RefuseHandshake  RefuseReason = 3 // the hello failed authentication
	RefuseBusy       RefuseReason = 4 // the responder holds its maximum of links
)

func (r RefuseReason) String() string {
	switch r {
	case RefuseVersion:
		return "version"
	case RefuseUnknownKey:
		return "unknown_key"
	case RefuseHandshake:
		return "handshake"
	case RefuseBusy:
		return "busy"
	}
	return fmt.Sprintf("reason_%d", byte(r))
}

// RefusedError is a REFUSE the responder sent.
type RefusedError struct{ Reason RefuseReason }

func (e *RefusedError) Error() string { return "peerlink: link refused: " + e.Reason.String() }

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// FrameSizeError is a frame over the limit.
type FrameSizeError struct{ Size, Max int }

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("peerlink: %d-byte frame exceeds the %d-byte limit", e.Size, e.Max)
}

// Unwrap returns ErrFrameTooLarge.
func (e *FrameSizeError) Unwrap() error { return ErrFrameTooLarge }
