package devproto

import (
	"bytes"
	"testing"
)

// FuzzPayload feeds decrypted payloads (flags, secret section, zstd or raw
// body) to the decoder. Whatever decodes must re-encode to a payload that
// decodes to the same message.
func FuzzPayload(f *testing.F) {
	for _, tt := range messageCases {
		p, err := appendPayload(nil, tt.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add([]byte{flagCompressed, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{flagSecret, 20, 'x'})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := decodePayload(p)
		if err != nil {
			return
		}
		assertReencodes(t, m)
	})
}

// FuzzMessage drives each message type's field decoder directly: the type
// is its own argument so that every decoder gets an even share.
func FuzzMessage(f *testing.F) {
	for _, tt := range messageCases {
		body, err := tt.msg.appendFields(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(tt.msg.Type()), body, tt.msg.secret())
	}
	f.Fuzz(func(t *testing.T, typ byte, fields, secret []byte) {
		if len(secret) == 0 {
			secret = nil // the payload layer never hands over an empty secret
		}
		m, err := decodeBody(append([]byte{typ}, fields...), secret)
		if err != nil {
			return
		}
		assertReencodes(t, m)
	})
}

func assertReencodes(t *testing.T, m Message) {
	t.Helper()
	p, err := appendPayload(nil, m)
	if err != nil {
		t.Fatalf("decoded %#v does not re-encode: %v", m, err)
	}
	again, err := decodePayload(p)
	if err != nil {
		t.Fatalf("re-encoded %#v does not decode: %v", m, err)
	}
	p2, err := appendPayload(nil, again)
	if err != nil || !bytes.Equal(p, p2) {
		t.Fatalf("%#v changed on a round trip", m)
	}
}
