package devproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// MsgType is the first byte of a message body. The numbers are on the wire.
type MsgType uint8

// Message types.
const (
	TypeLogin        MsgType = 1 // device → gateway, in HELLO only
	TypeServerStatus MsgType = 2 // gateway → device, in WELCOME or DATA
	TypeStatus       MsgType = 3 // device → gateway: presence, the periodic status message
	TypeSendIM       MsgType = 4 // device → gateway
	TypeReceiveIM    MsgType = 5 // gateway → device
	TypeResume       MsgType = 6 // device → gateway, in HELLO only
	TypeLogout       MsgType = 7 // device → gateway
	TypePing         MsgType = 8 // either way
	TypePong         MsgType = 9 // either way, answers PING
)

var typeNames = [...]string{
	TypeLogin: "LOGIN", TypeServerStatus: "SERVER_STATUS", TypeStatus: "STATUS",
	TypeSendIM: "SEND_IM", TypeReceiveIM: "RECEIVE_IM", TypeResume: "RESUME",
	TypeLogout: "LOGOUT", TypePing: "PING", TypePong: "PONG",
}

// String returns the protocol name of the type, such as "SEND_IM".
func (t MsgType) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE_%d", uint8(t))
}

// sentBy reports whether a DATA frame from role may carry t. LOGIN and
// RESUME ride only in HELLO, so they are never valid here.
func (t MsgType) sentBy(r Role) bool {
	switch t {
	case TypePing, TypePong:
		return true
	case TypeStatus, TypeSendIM, TypeLogout:
		return r == RoleDevice
	case TypeServerStatus, TypeReceiveIM:
		return r == RoleGateway
	}
	return false
}

// Field limits, in bytes. They keep a HELLO under MaxHelloSize and bound
// what a peer can make the other side allocate.
const (
	MaxDeviceIDLen      = 128
	MaxUserIDLen        = 256
	MaxClientVersionLen = 64
	MaxPasswordLen      = 255 // the secret section's length is one byte
	MaxSessionIDLen     = 128
	MaxServerMessageLen = 256
	MaxStatusTextLen    = 256
	MaxIMTextLen        = 8 << 10
	// MaxDuration bounds RetryAfter and StatusInterval.
	MaxDuration = 7 * 24 * time.Hour
)

// ErrInvalidDeviceID reports a device id outside the protocol's limits.
var ErrInvalidDeviceID = errors.New("devproto: invalid device id")

// CheckDeviceID reports whether id can name a device on the wire: 1 to
// MaxDeviceIDLen bytes, each an ASCII letter or digit or one of ". _ - : @".
// The id is chosen by whoever provisions the device (`collabgw admin device
// register ID`) and bound there to one user and one public key; it is not
// derived from the key. The narrow alphabet keeps ids that look alike from
// being different ids (no Unicode, no spaces or control characters), and
// keeps them safe in logs, metrics and table keys.
func CheckDeviceID(id string) error {
	if len(id) < 1 || len(id) > MaxDeviceIDLen {
		return fmt.Errorf("%w: %d bytes, want 1 to %d", ErrInvalidDeviceID, len(id), MaxDeviceIDLen)
	}
	for i := range len(id) {
		if !deviceIDChar(id[i]) {
			return fmt.Errorf("%w: byte %#x at %d; allowed: A-Z a-z 0-9 . _ - : @", ErrInvalidDeviceID, id[i], i)
		}
	}
	return nil
}

func deviceIDChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == '-' || c == ':' || c == '@'
}

// ErrInvalidMessage reports a message that cannot be encoded: a field empty,
// too long, not UTF-8, or out of range.
var ErrInvalidMessage = errors.New("devproto: invalid message")

// Message is one protocol message. The set is closed: the concrete types are
// *Login, *Resume, *ServerStatus, *Status, *SendIM, *ReceiveIM, *Logout,
// *Ping and *Pong.
type Message interface {
	Type() MsgType
	// appendFields appends the fields after the type byte.
	appendFields(dst []byte) ([]byte, error)
	// secret returns the field that must never share a compression
	// context with anything else; nil for types without one.
	secret() []byte
	// decodeFields fills the message from the bytes after the type byte
	// and the secret section (nil when absent).
	decodeFields(b, secret []byte) error
}

// Request is what a HELLO carries: *Login or *Resume.
type Request interface {
	Message
	// Device returns the device id and the device's clock at sending.
	Device() (id string, timestamp time.Time)
}

// Password is a user's GroupWise password. It formats as "[redacted]".
type Password string

// String hides the password.
func (Password) String() string { return "[redacted]" }

// GoString hides the password from %#v too.
func (Password) GoString() string { return `devproto.Password("[redacted]")` }

// Login asks for a new session.
type Login struct {
	DeviceID      string
	UserID        string
	Password      Password
	ClientVersion string
	// Timestamp is the device clock, int64 Unix nanoseconds on the wire;
	// the gateway refuses one not newer than the device's last accepted
	// hello, which makes a captured HELLO worthless.
	Timestamp time.Time
}

// Resume asks to reattach to a session after a coverage drop.
type Resume struct {
	DeviceID  string
	SessionID string
	Token     ResumeToken
	Timestamp time.Time // as in Login
}

// ServerStatus is the gateway's answer to a hello, and its notice when it
// ends a session (LOGGED_OUT, SIGNED_ON_ELSEWHERE).
type ServerStatus struct {
	Code        status.Code
	SessionID   string      // with ACCEPTED
	ResumeToken ResumeToken // with ACCEPTED only; never on any other status
	Message     string      // text the device may show
	RetryAfter  time.Duration
	// StatusInterval is how often the device should send STATUS; a session
	// silent for much longer may be logged out for inactivity.
	StatusInterval time.Duration
}

// Presence is the device user's availability, as GroupWise Messenger shows it.
type Presence uint8

// Presence values.
const (
	PresenceOnline        Presence = 1
	PresenceBusy          Presence = 2
	PresenceAway          Presence = 3
	PresenceIdle          Presence = 4
	PresenceAppearOffline Presence = 5
)

// Status is the device's periodic status message: presence and an optional
// custom text. It also proves the device is still in coverage.
type Status struct {
	Presence Presence
	Text     string
}

// SendIM sends an instant message to a user.
type SendIM struct {
	To          string
	Text        string
	ClientMsgID uint64 // chosen by the device to match delivery reports
}

// ReceiveIM delivers an instant message to the device.
type ReceiveIM struct {
	From       string
	Text       string
	ServerTime time.Time // int64 Unix nanoseconds on the wire
}

// Logout ends the session at the device's request.
type Logout struct{}

// Ping asks the peer for a Pong with the same ID.
type Ping struct{ ID uint64 }

// Pong answers a Ping.
type Pong struct{ ID uint64 }

// Type implements Message.
func (*Login) Type() MsgType { return TypeLogin }

// Type implements Message.
func (*Resume) Type() MsgType { return TypeResume }

// Type implements Message.
func (*ServerStatus) Type() MsgType { return TypeServerStatus }

// Type implements Message.
func (*Status) Type() MsgType { return TypeStatus }

// Type implements Message.
func (*SendIM) Type() MsgType { return TypeSendIM }

// Type implements Message.
func (*ReceiveIM) Type() MsgType { return TypeReceiveIM }

// Type implements Message.
func (*Logout) Type() MsgType { return TypeLogout }

// Type implements Message.
func (*Ping) Type() MsgType { return TypePing }

// Type implements Message.
func (*Pong) Type() MsgType { return TypePong }

// Device implements Request.
func (m *Login) Device() (string, time.Time) { return m.DeviceID, m.Timestamp }

// Device implements Request.
func (m *Resume) Device() (string, time.Time) { return m.DeviceID, m.Timestamp }

// newMessage returns an empty message of type t, or nil for an unknown type.
func newMessage(t MsgType) Message {
	switch t {
	case TypeLogin:
		return new(Login)
	case TypeServerStatus:
		return new(ServerStatus)
	case TypeStatus:
		return new(Status)
	case TypeSendIM:
		return new(SendIM)
	case TypeReceiveIM:
		return new(ReceiveIM)
	case TypeResume:
		return new(Resume)
	case TypeLogout:
		return new(Logout)
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	}
	return nil
}
