package devproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/collabgw/collabgw/internal/noisecipher"
	"github.com/collabgw/collabgw/internal/status"
)

// Errors of the wire format. Each failure the tests name has its own
// sentinel, so callers (and metrics) can tell them apart with errors.Is.
var (
	ErrUnsupportedVersion = errors.New("devproto: unsupported protocol version")
	ErrUnknownMessageType = errors.New("devproto: unknown message type")
	ErrUnexpectedMessage  = errors.New("devproto: message type not allowed here")
	ErrMalformed          = errors.New("devproto: malformed message")
	ErrFrameTooLarge      = errors.New("devproto: frame too large")
	ErrTruncated          = errors.New("devproto: truncated frame")
	ErrUnexpectedFrame    = errors.New("devproto: unexpected frame kind")
	ErrWrongDirection     = errors.New("devproto: frame sent in the wrong direction")
	ErrFrameAuth          = errors.New("devproto: frame failed authentication (tampered, replayed or reordered)")
	ErrHandshakeAuth      = errors.New("devproto: handshake message failed authentication")
	ErrHandshakeRejected  = errors.New("devproto: gateway could not authenticate the hello (wrong gateway key?)")
	ErrNonceExhausted     = noisecipher.ErrNonceExhausted // 2^64−1 frames on one session: reconnect
	ErrNotVerified        = errors.New("devproto: hello must pass Verify before it is accepted")
	ErrHelloAnswered      = errors.New("devproto: hello already answered")
	ErrInvalidKey         = errors.New("devproto: invalid key")
	ErrKeyFileMode        = errors.New("devproto: private key file is readable by group or others")
)

// Errors of the verification step. A DeviceVerifier returns these (or a
// *StatusError) so that StatusFor can tell the device why it was refused
// without leaking anything else.
var (
	ErrClockSkew         = errors.New("devproto: device timestamp outside the allowed clock skew")
	ErrReplayed          = errors.New("devproto: hello replayed: timestamp not newer than the last accepted one")
	ErrUnknownDevice     = errors.New("devproto: unknown device")
	ErrDeviceRevoked     = errors.New("devproto: device revoked")
	ErrDeviceKeyMismatch = errors.New("devproto: device key does not match the registered key")
)

// VersionError reports a protocol version this side does not speak.
type VersionError struct {
	Got  byte // the version received
	Want byte // the version this side speaks
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("devproto: unsupported protocol version %d (this side speaks %d)", e.Got, e.Want)
}

// Unwrap returns ErrUnsupportedVersion.
func (e *VersionError) Unwrap() error { return ErrUnsupportedVersion }

// FrameSizeError reports a frame longer than the limit.
type FrameSizeError struct {
	Size int
	Max  int
}

func (e *FrameSizeError) Error() string {
	return fmt.Sprintf("devproto: frame of %d bytes exceeds the limit of %d", e.Size, e.Max)
}

// Unwrap returns ErrFrameTooLarge.
func (e *FrameSizeError) Unwrap() error { return ErrFrameTooLarge }

// SkewError reports a device timestamp too far from the gateway clock.
type SkewError struct {
	Skew time.Duration // device time minus gateway time
	Max  time.Duration
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("devproto: device clock off by %v (limit ±%v)", e.Skew, e.Max)
}

// Unwrap returns ErrClockSkew.
func (e *SkewError) Unwrap() error { return ErrClockSkew }

// FieldError reports one field of a message that cannot be encoded or decoded.
type FieldError struct {
	Type  MsgType
	Field string
	Err   error // ErrMalformed or ErrUnknownMessageType
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("devproto: %v.%s: %v", e.Type, e.Field, e.Err)
}

// Unwrap returns the underlying sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// StatusError lets a DeviceVerifier (or any gateway-side decision) refuse a
// hello with a specific status, such as RATE_LIMITED with a retry delay.
type StatusError struct {
	Code       status.Code
	RetryAfter time.Duration
	Err        error // optional cause, never sent to the device
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("devproto: refused with %v: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("devproto: refused with %v", e.Code)
}

// Unwrap returns the cause, if any.
func (e *StatusError) Unwrap() error { return e.Err }

// StatusFor maps an error from Hello.Verify, a DeviceVerifier or the codec to
// the status a device is told. An error it does not know is an internal
// failure of the gateway: the device hears SERVER_BUSY (try again later) and
// never the error text.
func StatusFor(err error) status.Code {
	var se *StatusError
	switch {
	case err == nil:
		return status.Accepted
	case errors.As(err, &se) && se.Code.Valid():
		return se.Code
	case errors.Is(err, ErrUnknownDevice), errors.Is(err, ErrDeviceRevoked), errors.Is(err, ErrDeviceKeyMismatch):
		return status.DeviceRevoked
	case errors.Is(err, ErrClockSkew), errors.Is(err, ErrReplayed),
		errors.Is(err, ErrUnsupportedVersion), errors.Is(err, ErrUnknownMessageType),
		errors.Is(err, ErrUnexpectedMessage), errors.Is(err, ErrMalformed),
		errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrTruncated),
		errors.Is(err, ErrUnexpectedFrame), errors.Is(err, ErrWrongDirection):
		return status.ProtocolError
	}
	return status.ServerBusy
}

// The texts the gateway sends in place of a status's own text
// (status.Code.Text) in the two cases where that text would mislead the
// device's user. Together with the status texts they are every text a
// SERVER_STATUS can carry (docs/device-protocol.md lists them all, and a
// test holds the document to this list). A device decides on the code; the
// text is for display.
const (
	// ClockSkewText comes with PROTOCOL_ERROR when the device clock is
	// outside the skew window: only the device's user can fix that, so the
	// text says how.
	ClockSkewText = "Device clock is wrong; set the date and time and try again"
	// LogoutText comes with LOGGED_OUT when it acknowledges the device's
	// own LOGOUT (the status's text speaks of inactivity).
	LogoutText = "Logged out"
)

// RejectStatus builds the SERVER_STATUS that refuses a hello for err. The
// message is the status's fixed text, or ClockSkewText, never err's text,
// so nothing internal reaches the device.
func RejectStatus(err error) *ServerStatus {
	code := StatusFor(err)
	if code == status.Accepted {
		code = status.ServerBusy
	}
	st := &ServerStatus{Code: code, Message: code.Text()}
	var se *StatusError
	switch {
	case errors.As(err, &se):
		st.RetryAfter = se.RetryAfter
	case errors.Is(err, ErrClockSkew):
		st.Message = ClockSkewText
	}
	return st
}
