// Package devconntest is a hostile device for tests of the gateway side:
// RawDevice logs in like a real one, then sends what the real client
// refuses to build — unknown message types, messages a device may not
// send, garbage in place of a tag, frames over the limit, stalls mid-frame.
//
// It is written from docs/device-protocol.md with flynn/noise and zstd
// directly, not with devproto's encoder (which enforces the rules the
// tests want to break), so it is also a second implementation of the
// handshake and payload layout. Test code only: nothing in production
// imports it.
package devconntest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/flynn/noise"
	"github.com/klauspost/compress/zstd"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// Message types on the wire (docs/device-protocol.md, "Messages").
const (
	TypeLogin        byte = 1
	TypeServerStatus byte = 2
	TypeStatus       byte = 3
	TypeSendIM       byte = 4
	TypeReceiveIM    byte = 5
	TypeLogout       byte = 7
	TypePing         byte = 8
)

// prologue is the Noise prologue: the protocol name, a NUL, the version.
const prologue = "collabgw device protocol\x00\x01"

// Payload flags.
const (
	flagCompressed = 1 << 0
	flagSecret     = 1 << 1
)

// RawDevice is a logged-in device link that sends whatever it is told.
type RawDevice struct {
	conn net.Conn
	// Status is the SERVER_STATUS code of the WELCOME.
	Status status.Code

	mu   sync.Mutex // guards send and writes to conn
	send *noise.CipherState
	recv *noise.CipherState // used by Receive only
}

// Login dials addr and logs in as deviceID/userID with the device's key,
// to the gateway whose key is gateway. A refusal is not an error: Status
// says what the gateway answered (ACCEPTED leaves the link open).
func Login(ctx context.Context, addr string, device devproto.PrivateKey, gateway devproto.PublicKey, deviceID, userID, password string) (*RawDevice, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rd, err := login(ctx, conn, device, gateway, deviceID, userID, password)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return rd, nil
}

func login(ctx context.Context, conn net.Conn, device devproto.PrivateKey, gateway devproto.PublicKey, deviceID, userID, password string) (*RawDevice, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	pub, err := device.Public()
	if err != nil {
		return nil, err
	}
	suite := noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: suite, Pattern: noise.HandshakeIK, Initiator: true, Prologue: []byte(prologue),
		StaticKeypair: noise.DHKey{Private: device[:], Public: pub[:]}, PeerStatic: gateway[:],
	})
	if err != nil {
		return nil, err
	}
	hello := []byte{0, 0, devproto.KindHello, devproto.Version}
	hello, _, _, err = hs.WriteMessage(hello, LoginPayload(deviceID, userID, password, time.Now()))
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(hello, uint16(len(hello)-2))
	if _, err := conn.Write(hello); err != nil {
		return nil, err
	}
	kind, body, err := readFrame(conn)
	if err != nil {
		return nil, fmt.Errorf("devconntest: welcome: %w", err)
	}
	if kind != devproto.KindWelcome || len(body) < 1 || body[0] != devproto.Version {
		return nil, fmt.Errorf("devconntest: answer of kind %#x, %d bytes", kind, len(body))
	}
	payload, cs1, cs2, err := hs.ReadMessage(nil, body[1:])
	if err != nil {
		return nil, fmt.Errorf("devconntest: welcome: %w", err)
	}
	code, err := StatusCode(payload)
	if err != nil {
		return nil, fmt.Errorf("devconntest: welcome: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	// cs1 carries device-to-gateway traffic, cs2 the reverse.
	return &RawDevice{conn: conn, Status: code, send: cs1, recv: cs2}, nil
}

// Conn is the device's TCP connection, for writing bytes outside any frame.
func (d *RawDevice) Conn() net.Conn { return d.conn }

// Close closes the connection.
func (d *RawDevice) Close() error { return d.conn.Close() }

// SendPayload seals plain (flags, secret section, body) as one DEVICE_DATA
// frame and writes it.
func (d *RawDevice) SendPayload(plain []byte) error {
	frame, err := d.Seal(plain)
	if err != nil {
		return err
	}
	return d.Write(frame)
}

// Seal seals plain as the next DEVICE_DATA frame without writing it (the
// nonce is used up: the frame must be written before any other).
func (d *RawDevice) Seal(plain []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(plain) + devproto.TagLen + 1
	if n > 0xffff {
		return nil, fmt.Errorf("devconntest: %d-byte frame", n)
	}
	hdr := []byte{byte(n >> 8), byte(n), devproto.KindDeviceData}
	return d.send.Encrypt(hdr, hdr, plain)
}

// Write writes b to the connection as it is.
func (d *RawDevice) Write(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.conn.Write(b)
	return err
}

// ErrNoStatus reports a link the gateway closed without a SERVER_STATUS.
var ErrNoStatus = errors.New("devconntest: link closed without a SERVER_STATUS")

// ReceiveStatus reads gateway frames until a SERVER_STATUS and returns its
// code; ErrNoStatus (with the read error) if the link ends first.
func (d *RawDevice) ReceiveStatus(ctx context.Context) (status.Code, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := d.conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
	}
	for {
		kind, body, err := readFrame(d.conn)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrNoStatus, err)
		}
		if kind != devproto.KindGatewayData {
			return 0, fmt.Errorf("devconntest: frame of kind %#x from the gateway", kind)
		}
		hdr := []byte{byte((len(body) + 1) >> 8), byte(len(body) + 1), kind}
		plain, err := d.recv.Decrypt(nil, hdr, body)
		if err != nil {
			return 0, fmt.Errorf("devconntest: gateway frame: %w", err)
		}
		if body, err := payloadBody(plain); err == nil && len(body) > 0 && body[0] != TypeServerStatus {
			continue
		}
		return StatusCode(plain)
	}
}

// readFrame reads one frame: its kind and body.
func readFrame(r io.Reader) (byte, []byte, error) {
	var prefix [2]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(prefix[:]))
	if n == 0 {
		return 0, nil, errors.New("devconntest: empty frame")
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// Payload is a stored payload (no compression, no secret) of msgType with
// fields already encoded.
func Payload(msgType byte, fields ...[]byte) []byte {
	p := []byte{0, msgType}
	for _, f := range fields {
		p = append(p, f...)
	}
	return p
}

// Str encodes a str field: uvarint length, bytes.
func Str(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }

// Uvarint encodes a uvarint field.
func Uvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// LoginPayload is a LOGIN payload: the password in the padded secret
// section, the body stored.
func LoginPayload(deviceID, userID, password string, ts time.Time) []byte {
	p := []byte{flagSecret, byte(len(password))}
	p = append(p, password...)
	p = append(p, make([]byte, (16-len(password)%16)%16)...)
	p = append(p, TypeLogin)
	p = append(p, Str(deviceID)...)
	p = append(p, Str(userID)...)
	p = append(p, Str("devconntest/1")...)
	return binary.BigEndian.AppendUint64(p, uint64(ts.UnixNano()))
}

// StatusCode decodes the code of a SERVER_STATUS payload.
func StatusCode(plain []byte) (status.Code, error) {
	body, err := payloadBody(plain)
	if err != nil {
		return 0, err
	}
	if len(body) < 2 || body[0] != TypeServerStatus {
		return 0, fmt.Errorf("devconntest: not a SERVER_STATUS: % x", body)
	}
	code, n := binary.Uvarint(body[1:])
	if n <= 0 {
		return 0, errors.New("devconntest: bad status code")
	}
	return status.Code(code), nil
}

// payloadBody skips the flags and secret section and decompresses the body.
func payloadBody(plain []byte) ([]byte, error) {
	if len(plain) < 2 {
		return nil, errors.New("devconntest: short payload")
	}
	flags, rest := plain[0], plain[1:]
	if flags&flagSecret != 0 {
		n := int(rest[0])
		skip := 1 + n + (16-n%16)%16
		if len(rest) < skip {
			return nil, errors.New("devconntest: short secret section")
		}
		rest = rest[skip:]
	}
	if flags&flagCompressed == 0 {
		return rest, nil
	}
	dec, err := decoder()
	if err != nil {
		return nil, err
	}
	// The magic number is stripped on the wire.
	return dec.DecodeAll(append([]byte{0x28, 0xb5, 0x2f, 0xfd}, rest...), nil)
}

// decoder is zstd with the protocol's raw-content dictionary (id 0), read
// from the source tree as a device implementer would take it.
var decoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	_, file, _, _ := runtime.Caller(0)
	dict, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "devproto", "dictionary.bin"))
	if err != nil {
		return nil, fmt.Errorf("devconntest: dictionary: %w", err)
	}
	if len(dict) == 0 || bytes.Equal(dict[:4], []byte{0x37, 0xa4, 0x30, 0xec}) {
		return nil, errors.New("devconntest: expected a raw-content dictionary")
	}
	return zstd.NewReader(nil, zstd.WithDecoderDictRaw(0, dict))
})
