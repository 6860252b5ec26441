package gwproto

import (
	"encoding/binary"
	"fmt"
)

// responseHead is what a server writes before the binary fields. Always 200:
// Pidgin mishandles 301 and Kopete gives up on other statuses, so errors go
// in the result-code field.
const responseHead = "HTTP/1.0 200\r\n\r\n"

// AppendResponse appends a complete response: status line, empty line,
// binary fields and the terminating zero byte. Callers write it in one
// write: Pidgin tolerates only about a second of stall inside a message.
func AppendResponse(dst []byte, fs Fields) ([]byte, error) {
	dst = append(dst, responseHead...)
	dst, err := appendBinaryFields(dst, fs, 0)
	if err != nil {
		return dst, err
	}
	return append(dst, 0), nil
}

func appendBinaryFields(dst []byte, fs Fields, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return dst, fmt.Errorf("%w: nested deeper than %d", ErrBadField, MaxDepth)
	}
	for _, f := range fs {
		if err := checkTag(f.Tag); err != nil {
			return dst, err
		}
		if f.Type == TypeInvalid || f.Type > TypeDN {
			return dst, fmt.Errorf("%w: type %d", ErrBadField, f.Type)
		}
		dst = append(dst, byte(f.Type), byte(f.Method))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Tag)+1))
		dst = append(dst, f.Tag...)
		dst = append(dst, 0)
		switch {
		case f.Type.IsContainer():
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.Fields)))
			var err error
			if dst, err = appendBinaryFields(dst, f.Fields, depth+1); err != nil {
				return dst, err
			}
		case f.Type.IsString():
			if len(f.Str)+1 > MaxStringLen {
				return dst, fmt.Errorf("%w: %s is %d bytes", ErrBadField, f.Tag, len(f.Str))
			}
			dst = appendCString(dst, f.Str)
		default:
			dst = binary.LittleEndian.AppendUint32(dst, f.Value)
		}
	}
	return dst, nil
}

// appendCString appends u32le length (NUL included), the bytes and a NUL.
func appendCString(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)+1))
	dst = append(dst, s...)
	return append(dst, 0)
}

// AppendEvent appends the wire form of ev. An event whose source is empty is
// refused: Pidgin silently drops such events.
func AppendEvent(dst []byte, ev Event) ([]byte, error) {
	p, ok := eventPayloads[ev.Type]
	if !ok {
		return dst, fmt.Errorf("%w: event type %d", ErrBadField, ev.Type)
	}
	if ev.Source == "" || len(ev.Source)+1 > MaxSourceLen {
		return dst, fmt.Errorf("%w: event source of %d bytes", ErrBadField, len(ev.Source))
	}
	if len(ev.GUID)+1 > MaxGUIDLen {
		return dst, fmt.Errorf("%w: GUID of %d bytes", ErrBadField, len(ev.GUID))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(ev.Type))
	dst = appendCString(dst, ev.Source)
	switch p {
	case payloadGUID:
		dst = appendCString(dst, ev.GUID)
	case payloadGUIDFlags:
		dst = appendCString(dst, ev.GUID)
		dst = binary.LittleEndian.AppendUint32(dst, ev.Flags)
	case payloadGUIDFlagsMessage, payloadGUIDMessage:
		if len(ev.Text)+1 > MaxEventMessage {
			return dst, fmt.Errorf("%w: message of %d bytes", ErrBadField, len(ev.Text))
		}
		dst = appendCString(dst, ev.GUID)
		if p == payloadGUIDFlagsMessage {
			dst = binary.LittleEndian.AppendUint32(dst, ev.Flags)
		}
		dst = appendCString(dst, ev.Text)
	case payloadStatus:
		if len(ev.Text)+1 > MaxStatusTextLen {
			return dst, fmt.Errorf("%w: status text of %d bytes", ErrBadField, len(ev.Text))
		}
		dst = binary.LittleEndian.AppendUint16(dst, uint16(ev.Status))
		dst = appendCString(dst, ev.Text)
	case payloadNone:
	}
	return dst, nil
}
