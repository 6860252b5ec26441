package gwproto

import (
	"errors"
	"fmt"
	"strconv"
)

// Limits shared by the encoder and the decoders. Real clients enforce the
// first three; the rest bound what a hostile peer can make us allocate.
const (
	MaxTagLen        = 64      // tag bytes on the wire, trailing NUL included
	MaxStringLen     = 32767   // string bytes on the wire, trailing NUL included
	MaxEventMessage  = 100_000 // message text of events 108, 117, 121
	MaxGUIDLen       = 1000    // conference GUID in events
	MaxStatusTextLen = 10_000  // status text of event 103
	// MaxSourceLen bounds an event's source DN. Pidgin allows 1 MB; a DN is
	// a few hundred bytes at most, so anything near that is an attack.
	MaxSourceLen = 4096
	MaxDepth     = 16      // nesting of arrays
	MaxFields    = 16_384  // fields in one message, nested ones included
	MaxResponse  = 1 << 20 // bytes of one response body
	MaxRequest   = 1 << 17 // bytes of one request, headers included
)

// Errors of the encoder and decoders. Decoding errors wrap ErrMalformed.
var (
	ErrMalformed  = errors.New("gwproto: malformed message")
	ErrTooLarge   = fmt.Errorf("%w: limit exceeded", ErrMalformed)
	ErrBadCommand = errors.New("gwproto: invalid command name")
	ErrBadTag     = errors.New("gwproto: invalid tag")
	ErrBadField   = errors.New("gwproto: field cannot be encoded")
)

// Request is one client command. TransactionID is written as the last
// top-level field, as every real client does.
type Request struct {
	Command       string // "login", "setstatus", ...
	Host          string // "host:port" for the login Host header, else empty
	TransactionID string // decimal counter per connection, login is "1"
	Fields        Fields // without the transaction id
}

// AppendRequest appends the wire form of req to dst.
func AppendRequest(dst []byte, req Request) ([]byte, error) {
	if !validCommand(req.Command) {
		return dst, fmt.Errorf("%w: %q", ErrBadCommand, req.Command)
	}
	for i := 0; i < len(req.Host); i++ {
		if c := req.Host[i]; c == '\r' || c == '\n' || c == 0 {
			return dst, fmt.Errorf("%w: host holds a control character", ErrBadField)
		}
	}
	dst = append(dst, "POST /"...)
	dst = append(dst, req.Command...)
	dst = append(dst, " HTTP/1.0\r\n"...)
	if req.Host != "" {
		dst = append(dst, "Host: "...)
		dst = append(dst, req.Host...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	var err error
	dst, err = appendRequestFields(dst, req.Fields, 0)
	if err != nil {
		return dst, err
	}
	dst, err = appendRequestFields(dst, Fields{String(TagTransactionID, req.TransactionID)}, 0)
	if err != nil {
		return dst, err
	}
	return append(dst, "\r\n"...), nil
}

func appendRequestFields(dst []byte, fs Fields, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return dst, fmt.Errorf("%w: nested deeper than %d", ErrBadField, MaxDepth)
	}
	for _, f := range fs {
		if f.Method == MethodIgnore || f.Type == TypeBinary {
			continue // real clients never send these
		}
		if err := checkTag(f.Tag); err != nil {
			return dst, err
		}
		code, ok := methodCodes[f.Method]
		if !ok {
			return dst, fmt.Errorf("%w: method %d", ErrBadField, f.Method)
		}
		dst = append(dst, "&tag="...)
		dst = append(dst, f.Tag...)
		dst = append(dst, "&cmd="...)
		dst = append(dst, code)
		dst = append(dst, "&val="...)
		switch {
		case f.Type.IsString():
			if len(f.Str) >= MaxStringLen {
				return dst, fmt.Errorf("%w: %s is %d bytes", ErrBadField, f.Tag, len(f.Str))
			}
			dst = appendEscaped(dst, f.Str)
		case f.Type.IsContainer():
			dst = strconv.AppendUint(dst, uint64(len(f.Fields)), 10)
		case f.Type == TypeInvalid || f.Type > TypeDN:
			return dst, fmt.Errorf("%w: type %d", ErrBadField, f.Type)
		default:
			dst = strconv.AppendUint(dst, uint64(f.Value), 10)
		}
		dst = append(dst, "&type="...)
		dst = strconv.AppendUint(dst, uint64(f.Type), 10)
		if f.Type.IsContainer() {
			var err error
			if dst, err = appendRequestFields(dst, f.Fields, depth+1); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

func validCommand(cmd string) bool {
	if cmd == "" || len(cmd) > 64 {
		return false
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkTag refuses tags that a peer could not read back: tags are not
// escaped in requests, and binary tags carry a NUL within MaxTagLen.
func checkTag(tag string) error {
	if tag == "" || len(tag) >= MaxTagLen {
		return fmt.Errorf("%w: %q", ErrBadTag, tag)
	}
	for i := 0; i < len(tag); i++ {
		switch tag[i] {
		case '&', '=', '\r', '\n', 0:
			return fmt.Errorf("%w: %q", ErrBadTag, tag)
		}
	}
	return nil
}
