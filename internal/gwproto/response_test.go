package gwproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// loginResponse is a login answer in the order Pidgin needs: scalars first.
var loginResponse = Fields{
	String(TagResultCode, "0"),
	String(TagTransactionID, "1"),
	DN(TagDN, "cn=alice,ou=users,o=example"),
	String(TagAuthAttribute, "alice"),
	String(TagFullName, "Alice Example"),
	String(TagStatus, "2"),
	Number(TagKeepalive, 10),
	Array(TagContactList,
		Array(TagFolder, String(TagObjectID, "1"), String(TagParentID, "0"), String(TagSequenceNumber, "0"), String(TagDisplayName, "Friends")),
		Array(TagContact, String(TagObjectID, "2"), String(TagParentID, "1"),
			DN(TagDN, "cn=bob,ou=users,o=example"),
			Array(TagUserDetails, String(TagAuthAttribute, "bob")),
		),
	),
	{Tag: "NM_A_SZ_MV", Type: TypeMV, Method: MethodAdd, Fields: Fields{String("v", "one"), String("v", "two")}},
}

// createConfResponse puts the conversation first: Pidgin reads the GUID
// from the first field.
var createConfResponse = Fields{
	Array(TagConversation, String(TagObjectID, "[01234567-89ABCDEF-01234567-89AB-CDEF]")),
	String(TagResultCode, "0"),
	String(TagTransactionID, "3"),
}

func mustResponse(fs Fields) []byte {
	b, err := AppendResponse(nil, fs)
	if err != nil {
		panic(err)
	}
	return b
}

func mustEvent(ev Event) []byte {
	b, err := AppendEvent(nil, ev)
	if err != nil {
		panic(err)
	}
	return b
}

func TestResponseGolden(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		fields Fields
	}{
		{"login response with contact list", "testdata/login_response.hex", loginResponse},
		{"createconf response with conversation first", "testdata/createconf_response.hex", createConfResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustResponse(tt.fields)
			if *update {
				if err := os.WriteFile(tt.file, []byte(hex.Dump(got)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if hex.Dump(got) != string(want) {
				t.Fatalf("encoding changed; run with -update if intended:\n%s", hex.Dump(got))
			}
			msg, err := ReadMessage(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(got)), 16))
			if err != nil {
				t.Fatal(err)
			}
			if msg.IsEvent || msg.Response.Status != 200 || !equalFields(msg.Response.Fields, tt.fields) {
				t.Fatalf("round trip = %+v", msg)
			}
		})
	}
}

func TestResponseAccessors(t *testing.T) {
	resp := Response{Status: 200, Fields: Fields{String("nm_a_sz_result_code", "53516"), String(TagTransactionID, "9")}}
	code, err := resp.Result()
	if err != nil || code != ResultPasswordInvalid {
		t.Fatalf("Result() = %v, %v; tags must match case-insensitively", code, err)
	}
	if resp.TransactionID() != "9" {
		t.Fatalf("TransactionID() = %q", resp.TransactionID())
	}
	if _, err := (Response{}).Result(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("missing result code: err = %v, want ErrMalformed", err)
	}
	if !code.IsBadCredentials() || code.IsLocked() || !ResultAdminLocked.IsLocked() {
		t.Fatal("result code classes are wrong")
	}
}

// field builds one raw binary field, for inputs the encoder refuses to make.
func field(typ, method byte, tag string, tail ...byte) []byte {
	b := []byte{typ, method}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tag)))
	b = append(b, tag...)
	return append(b, tail...)
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// messageSeeds are server messages for the decoder; the fuzz target starts
// from them too. ok says whether the decoder must accept the input.
var messageSeeds = []struct {
	name  string
	input []byte
	ok    bool
}{
	{"login response", mustResponse(loginResponse), true},
	{"createconf response", mustResponse(createConfResponse), true},
	{"headers are skipped", []byte("HTTP/1.0 200 OK\r\nDate: x\r\n\r\n\x00"), true},
	{"zero-length string is dropped", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(10, 0, "A\x00", u32(0)...), []byte{0}), true},
	{"tag of 64 bytes is accepted", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(8, 0, strings.Repeat("t", 63)+"\x00", u32(1)...), []byte{0}), true},
	{"tag of 65 bytes is refused", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(8, 0, strings.Repeat("t", 64)+"\x00", u32(1)...), []byte{0}), false},
	{"string of 32768 bytes is refused", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(10, 0, "A\x00", u32(32768)...)), false},
	{"array count beyond the budget", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(9, 0, "A\x00", u32(0xffffffff)...)), false},
	{"array ended early by a zero type", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(9, 0, "A\x00", u32(2)...), []byte{0}), false},
	{"unknown field type", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(14, 0, "A\x00", u32(1)...), []byte{0}), false},
	{"no terminating zero", cat([]byte("HTTP/1.0 200\r\n\r\n"), field(8, 0, "A\x00", u32(1)...)), false},
	{"status line without a code", []byte("HTTP/1.0\r\n\r\n\x00"), false},
	{"nesting too deep", cat([]byte("HTTP/1.0 200\r\n\r\n"), bytes.Repeat(field(9, 0, "A\x00", u32(1)...), MaxDepth+2)), false},
	{"event 108", mustEvent(Event{Type: EventReceiveMessage, Source: "cn=bob,o=x", GUID: BlankGUID, Flags: 1, Text: ToRTF("hi")}), true},
	{"event 121", mustEvent(Event{Type: EventReceiveAutoReply, Source: "cn=bob,o=x", GUID: BlankGUID, Text: "away"}), true},
	{"event 103", mustEvent(Event{Type: EventStatusChange, Source: "cn=bob,o=x", Status: StatusAway, Text: "lunch"}), true},
	{"event 106", mustEvent(Event{Type: EventConferenceJoined, Source: "cn=bob,o=x", GUID: BlankGUID, Flags: 2}), true},
	{"event 112", mustEvent(Event{Type: EventUserTyping, Source: "cn=bob,o=x", GUID: BlankGUID}), true},
	{"event 117", mustEvent(Event{Type: EventConferenceInvite, Source: "cn=bob,o=x", GUID: BlankGUID, Text: "join"}), true},
	{"event 114", mustEvent(Event{Type: EventUserDisconnect, Source: "cn=alice,o=x"}), true},
	{"event 115", mustEvent(Event{Type: EventServerDisconnect, Source: "server"}), true},
	{"event 110 cannot be parsed", cat(u32(110), u32(2), []byte("x\x00")), false},
	{"event source over the limit", cat(u32(114), u32(MaxSourceLen+1)), false},
	{"event message over 100000 bytes", cat(u32(108), u32(2), []byte("x\x00"), u32(2), []byte("g\x00"), u32(0), u32(MaxEventMessage+1)), false},
	{"event cut short", cat(u32(108), u32(2), []byte("x\x00"), u32(2)), false},
}

func TestReadMessage(t *testing.T) {
	for _, tt := range messageSeeds {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMessage(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(tt.input)), 16))
			if tt.ok && err != nil {
				t.Fatalf("valid message refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("malformed message accepted")
			}
			if !tt.ok && !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want ErrMalformed or ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	events := []Event{
		{Type: EventInvalidRecipient, Source: "cn=a"},
		{Type: EventUndeliverable, Source: "cn=a", GUID: BlankGUID},
		{Type: EventStatusChange, Source: "cn=a", Status: StatusBusy, Text: "meeting"},
		{Type: EventContactAdd, Source: "cn=a"},
		{Type: EventConferenceClosed, Source: "cn=a", GUID: "g"},
		{Type: EventConferenceJoined, Source: "cn=a", GUID: "g", Flags: 3},
		{Type: EventConferenceLeft, Source: "cn=a", GUID: "g", Flags: 4},
		{Type: EventReceiveMessage, Source: "cn=a", GUID: "g", Flags: 5, Text: ToRTF("hello")},
		{Type: EventReceiveFile, Source: "cn=a"},
		{Type: EventUserTyping, Source: "cn=a", GUID: "g"},
		{Type: EventUserNotTyping, Source: "cn=a", GUID: "g"},
		{Type: EventUserDisconnect, Source: "cn=a"},
		{Type: EventServerDisconnect, Source: "cn=a"},
		{Type: EventConferenceInvite, Source: "cn=a", GUID: "g", Text: "come"},
		{Type: EventConferenceInviteNote, Source: "cn=a", GUID: "g"},
		{Type: EventConferenceReject, Source: "cn=a", GUID: "g"},
		{Type: EventReceiveAutoReply, Source: "cn=a", GUID: "g", Text: "away"},
	}
	for _, want := range events {
		t.Run(want.Type.String(), func(t *testing.T) {
			msg, err := ReadMessage(bufio.NewReader(bytes.NewReader(mustEvent(want))))
			if err != nil {
				t.Fatal(err)
			}
			if !msg.IsEvent || msg.Event != want {
				t.Fatalf("got %+v, want %+v", msg.Event, want)
			}
		})
	}
}

func TestAppendEventRefusesEmptySource(t *testing.T) {
	// Pidgin silently drops an event 114 without a source.
	if _, err := AppendEvent(nil, Event{Type: EventUserDisconnect}); !errors.Is(err, ErrBadField) {
		t.Fatalf("err = %v, want ErrBadField", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	for _, s := range messageSeeds {
		f.Add(s.input)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := ReadMessage(bufio.NewReader(bytes.NewReader(data)))
		if err != nil || msg.IsEvent {
			return
		}
		enc, err := AppendResponse(nil, msg.Response.Fields)
		if err != nil {
			return // tags the encoder refuses, such as ones holding '&'
		}
		back, err := ReadMessage(bufio.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !equalFields(msg.Response.Fields, back.Response.Fields) {
			t.Fatalf("round trip changed the fields:\n%+v\n%+v", msg.Response.Fields, back.Response.Fields)
		}
	})
}
