package gwproto

import (
	"bufio"
	"bytes"
	"testing"
)

// sendMessage is the request behind every outgoing IM.
var sendMessage = Request{
	Command:       "sendmessage",
	TransactionID: "42",
	Fields: Fields{
		Array(TagConversation, String(TagObjectID, "[01234567-89ABCDEF-01234567-89AB-CDEF]")),
		Array(TagMessage,
			String(TagMessageBody, ToRTF("hello, are you free for a call at 3?")),
			Number(TagMessageType, 0),
			String(TagMessageText, "hello, are you free for a call at 3?"),
		),
		DN(TagDN, "cn=bob,ou=users,o=example"),
	},
}

func TestAppendRequestDoesNotAllocateWithRoom(t *testing.T) {
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := AppendRequest(buf[:0], sendMessage); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendRequest allocates %v times per call into a buffer with room", allocs)
	}
}

func BenchmarkAppendRequestSendMessage(b *testing.B) {
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, err := AppendRequest(buf[:0], sendMessage)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkReadRequestLogin(b *testing.B) {
	wire := []byte(mustRequest(workedLogin))
	r := bytes.NewReader(wire)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		br.Reset(r)
		if _, err := ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponseLogin(b *testing.B) {
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, err := AppendResponse(buf[:0], loginResponse)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func BenchmarkReadResponseLogin(b *testing.B) {
	wire := mustResponse(loginResponse)
	r := bytes.NewReader(wire)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		br.Reset(r)
		if _, err := ReadMessage(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEvent108(b *testing.B) {
	wire := mustEvent(Event{Type: EventReceiveMessage, Source: "cn=bob,ou=users,o=example", GUID: "[01234567-89ABCDEF-01234567-89AB-CDEF]", Text: ToRTF("hello, are you free for a call at 3?")})
	r := bytes.NewReader(wire)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		br.Reset(r)
		if _, err := ReadMessage(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainText(b *testing.B) {
	rtf := ToRTF("hello, are you free for a call at 3? é")
	b.ReportAllocs()
	for b.Loop() {
		_ = PlainText(rtf)
	}
}
