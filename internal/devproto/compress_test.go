package devproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstdFrameShapes pins which zstd frames a peer may send as a
// compressed body (docs/device-protocol.md, "Compression"): exactly one
// frame, without a dictionary id, with or without a content size or a
// checksum, in a single segment or with a window descriptor. Other
// encoders (libzstd, another language's binding) choose these options
// differently, so each allowed shape is made here by an encoder configured
// that way, and each refused one by what a careless encoder would produce.
func TestZstdFrameShapes(t *testing.T) {
	body := []byte("\x04\x04jdoe\x1aThanks, see you tomorrow! Available\x01")
	encode := func(t *testing.T, opts ...zstd.EOption) []byte {
		t.Helper()
		opts = append([]zstd.EOption{zstd.WithEncoderDictRaw(dictID, dictionary)}, opts...)
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(body, nil)
	}
	streamed := func(t *testing.T) []byte {
		t.Helper()
		var b bytes.Buffer
		enc, err := zstd.NewWriter(&b, zstd.WithEncoderDictRaw(dictID, dictionary))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name  string
		frame func(t *testing.T) []byte // with the magic
		ok    bool
	}{
		{"ours: single segment, no checksum", func(t *testing.T) []byte {
			b, _, err := appendBody(nil, body)
			if err != nil {
				t.Fatal(err)
			}
			return append(append([]byte{}, zstdMagic...), b...)
		}, true},
		{"with a checksum", func(t *testing.T) []byte { return encode(t, zstd.WithEncoderCRC(true)) }, true},
		{"with a window descriptor", func(t *testing.T) []byte {
			return encode(t, zstd.WithSingleSegment(false), zstd.WithWindowSize(1<<15))
		}, true},
		{"better compression", func(t *testing.T) []byte { return encode(t, zstd.WithEncoderLevel(zstd.SpeedBetterCompression)) }, true},
		{"wrong checksum", func(t *testing.T) []byte {
			b := encode(t, zstd.WithEncoderCRC(true))
			b[len(b)-1] ^= 1
			return b
		}, false},
		{"no content size (a streamed frame)", streamed, true},
		{"a content size over the limit", func(t *testing.T) []byte {
			b := encode(t, zstd.WithSingleSegment(true))
			// Frame_Header_Descriptor: FCS_Field_Size 2 (4 bytes), single segment.
			return append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0, 0, 1, 0}, b[6:]...)
		}, false},
		{"a content size that lies", func(t *testing.T) []byte {
			b := encode(t, zstd.WithSingleSegment(true))
			b[5]++ // the 1-byte Frame_Content_Size of a single-segment frame
			return b
		}, false},
		{"a dictionary id", func(t *testing.T) []byte {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(7, dictionary))
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			return enc.EncodeAll(body, nil)
		}, false},
		{"two frames", func(t *testing.T) []byte {
			b := encode(t)
			return append(b, b...)
		}, false},
		{"a skippable frame after", func(t *testing.T) []byte {
			return append(encode(t), 0x50, 0x2a, 0x4d, 0x18, 1, 0, 0, 0, 0xff)
		}, false},
		{"a trailing byte", func(t *testing.T) []byte { return append(encode(t), 0) }, false},
		{"cut short", func(t *testing.T) []byte {
			b := encode(t)
			return b[:len(b)-1]
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := tt.frame(t)
			if !bytes.HasPrefix(frame, zstdMagic) {
				t.Fatalf("the encoder wrote no zstd magic: % x", frame)
			}
			got, _, err := decompress(nil, nil, frame[len(zstdMagic):])
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused an allowed frame: %v", err)
			case tt.ok && !bytes.Equal(got, body):
				t.Fatalf("decoded %q, want %q", got, body)
			case !tt.ok && err == nil:
				t.Fatalf("accepted a frame the protocol forbids: % x", frame)
			case !tt.ok && !errors.Is(err, ErrMalformed):
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
