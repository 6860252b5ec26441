package devproto

import "github.com/flynn/noise"

// Test hooks: they let the external tests build frames the encoder refuses
// to build, which is exactly what a hostile or buggy peer sends.

// Prologue is the Noise prologue, for tests that run a raw handshake.
var Prologue = prologue

// CipherSuite is the Noise cipher suite with flynn/noise's own X25519, for
// the same tests: a raw handshake made with it is an independent check of
// the package's faster X25519 (dh.go).
var CipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)

// SealRawForTest seals plain (a payload: flags, secret section, body) as a
// DATA frame from t's role, bypassing every check of the encoder.
func SealRawForTest(t *Transport, plain []byte) []byte {
	frame := append(append(appendFrameHeader(nil, t.role.dataKind()), plain...), make([]byte, TagLen)...)
	if err := finishFrame(frame, 0, MaxFrameSize); err != nil {
		panic(err)
	}
	if _, err := t.send.Seal(frame[FrameHeaderLen:len(frame)-TagLen], frame[:FrameHeaderLen]); err != nil {
		panic(err)
	}
	return frame
}

// EncodePayloadForTest exposes the payload encoder.
func EncodePayloadForTest(m Message) ([]byte, error) { return appendPayload(nil, m) }

// DecodePayloadForTest exposes the payload decoder.
func DecodePayloadForTest(p []byte) (Message, error) { return decodePayload(p) }

// PayloadBodyForTest returns the message body of a payload (type byte and
// fields), decompressed when the payload says it is compressed.
func PayloadBodyForTest(p []byte) ([]byte, error) {
	flags, rest := p[0], p[1:]
	if flags&flagSecret != 0 {
		n := int(rest[0])
		rest = rest[1+n+paddingFor(n):]
	}
	if flags&flagCompressed == 0 {
		return rest, nil
	}
	out, _, err := decompress(nil, nil, rest)
	return out, err
}
