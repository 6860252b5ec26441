package gwclient

import (
	"errors"
	"fmt"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// Sentinel errors. Result codes from the server arrive as *ResultError, whose
// Unwrap yields one of the first four when the code belongs to that class.
var (
	ErrBadCredentials    = errors.New("gwclient: bad user id or password")         // 53516, 53574, 53577
	ErrAccountLocked     = errors.New("gwclient: account locked or disabled")      // 53510, 53532, 53520
	ErrUserNotFound      = errors.New("gwclient: user not found")                  // 53517
	ErrServerBusy        = errors.New("gwclient: server busy")                     // 53539
	ErrClosed            = errors.New("gwclient: client closed")                   // Close was called
	ErrConnectionLost    = errors.New("gwclient: connection lost")                 // read, write or keepalive failed
	ErrSignedOnElsewhere = errors.New("gwclient: signed on from another location") // event 114: do not reconnect
	ErrServerDisconnect  = errors.New("gwclient: server disconnected")             // event 115
	ErrProtocol          = errors.New("gwclient: protocol error")                  // the server sent something unusable
	ErrNotLoggedIn       = errors.New("gwclient: not logged in")
	ErrAlreadyLoggedIn   = errors.New("gwclient: already logged in")
	ErrPinMismatch       = errors.New("gwclient: server certificate does not match the pin")
	ErrBadOption         = errors.New("gwclient: invalid option")
)

// ResultError is a request the server answered with a non-zero result code.
type ResultError struct {
	Command string
	Code    gwproto.ResultCode
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("gwclient: %s: %s", e.Command, e.Code)
}

// Unwrap returns the sentinel of the code's class, or nil.
func (e *ResultError) Unwrap() error {
	switch {
	case e.Code.IsBadCredentials():
		return ErrBadCredentials
	case e.Code.IsLocked():
		return ErrAccountLocked
	case e.Code == gwproto.ResultUserNotFound:
		return ErrUserNotFound
	case e.Code == gwproto.ResultServerBusy:
		return ErrServerBusy
	}
	return nil
}
