// Package status owns the stable numeric codes of every answer a device can
// receive from the gateway (the table in the README and
// docs/device-protocol.md). The numbers travel on the wire and in
// Lambda payloads, so a code, once given, is never reused or renumbered.
package status

import "fmt"

// Code is a login or session status sent to a device.
type Code uint16

// The statuses a device can receive. Zero is deliberately not a status, so that a
// missing field is never read as success.
const (
	Accepted             Code = 1  // login admitted; carries session id and resume token
	ServerBusy           Code = 2  // the pool's maximum is reached and no session could be evicted
	Failed300            Code = 3  // no maximum set and the GroupWise protocol limit is reached
	NotPermitted         Code = 4  // the user may not use the collaboration client
	BadCredentials       Code = 5  // GroupWise refused the user id or password
	AccountLocked        Code = 6  // GroupWise reports the account locked or disabled
	GroupWiseUnavailable Code = 7  // the GroupWise server could not be reached or failed
	DeviceRevoked        Code = 8  // the device is unknown, revoked, or its key does not match
	RateLimited          Code = 9  // too many logins from this device or address
	LoggedOut            Code = 10 // the session was ended by the idle or inactivity timeout
	SignedOnElsewhere    Code = 11 // a newer login of the same device or user replaced this one
	ProtocolError        Code = 12 // the device sent something the gateway cannot accept
)

type info struct {
	name string
	text string
}

var infos = map[Code]info{
	Accepted:             {"ACCEPTED", "Accepted"},
	ServerBusy:           {"SERVER_BUSY", "Server Busy"},
	Failed300:            {"FAILED_300", "Failed (300)"},
	NotPermitted:         {"NOT_PERMITTED", "Not permitted to use the collaboration client"},
	BadCredentials:       {"BAD_CREDENTIALS", "Invalid user ID or password"},
	AccountLocked:        {"ACCOUNT_LOCKED", "Account locked or disabled"},
	GroupWiseUnavailable: {"GROUPWISE_UNAVAILABLE", "GroupWise Messenger is unavailable"},
	DeviceRevoked:        {"DEVICE_REVOKED", "Device not registered or revoked"},
	RateLimited:          {"RATE_LIMITED", "Too many login attempts; try again later"},
	LoggedOut:            {"LOGGED_OUT", "Logged out after inactivity"},
	SignedOnElsewhere:    {"SIGNED_ON_ELSEWHERE", "Signed on from another location"},
	ProtocolError:        {"PROTOCOL_ERROR", "Protocol error"},
}

// All returns every defined code in numeric order.
func All() []Code {
	codes := make([]Code, 0, len(infos))
	for c := Accepted; c <= ProtocolError; c++ {
		codes = append(codes, c)
	}
	return codes
}

// Valid reports whether c is a defined status.
func (c Code) Valid() bool {
	_, ok := infos[c]
	return ok
}

// String returns the status name, such as "SERVER_BUSY".
func (c Code) String() string {
	if i, ok := infos[c]; ok {
		return i.name
	}
	return fmt.Sprintf("STATUS_%d", uint16(c))
}

// Text returns the short human text a device shows, such as "Failed (300)".
func (c Code) Text() string {
	if i, ok := infos[c]; ok {
		return i.text
	}
	return "Unknown status"
}

// Parse returns the code named name (as String prints it).
func Parse(name string) (Code, error) {
	for c, i := range infos {
		if i.name == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("status: unknown status name %q", name)
}

// MarshalText encodes the code as its name, so JSON payloads stay readable.
func (c Code) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("status: cannot encode undefined status %d", uint16(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes a status name.
func (c *Code) UnmarshalText(b []byte) error {
	parsed, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}
