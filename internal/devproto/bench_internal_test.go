package devproto

import (
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Wire sizes, frame header and AEAD tag included. A HELLO adds to its
// payload the clear version byte and Noise IK's 32-byte ephemeral key,
// 48-byte encrypted static key and 16-byte tag; a DATA frame adds the
// 16-byte tag.
const (
	helloOverhead = FrameHeaderLen + 1 + 32 + 48 + TagLen
	dataOverhead  = FrameHeaderLen + TagLen
)

var sizeCases = []struct {
	name     string
	msg      Message
	overhead int
}{
	{"login", &Login{DeviceID: "android-7f3c9a2b", UserID: "jsmith", Password: "correct horse", ClientVersion: "collabgw-device/1.0.0 (Android 14)", Timestamp: testTime}, helloOverhead},
	{"IM", &SendIM{To: "jdoe", Text: "Can you send me the report before the meeting tomorrow?", ClientMsgID: 17}, dataOverhead},
	{"short_IM", &SendIM{To: "jdoe", Text: "ok, thanks!", ClientMsgID: 18}, dataOverhead},
	{"received_IM", &ReceiveIM{From: "jsmith", Text: "Hi, are you available for a call this afternoon?", ServerTime: testTime}, dataOverhead},
	{"status", &Status{Presence: PresenceBusy, Text: "In a meeting"}, dataOverhead},
}

// payloadSize is the payload length of m with its body encoded by enc, or
// stored when enc is nil.
func payloadSize(t testing.TB, m Message, enc *zstd.Encoder) int {
	body, err := m.appendFields([]byte{byte(m.Type())})
	if err != nil {
		t.Fatal(err)
	}
	n := 1 // flags
	if s := m.secret(); s != nil {
		n += 1 + len(s) + paddingFor(len(s))
	}
	if enc == nil {
		return n + len(body)
	}
	return n + len(enc.EncodeAll(body, nil)) - len(zstdMagic)
}

// BenchmarkWireBytes reports the bytes on the air for a login and typical
// messages: as sent (dictionary, or stored when smaller), compressed
// without the dictionary, and never compressed.
func BenchmarkWireBytes(b *testing.B) {
	plain, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range sizeCases {
		b.Run(tt.name, func(b *testing.B) {
			var sent int
			for b.Loop() {
				p, err := appendPayload(nil, tt.msg)
				if err != nil {
					b.Fatal(err)
				}
				sent = len(p)
			}
			b.ReportMetric(float64(tt.overhead+sent), "B-sent")
			b.ReportMetric(float64(tt.overhead+payloadSize(b, tt.msg, plain)), "B-zstd-nodict")
			b.ReportMetric(float64(tt.overhead+payloadSize(b, tt.msg, nil)), "B-uncompressed")
		})
	}
}

// TestDictionaryPaysForItself holds the dictionary to its purpose: on the
// typical messages it must beat both zstd without it and no compression.
func TestDictionaryPaysForItself(t *testing.T) {
	plain, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	var sent, nodict, stored int
	for _, tt := range sizeCases {
		p, err := appendPayload(nil, tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		sent += len(p)
		nodict += min(payloadSize(t, tt.msg, plain), payloadSize(t, tt.msg, nil))
		stored += payloadSize(t, tt.msg, nil)
	}
	t.Logf("payload bytes over %d messages: %d sent, %d best without dictionary, %d stored", len(sizeCases), sent, nodict, stored)
	if sent >= nodict || sent >= stored {
		t.Fatalf("the dictionary does not pay: %d sent vs %d without it and %d stored", sent, nodict, stored)
	}
}
