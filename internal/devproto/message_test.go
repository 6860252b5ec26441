package devproto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

var testTime = time.Unix(0, 1767225600123456789)

// messageCases is every message type in a typical and an edge form; the
// fuzz targets are seeded from it.
var messageCases = []struct {
	name string
	msg  Message
}{
	{"login", &Login{DeviceID: "android-7f3c9a2b", UserID: "jsmith", Password: "correct horse", ClientVersion: "collabgw-device/1.0.0 (Android 14)", Timestamp: testTime}},
	{"login with a maximal password", &Login{DeviceID: "d", UserID: "u", Password: Password(strings.Repeat("p", MaxPasswordLen)), Timestamp: testTime}},
	{"resume", &Resume{DeviceID: "iphone-2b4d6f8a", SessionID: "s-0123456789abcdef", Token: ResumeToken{1, 2, 3, 4}, Timestamp: testTime}},
	{"accepted", &ServerStatus{Code: status.Accepted, SessionID: "s-1", ResumeToken: ResumeToken{7}, Message: "Accepted", StatusInterval: 5 * time.Minute}},
	{"server busy", &ServerStatus{Code: status.ServerBusy, Message: status.ServerBusy.Text(), RetryAfter: 30 * time.Second}},
	{"signed on elsewhere", &ServerStatus{Code: status.SignedOnElsewhere, SessionID: "s-1", Message: status.SignedOnElsewhere.Text()}},
	{"status", &Status{Presence: PresenceAway, Text: "Out to lunch"}},
	{"status without text", &Status{Presence: PresenceAppearOffline}},
	{"send IM", &SendIM{To: "jdoe", Text: "Can you send me the report?", ClientMsgID: 1 << 33}},
	{"receive IM", &ReceiveIM{From: "jsmith", Text: "Hi, are you available?", ServerTime: testTime}},
	{"logout", &Logout{}},
	{"ping", &Ping{ID: 0}},
	{"pong", &Pong{ID: 1<<64 - 1}},
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, tt := range messageCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := appendPayload(nil, tt.msg)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decodePayload(p)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := appendPayload(nil, got)
			if err != nil || !bytes.Equal(again, p) {
				t.Fatalf("re-encoding %#v differs (%v)", got, err)
			}
		})
	}
}

func TestSecretsAreNeverCompressed(t *testing.T) {
	l := &Login{DeviceID: "android-7f3c9a2b", UserID: "jsmith", Password: "jsmith jsmith jsmith jsmith", ClientVersion: "collabgw-device/1.0.0", Timestamp: testTime}
	p, err := appendPayload(nil, l)
	if err != nil {
		t.Fatal(err)
	}
	if p[0]&flagSecret == 0 || !bytes.Contains(p, []byte(l.Password)) {
		t.Fatal("the password is not in its own stored section")
	}
	// The payload length moves with the password length in 16-byte steps
	// only, whatever the password looks like.
	sizes := map[int]bool{}
	for _, pw := range []string{"a", "jsmith", "Available", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"} {
		l.Password = Password(pw)
		p, err := appendPayload(nil, l)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(p)] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("passwords of 1 to 16 bytes gave payloads of %d different sizes", len(sizes))
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		msg   Message
		field string
	}{
		{"login without device", &Login{UserID: "u", Password: "p", Timestamp: testTime}, "DeviceID"},
		{"device id with a space", &Login{DeviceID: "my phone", UserID: "u", Password: "p", Timestamp: testTime}, "DeviceID"},
		{"device id not ASCII", &Login{DeviceID: "téléphone", UserID: "u", Password: "p", Timestamp: testTime}, "DeviceID"},
		{"device id too long", &Resume{DeviceID: strings.Repeat("d", MaxDeviceIDLen+1), SessionID: "s", Token: ResumeToken{1}, Timestamp: testTime}, "DeviceID"},
		{"resume device id with a slash", &Resume{DeviceID: "a/b", SessionID: "s", Token: ResumeToken{1}, Timestamp: testTime}, "DeviceID"},
		{"login without password", &Login{DeviceID: "d", UserID: "u", Timestamp: testTime}, "Password"},
		{"login without timestamp", &Login{DeviceID: "d", UserID: "u", Password: "p"}, "Timestamp"},
		{"login with an overlong password", &Login{DeviceID: "d", UserID: "u", Password: Password(strings.Repeat("p", MaxPasswordLen+1)), Timestamp: testTime}, "Password"},
		{"resume without token", &Resume{DeviceID: "d", SessionID: "s", Timestamp: testTime}, "Token"},
		{"accepted without token", &ServerStatus{Code: status.Accepted, SessionID: "s"}, "ResumeToken"},
		{"accepted without session", &ServerStatus{Code: status.Accepted, ResumeToken: ResumeToken{1}}, "SessionID"},
		{"refusal carrying a token", &ServerStatus{Code: status.ServerBusy, ResumeToken: ResumeToken{1}}, "ResumeToken"},
		{"undefined status", &ServerStatus{Code: 99}, "Code"},
		{"negative retry", &ServerStatus{Code: status.RateLimited, RetryAfter: -time.Second}, "RetryAfter"},
		{"IM without recipient", &SendIM{Text: "hi"}, "To"},
		{"empty IM", &SendIM{To: "jdoe"}, "Text"},
		{"received IM without time", &ReceiveIM{From: "a", Text: "b"}, "ServerTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := appendPayload(nil, tt.msg)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidMessage) || fe.Field != tt.field {
				t.Fatalf("error = %v, want invalid %s", err, tt.field)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	ping := []byte{byte(TypePing), 5}
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty payload", nil, ErrMalformed},
		{"unknown flags", append([]byte{0x80}, ping...), ErrMalformed},
		{"empty body", []byte{0}, ErrMalformed},
		{"unknown type", []byte{0, 0xee}, ErrUnknownMessageType},
		{"trailing bytes", append([]byte{0}, append(ping, 0)...), ErrMalformed},
		{"overlong varint", []byte{0, byte(TypePing), 0x85, 0x00}, ErrMalformed},
		{"secret on a type without one", append([]byte{flagSecret, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ping...), ErrMalformed},
		{"nonzero secret padding", append([]byte{flagSecret, 1, 'x', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ping...), ErrMalformed},
		{"short secret section", []byte{flagSecret, 20, 'x'}, ErrMalformed},
		{"zstd garbage", []byte{flagCompressed, 1, 2, 3, 4, 5, 6, 7, 8}, ErrMalformed},
		{"string past the end", []byte{0, byte(TypeSendIM), 10, 'a'}, ErrMalformed},
		{"string not UTF-8", []byte{0, byte(TypeSendIM), 1, 0xff, 1, 'b', 0}, ErrMalformed},
		{"presence out of range", []byte{0, byte(TypeStatus), 9, 0}, ErrMalformed},
		{"status code undefined", []byte{0, byte(TypeServerStatus), 99, 0, 0, 0, 0}, ErrMalformed},
		{"login without password", []byte{0, byte(TypeLogin), 1, 'd', 1, 'u', 0, 0, 0, 0, 0, 0, 0, 0, 1}, ErrMalformed},
		{"device id with a space", []byte{0, byte(TypeResume), 3, 'a', ' ', 'b', 1, 's', 0, 0, 0, 0, 0, 0, 0, 1}, ErrMalformed},
		{"time of zero", []byte{0, byte(TypeReceiveIM), 1, 'a', 1, 'b', 0, 0, 0, 0, 0, 0, 0, 0}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodePayload(tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("decode = %#v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func TestCheckDeviceID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"device0001", true},
		{"android-7f3c9a2b", true},
		{"jsmith@example.com:phone_2.1", true},
		{"A", true},
		{strings.Repeat("x", MaxDeviceIDLen), true},
		{"", false},
		{strings.Repeat("x", MaxDeviceIDLen+1), false},
		{"my phone", false},
		{"phone\n", false},
		{"ph\x00one", false},
		{"a/b", false},
		{"téléphone", false},
		{"ｄｅｖｉｃｅ", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := CheckDeviceID(tt.id)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidDeviceID)) {
				t.Fatalf("CheckDeviceID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
		})
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want status.Code
	}{
		{"unknown device", ErrUnknownDevice, status.DeviceRevoked},
		{"revoked device", ErrDeviceRevoked, status.DeviceRevoked},
		{"key mismatch", ErrDeviceKeyMismatch, status.DeviceRevoked},
		{"replay", ErrReplayed, status.ProtocolError},
		{"clock skew", &SkewError{Skew: time.Hour, Max: time.Minute}, status.ProtocolError},
		{"unknown version", &VersionError{Got: 9, Want: 1}, status.ProtocolError},
		{"unknown type", &FieldError{Type: 99, Field: "type", Err: ErrUnknownMessageType}, status.ProtocolError},
		{"rate limited by the store", &StatusError{Code: status.RateLimited, RetryAfter: time.Minute}, status.RateLimited},
		{"internal failure", errors.New("dynamodb: throttled"), status.ServerBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusFor(tt.err); got != tt.want {
				t.Fatalf("StatusFor = %v, want %v", got, tt.want)
			}
			st := RejectStatus(tt.err)
			if st.Code != tt.want || strings.Contains(st.Message, "dynamodb") {
				t.Fatalf("RejectStatus = %+v", st)
			}
			if _, err := appendPayload(nil, st); err != nil {
				t.Fatalf("RejectStatus built an unencodable status: %v", err)
			}
		})
	}
}
