package devproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FrameLength validates a frame's 2-byte length prefix and returns how many
// bytes follow it. A reader blocks on these two bytes while a connection is
// idle, and only then needs a buffer for the rest.
func FrameLength(prefix [2]byte, maxFrame int) (int, error) {
	n := int(binary.BigEndian.Uint16(prefix[:]))
	if n == 0 {
		return 0, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > maxFrame {
		return 0, &FrameSizeError{Size: n, Max: maxFrame}
	}
	return n, nil
}

// ReadFrame reads one frame from r into buf, growing it if needed, and
// returns the whole frame, header included. A clean end of stream before
// the frame starts is io.EOF; one inside it is ErrTruncated. A length over
// maxFrame fails before the body is read, so nothing is buffered for it.
func ReadFrame(r io.Reader, buf []byte, maxFrame int) ([]byte, error) {
	var prefix [2]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
		}
		return nil, err
	}
	n, err := FrameLength(prefix, maxFrame)
	if err != nil {
		return nil, err
	}
	return ReadFrameBody(r, buf, prefix, n)
}

// ReadFrameBody reads the n bytes that follow prefix (as FrameLength
// returned) into buf and returns the whole frame, header included.
func ReadFrameBody(r io.Reader, buf []byte, prefix [2]byte, n int) ([]byte, error) {
	total := len(prefix) + n
	if cap(buf) < total {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	copy(buf, prefix[:])
	if _, err := io.ReadFull(r, buf[len(prefix):]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return buf, nil
}

// parseFrame splits one complete frame into kind and body.
func parseFrame(frame []byte, maxFrame int) (byte, []byte, error) {
	if len(frame) < FrameHeaderLen {
		return 0, nil, fmt.Errorf("%w: %d-byte frame", ErrTruncated, len(frame))
	}
	n, err := FrameLength([2]byte(frame[:2]), maxFrame)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case len(frame)-2 < n:
		return 0, nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, len(frame)-2, n)
	case len(frame)-2 > n:
		return 0, nil, fmt.Errorf("%w: %d bytes after the frame", ErrMalformed, len(frame)-2-n)
	}
	return frame[2], frame[FrameHeaderLen:], nil
}

// appendFrameHeader appends a header whose length is filled in by
// finishFrame once the body is known.
func appendFrameHeader(dst []byte, kind byte) []byte { return append(dst, 0, 0, kind) }

// finishFrame sets the length of the frame that starts at dst[start:].
func finishFrame(dst []byte, start, maxFrame int) error {
	n := len(dst) - start - 2
	if n > maxFrame {
		return &FrameSizeError{Size: n, Max: maxFrame}
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(n))
	return nil
}

// RejectFrame is the cleartext answer to a HELLO the gateway cannot read:
// err is what ReadHello returned. It is unauthenticated by nature (the
// gateway could not establish a key), so a device treats it as a hint.
func RejectFrame(err error) []byte {
	reason := rejectHandshake
	if errors.Is(err, ErrUnsupportedVersion) {
		reason = rejectVersion
	}
	return []byte{0, 3, KindReject, Version, reason}
}

// parseReject turns a REJECT body into the error it reports.
func parseReject(body []byte) error {
	if len(body) != 2 {
		return fmt.Errorf("%w: reject of %d bytes", ErrMalformed, len(body))
	}
	switch body[1] {
	case rejectVersion:
		return &VersionError{Got: body[0], Want: Version}
	case rejectHandshake:
		return ErrHandshakeRejected
	}
	return fmt.Errorf("%w: unknown reject reason %d", ErrMalformed, body[1])
}
