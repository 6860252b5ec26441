package peerlink

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

var testTime = clocktest.Now().Round(0) // no monotonic reading: it does not travel

func testResume() *Resume {
	return &Resume{
		RequestID: "0b5a9d6e-8a57-4f0e-9c0a-5c6f8a1e2d3b",
		DeviceKey: devproto.PublicKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
		Request: devproto.Resume{
			DeviceID: "device0001", SessionID: "s1", Token: devproto.ResumeToken{9, 9, 9, 1},
			Timestamp: testTime,
		},
	}
}

// resumeCases are RESUME bodies, valid and not; they also seed the fuzzers.
var resumeCases = []struct {
	name    string
	mutate  func(*Resume)
	wantErr error
}{
	{"valid", func(*Resume) {}, nil},
	{"empty request id", func(r *Resume) { r.RequestID = "" }, nil},
	{"long request id", func(r *Resume) { r.RequestID = strings.Repeat("x", MaxRequestIDLen+1) }, ErrMalformed},
	{"zero device key", func(r *Resume) { r.DeviceKey = devproto.PublicKey{} }, ErrMalformed},
	{"no session", func(r *Resume) { r.Request.SessionID = "" }, devproto.ErrInvalidMessage},
	{"zero token", func(r *Resume) { r.Request.Token = devproto.ResumeToken{} }, devproto.ErrInvalidMessage},
}

func TestResumeRoundTrip(t *testing.T) {
	for _, tt := range resumeCases {
		t.Run(tt.name, func(t *testing.T) {
			r := testResume()
			tt.mutate(r)
			b, err := appendResume([]byte{0xAA}, r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !bytes.Equal(b, []byte{0xAA}) {
					t.Fatalf("appendResume = %x, %v; want %v and dst untouched", b, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeResume(b[1:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

func TestDecodeResumeRefuses(t *testing.T) {
	good, err := appendResume(nil, testResume())
	if err != nil {
		t.Fatal(err)
	}
	other, err := devproto.AppendPayload(nil, &devproto.Ping{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := testResume().DeviceKey
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"short string", []byte{5, 'a'}, ErrMalformed},
		{"no key", []byte{0, 1, 2}, ErrMalformed},
		{"zero key", append([]byte{0}, make([]byte, 40)...), ErrMalformed},
		{"not a resume", append(append([]byte{0}, key[:]...), other...), ErrUnexpectedMessage},
		{"truncated payload", good[:len(good)-3], devproto.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeResume(tt.body); !errors.Is(err, tt.want) {
				t.Fatalf("decodeResume = %v, want %v", err, tt.want)
			}
		})
	}
}

// relayedCases are DEVICE and GATEWAY bodies in their allowed direction.
var relayedCases = []struct {
	typ msgType
	msg devproto.Message
}{
	{msgDevice, &devproto.SendIM{To: "user0002", Text: "hello from the device", ClientMsgID: 7}},
	{msgDevice, &devproto.Status{Presence: devproto.PresenceBusy, Text: "in a meeting"}},
	{msgDevice, &devproto.Ping{ID: 42}},
	{msgDevice, &devproto.Pong{ID: 43}},
	{msgDevice, &devproto.Logout{}},
	{msgGateway, &devproto.ReceiveIM{From: "user0002", Text: strings.Repeat("long IM ", 200), ServerTime: testTime}},
	{msgGateway, &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()}},
	{msgGateway, &devproto.Ping{ID: 1}},
	{msgGateway, &devproto.Pong{ID: 2}},
}

func TestRelayedRoundTrip(t *testing.T) {
	for _, tt := range relayedCases {
		t.Run(tt.typ.String()+"/"+tt.msg.Type().String(), func(t *testing.T) {
			b, err := appendRelayed(nil, tt.typ, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRelayed(b, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("got %+v, want %+v", got, tt.msg)
			}
			// The other direction refuses what this one carries, unless
			// both sides send it.
			other := msgGateway
			if tt.typ == msgGateway {
				other = msgDevice
			}
			if tt.msg.Type().SentBy(relayRole(other)) {
				return
			}
			if _, err := appendRelayed(nil, other, tt.msg); !errors.Is(err, ErrUnexpectedMessage) {
				t.Fatalf("%v encoded in a %v frame: %v", tt.msg.Type(), other, err)
			}
			if _, err := decodeRelayed(b, other); !errors.Is(err, ErrUnexpectedMessage) {
				t.Fatalf("%v decoded from a %v frame: %v", tt.msg.Type(), other, err)
			}
		})
	}
}

func TestAnswerRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		st      *devproto.ServerStatus
		wantErr bool
	}{
		{"accepted", &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1", ResumeToken: devproto.ResumeToken{1}, StatusInterval: time.Minute}, false},
		{"logged out", &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()}, false},
		{"busy", &devproto.ServerStatus{Code: status.ServerBusy, RetryAfter: time.Second}, false},
		{"accepted without token", &devproto.ServerStatus{Code: status.Accepted, SessionID: "s1"}, true},
		{"refusal with token", &devproto.ServerStatus{Code: status.LoggedOut, ResumeToken: devproto.ResumeToken{1}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := devproto.AppendPayload(nil, tt.st)
			if (err != nil) != tt.wantErr {
				t.Fatalf("encode: %v", err)
			}
			if err != nil {
				return
			}
			got, err := decodeAnswer(b)
			if err != nil || !reflect.DeepEqual(got, tt.st) {
				t.Fatalf("decodeAnswer = %+v, %v", got, err)
			}
		})
	}
	ping, _ := devproto.AppendPayload(nil, &devproto.Ping{})
	if _, err := decodeAnswer(ping); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("a PING as an answer: %v", err)
	}
}

// transportPair returns the two ends of a transport, as a handshake would.
func transportPair(t testing.TB, maxFrame int) (initiator, responder *transport) {
	t.Helper()
	k1, k2 := [32]byte{1}, [32]byte{2}
	i, err := newTransport(true, k1, k2, maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newTransport(false, k2, k1, maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	return i, r
}

func sealBody(t testing.TB, tr *transport, typ msgType, body []byte) []byte {
	t.Helper()
	dst, start := tr.begin(nil, typ)
	frame, err := tr.seal(append(dst, body...), start)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func TestTransport(t *testing.T) {
	tests := []struct {
		name string
		// frames returns what the initiator sends and what the responder
		// is handed.
		frames func(t *testing.T, i, r *transport) [][]byte
		want   error
	}{
		{"round trip", func(t *testing.T, i, _ *transport) [][]byte {
			return [][]byte{sealBody(t, i, msgDevice, []byte("abc")), sealBody(t, i, msgKeepalive, nil)}
		}, nil},
		{"tampered", func(t *testing.T, i, _ *transport) [][]byte {
			f := sealBody(t, i, msgDevice, []byte("abc"))
			f[len(f)-1] ^= 1
			return [][]byte{f}
		}, ErrFrameAuth},
		{"tampered header", func(t *testing.T, i, _ *transport) [][]byte {
			f := sealBody(t, i, msgDevice, []byte("abc"))
			f[2] = kindResponderData
			return [][]byte{f}
		}, ErrUnexpectedFrame},
		{"replayed", func(t *testing.T, i, _ *transport) [][]byte {
			f := sealBody(t, i, msgDevice, []byte("abc"))
			return [][]byte{f, bytes.Clone(f)}
		}, ErrFrameAuth},
		{"reordered", func(t *testing.T, i, _ *transport) [][]byte {
			a, b := sealBody(t, i, msgDevice, []byte("a")), sealBody(t, i, msgDevice, []byte("b"))
			return [][]byte{b, a}
		}, ErrFrameAuth},
		{"reflected", func(t *testing.T, _, r *transport) [][]byte {
			return [][]byte{sealBody(t, r, msgGateway, []byte("abc"))}
		}, ErrUnexpectedFrame},
		{"truncated", func(t *testing.T, i, _ *transport) [][]byte {
			f := sealBody(t, i, msgDevice, []byte("abc"))
			return [][]byte{f[:len(f)-1]}
		}, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, r := transportPair(t, DefaultMaxFrameSize)
			var err error
			for _, f := range tt.frames(t, i, r) {
				if _, _, err = r.open(f); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("open: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSealRefuses(t *testing.T) {
	i, r := transportPair(t, MinFrameSize)
	dst, start := i.begin([]byte{0xAA}, msgGateway) // the initiator does not send GATEWAY
	if got, err := i.seal(dst, start); !errors.Is(err, ErrUnexpectedMessage) || !bytes.Equal(got, []byte{0xAA}) {
		t.Fatalf("seal of a wrong-direction type: %x, %v", got, err)
	}
	dst, start = i.begin(nil, msgDevice)
	if _, err := i.seal(append(dst, make([]byte, MinFrameSize)...), start); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("seal of an oversized frame: %v", err)
	}
	// A refused seal spends no nonce: the next frame still opens.
	if _, _, err := r.open(sealBody(t, i, msgDevice, []byte("x"))); err != nil {
		t.Fatal(err)
	}
}

// TestHotPathDoesNotAllocate: sealing and opening a DATA frame, the work
// every relayed message costs twice, allocates nothing.
func TestHotPathDoesNotAllocate(t *testing.T) {
	i, r := transportPair(t, DefaultMaxFrameSize)
	body := []byte(strings.Repeat("relayed message body ", 20))
	buf := make([]byte, 0, 2048)
	n := testing.AllocsPerRun(200, func() {
		dst, start := i.begin(buf[:0], msgDevice)
		frame, err := i.seal(append(dst, body...), start)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.open(frame); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("seal+open allocates %v times per frame", n)
	}
	var hdr [2]byte
	hdr[1] = 100
	if n := testing.AllocsPerRun(100, func() { _, _ = frameLength(hdr, DefaultMaxFrameSize) }); n != 0 {
		t.Fatalf("frameLength allocates %v times", n)
	}
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"whole", []byte{0, 2, 1, 9}, nil},
		{"empty stream", nil, nil},
		{"zero length", []byte{0, 0}, ErrMalformed},
		{"over the limit", []byte{0xff, 0xff, 1}, ErrFrameTooLarge},
		{"short body", []byte{0, 5, 1, 2}, ErrTruncated},
		{"short prefix", []byte{0}, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := readFrame(bytes.NewReader(tt.in), nil, MaxHandshakeSize)
			switch {
			case tt.in == nil:
				if err == nil {
					t.Fatal("read a frame from nothing")
				}
			case !errors.Is(err, tt.want):
				t.Fatalf("readFrame = %x, %v; want %v", f, err, tt.want)
			case err == nil && !bytes.Equal(f, tt.in):
				t.Fatalf("readFrame = %x", f)
			}
		})
	}
}
