package devproto

import (
	"fmt"
	"sync"
)

// Payload flags: the first plaintext byte of every encrypted payload.
const (
	flagCompressed byte = 1 << 0 // the body is zstd (magic stripped) with the dictionary
	flagSecret     byte = 1 << 1 // a secret section precedes the body
	flagsKnown          = flagCompressed | flagSecret
)

// secretPad rounds the secret section so its length reveals a password's
// length only to within 16 bytes.
const secretPad = 16

var zeroPad [secretPad]byte

// A secret (password, resume token) is never compressed: compressing it
// with the dictionary or with the user id would make the ciphertext length
// depend on what the password looks like, which a passive observer can
// measure. So it sits in its own stored section, padded, and only the
// non-secret fields go through zstd.
func appendPayload(dst []byte, m Message) ([]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	body, err := m.appendFields(append((*bp)[:0], byte(m.Type())))
	*bp = body
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, 0)
	var flags byte
	if sec := m.secret(); sec != nil {
		// appendFields validated the secret's length.
		flags |= flagSecret
		dst = append(dst, byte(len(sec)))
		dst = append(dst, sec...)
		dst = append(dst, zeroPad[:paddingFor(len(sec))]...)
	}
	dst, compressed, err := appendBody(dst, body)
	if err != nil {
		return dst[:start], err
	}
	if compressed {
		flags |= flagCompressed
	}
	dst[start] = flags
	return dst, nil
}

func paddingFor(n int) int { return (secretPad - n%secretPad) % secretPad }

// decodePayload decodes a decrypted payload. The returned message does not
// alias p.
func decodePayload(p []byte) (Message, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	flags := p[0]
	p = p[1:]
	if flags&^flagsKnown != 0 {
		return nil, fmt.Errorf("%w: unknown payload flags %#x", ErrMalformed, flags)
	}
	var secret []byte
	if flags&flagSecret != 0 {
		if len(p) == 0 || p[0] == 0 {
			return nil, fmt.Errorf("%w: empty secret section", ErrMalformed)
		}
		n := int(p[0])
		end := 1 + n + paddingFor(n)
		if len(p) < end {
			return nil, fmt.Errorf("%w: short secret section", ErrMalformed)
		}
		secret = p[1 : 1+n]
		for _, b := range p[1+n : end] {
			if b != 0 {
				return nil, fmt.Errorf("%w: nonzero secret padding", ErrMalformed)
			}
		}
		p = p[end:]
	}
	if flags&flagCompressed == 0 {
		return decodeBody(p, secret)
	}
	out, scratch := getBuf(), getBuf()
	defer putBuf(out)
	defer putBuf(scratch)
	var err error
	*out, *scratch, err = decompress((*out)[:0], (*scratch)[:0], p)
	if err != nil {
		return nil, err
	}
	return decodeBody(*out, secret)
}

// decodeBody decodes type byte and fields.
func decodeBody(body, secret []byte) (Message, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	t := MsgType(body[0])
	m := newMessage(t)
	if m == nil {
		return nil, &FieldError{Type: t, Field: "type", Err: ErrUnknownMessageType}
	}
	if secret != nil && t != TypeLogin && t != TypeResume && t != TypeServerStatus {
		return nil, &FieldError{Type: t, Field: "secret", Err: ErrMalformed}
	}
	if err := m.decodeFields(body[1:], secret); err != nil {
		return nil, err
	}
	return m, nil
}

// bufPool holds scratch buffers for one encode or decode at a time, so an
// idle connection holds none.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// maxPooledBuf keeps the pool from hoarding a buffer grown for one
// unusually large frame.
const maxPooledBuf = 2 * MaxFrameSize

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
