package gwproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Reader is what the decoders read from; a *bufio.Reader is one.
type Reader interface {
	io.Reader
	io.ByteReader
}

// ErrUnknownEvent reports an event type whose payload cannot be parsed, so the
// stream cannot continue.
var ErrUnknownEvent = fmt.Errorf("%w: unknown event type", ErrMalformed)

// PrefixLen is the number of bytes that tell a response from an event.
const PrefixLen = 4

// IsResponse reports whether the first PrefixLen bytes of a server message
// start a response; otherwise they are a little-endian event type.
func IsResponse(prefix [PrefixLen]byte) bool { return string(prefix[:]) == "HTTP" }

// Response is a server's answer to one request.
type Response struct {
	Status int // from the status line; servers always send 200
	Fields Fields
}

// TransactionID returns the id that links the response to its request.
func (r Response) TransactionID() string {
	s, _ := r.Fields.Str(TagTransactionID)
	return s
}

// Result returns the result code; a missing or non-numeric one is malformed,
// as real clients treat it.
func (r Response) Result() (ResultCode, error) {
	s, ok := r.Fields.Str(TagResultCode)
	if !ok {
		return 0, fmt.Errorf("%w: no %s", ErrMalformed, TagResultCode)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: result code %.12q", ErrMalformed, s)
	}
	return ResultCode(n), nil
}

// Message is one server message: a response or an event.
type Message struct {
	IsEvent  bool
	Response Response
	Event    Event
}

// ReadMessage reads one complete server message.
func ReadMessage(r Reader) (Message, error) {
	var prefix [PrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return Message{}, err
	}
	if IsResponse(prefix) {
		resp, err := ReadResponse(r)
		return Message{Response: resp}, err
	}
	ev, err := ReadEvent(r, EventType(binary.LittleEndian.Uint32(prefix[:])))
	return Message{IsEvent: true, Event: ev}, err
}

// decoder charges every byte it reads and every field it makes to budgets,
// and checks each length before allocating for it.
type decoder struct {
	r       Reader
	budget  int
	nfields int
	buf     [4]byte
	scratch []byte
}

func (d *decoder) charge(n int) error {
	d.budget -= n
	if d.budget < 0 {
		return ErrTooLarge
	}
	return nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.charge(4); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(d.r, d.buf[:4]); err != nil {
		return 0, noEOF(err)
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) byte() (byte, error) {
	if err := d.charge(1); err != nil {
		return 0, err
	}
	c, err := d.r.ReadByte()
	return c, noEOF(err)
}

// cstring reads a length-prefixed string of at most limit bytes on the wire
// and returns it up to its first NUL, as C clients read it.
func (d *decoder) cstring(limit int) (string, error) {
	s, _, err := d.lenString(limit)
	return s, err
}

// lenString is cstring that also returns the length read from the wire.
func (d *decoder) lenString(limit int) (string, uint32, error) {
	n, err := d.u32()
	if err != nil {
		return "", 0, err
	}
	if n > uint32(limit) {
		return "", 0, fmt.Errorf("%w: string of %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	if err := d.charge(int(n)); err != nil {
		return "", 0, err
	}
	// One scratch buffer per message: only the final string is allocated.
	if cap(d.scratch) < int(n) {
		d.scratch = make([]byte, max(int(n), 256))
	}
	b := d.scratch[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", 0, noEOF(err)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), n, nil
}

// ReadResponse reads a response whose "HTTP" prefix has been consumed.
func ReadResponse(r Reader) (Response, error) {
	d := &decoder{r: r, budget: MaxResponse}
	status, err := d.statusLine()
	if err != nil {
		return Response{}, err
	}
	fields, err := d.fields(-1, 0)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: status, Fields: fields}, nil
}

// statusLine reads the rest of the status line and skips headers up to the
// empty line, as Pidgin does; the status is the number after the first space.
func (d *decoder) statusLine() (int, error) {
	budget := maxRequestLine * maxHeaderLines
	first, err := readLine(d.r, &budget, maxRequestLine)
	if err != nil {
		return 0, noEOF(err)
	}
	for n := 0; ; n++ {
		if n >= maxHeaderLines {
			return 0, fmt.Errorf("%w: more than %d header lines", ErrMalformed, maxHeaderLines)
		}
		h, err := readLine(d.r, &budget, maxRequestLine)
		if err != nil {
			return 0, noEOF(err)
		}
		if h == "" {
			break
		}
	}
	if err := d.charge(maxRequestLine*maxHeaderLines - budget); err != nil {
		return 0, err
	}
	_, rest, ok := strings.Cut(first, " ")
	if !ok {
		return 0, fmt.Errorf("%w: status line %.40q", ErrMalformed, first)
	}
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if err != nil || status < 100 || status > 999 {
		return 0, fmt.Errorf("%w: status line %.40q", ErrMalformed, first)
	}
	return status, nil
}

// fields reads count fields, or up to the zero type byte when count < 0.
func (d *decoder) fields(count int, depth int) (Fields, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	var out Fields
	if count > 0 {
		out = make(Fields, 0, min(count, 64))
	}
	for i := 0; count < 0 || i < count; i++ {
		t, err := d.byte()
		if err != nil {
			return nil, err
		}
		if t == 0 {
			if count < 0 {
				return out, nil
			}
			return nil, fmt.Errorf("%w: array ends after %d of %d fields", ErrMalformed, i, count)
		}
		if d.nfields++; d.nfields > MaxFields {
			return nil, ErrTooLarge
		}
		f, keep, err := d.field(Type(t), depth)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, f)
		}
	}
	return out, nil
}

func (d *decoder) field(t Type, depth int) (Field, bool, error) {
	if t > TypeDN {
		return Field{}, false, fmt.Errorf("%w: field type %d", ErrMalformed, t)
	}
	m, err := d.byte()
	if err != nil {
		return Field{}, false, err
	}
	tag, err := d.cstring(MaxTagLen)
	if err != nil {
		return Field{}, false, err
	}
	f := Field{Tag: tag, Method: Method(m), Type: t}
	switch {
	case t.IsContainer():
		n, err := d.u32()
		if err != nil {
			return Field{}, false, err
		}
		// Each field costs at least 7 bytes: refuse counts the budget cannot hold.
		if n > uint32(MaxFields-d.nfields) || int(n) > d.budget/7 {
			return Field{}, false, fmt.Errorf("%w: %s claims %d fields", ErrTooLarge, tag, n)
		}
		if f.Fields, err = d.fields(int(n), depth+1); err != nil {
			return Field{}, false, err
		}
	case t.IsString():
		var n uint32
		if f.Str, n, err = d.lenString(MaxStringLen); err != nil {
			return Field{}, false, err
		}
		// Pidgin drops zero-length strings; an empty C string is kept.
		return f, n != 0, nil
	default:
		if f.Value, err = d.u32(); err != nil {
			return Field{}, false, err
		}
	}
	return f, true, nil
}

// ReadEvent reads the body of an event whose type has been consumed.
func ReadEvent(r Reader, t EventType) (Event, error) {
	p, ok := eventPayloads[t]
	if !ok {
		return Event{}, fmt.Errorf("%w %d", ErrUnknownEvent, t)
	}
	d := &decoder{r: r, budget: MaxSourceLen + MaxGUIDLen + MaxEventMessage + 64}
	ev := Event{Type: t}
	var err error
	if ev.Source, err = d.cstring(MaxSourceLen); err != nil {
		return Event{}, err
	}
	switch p {
	case payloadGUID:
		ev.GUID, err = d.cstring(MaxGUIDLen)
	case payloadGUIDFlags:
		if ev.GUID, err = d.cstring(MaxGUIDLen); err == nil {
			ev.Flags, err = d.u32()
		}
	case payloadGUIDFlagsMessage:
		if ev.GUID, err = d.cstring(MaxGUIDLen); err == nil {
			if ev.Flags, err = d.u32(); err == nil {
				ev.Text, err = d.cstring(MaxEventMessage)
			}
		}
	case payloadGUIDMessage:
		if ev.GUID, err = d.cstring(MaxGUIDLen); err == nil {
			ev.Text, err = d.cstring(MaxEventMessage)
		}
	case payloadStatus:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err == nil {
			ev.Status = Status(binary.LittleEndian.Uint16(b[:]))
			ev.Text, err = d.cstring(MaxStatusTextLen)
		}
	case payloadNone:
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Event{}, err
	}
	return ev, nil
}
