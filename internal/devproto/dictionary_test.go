package devproto

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// This file is the committed generator of dictionary.bin:
//
//	go test ./internal/devproto -run TestDictionaryPinned -update-dict
//
// then update dictionaryHash below. The dictionary is part of the wire
// format: any change to it (or to the message encodings it samples) needs a
// new protocol Version, which is why its hash is pinned here.
var updateDict = flag.Bool("update-dict", false, "rewrite dictionary.bin from dictionarySource")

const dictionaryHash = "5491c098b4d9eddd2b14be6cd584a0ba8594ac87d6eb1a05af008b3c2cc2483f"

// dictionaryVocabulary is what devices and GroupWise users say most. zstd
// finds matches most cheaply near the end of a raw dictionary, so the most
// common text comes last.
var dictionaryVocabulary = []string{
	// Presence texts and custom status messages.
	"Available", "Busy", "Away", "Idle", "Appear Offline", "In a meeting",
	"On the phone", "Out to lunch", "Working from home", "On vacation until Monday",
	"Do not disturb", "Back in 5 minutes", "Out of the office",
	// Clients and addresses.
	"collabgw-device/1.0.0 (Android 14)", "collabgw-device/1.0.0 (iOS 17)",
	"GroupWise Messenger", "https://", "www.", ".com", "@example.com",
	// The IM vocabulary.
	"Good morning", "Good afternoon", "Have a nice weekend", "Happy birthday!",
	"Can you send me the report?", "the document", "the project", "the customer",
	"conference room", "meeting", "tomorrow", "today", "this afternoon",
	"next week", "at 10:00", "at 2 pm", "in 5 minutes", "I'm running late",
	"I'll call you back", "Can you call me?", "Let me know", "Sounds good",
	"No problem", "Thanks!", "Thank you", "Are you available?", "Where are you?",
	"See you soon", "OK, see you then", "yes", "no", "ok", "Hi, ", "Hello ",
}

// dictionarySamples are message bodies in their wire encoding, so that the
// field skeletons (type byte, lengths, common values) match too.
func dictionarySamples() []Message {
	// A constant of the wire protocol, not a clock reading. These samples
	// are only encoded (dictionarySource), and their bytes are pinned in
	// dictionary.bin, which ships in every device and edge: a timestamp
	// taken from the clock would change the dictionary on every run. No
	// sample reaches a replay window, a lease, a TTL or a certificate.
	// calendar-free: pinned in dictionary.bin.
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := []Message{
		&Login{DeviceID: "android-1f3e5a7c", UserID: "jsmith", ClientVersion: "collabgw-device/1.0.0", Timestamp: ts},
		&Resume{DeviceID: "iphone-2b4d6f8a", SessionID: "s-0123456789abcdef", Timestamp: ts},
	}
	for _, c := range status.All() {
		st := &ServerStatus{Code: c, Message: c.Text()}
		if c == status.Accepted {
			st.SessionID = "s-0123456789abcdef"
			st.ResumeToken = ResumeToken{1} // a secret: never in the body, so never in the dictionary
			st.StatusInterval = 5 * time.Minute
		}
		msgs = append(msgs, st)
	}
	return append(msgs,
		&Status{Presence: PresenceAway, Text: "Away"},
		&Status{Presence: PresenceBusy, Text: "In a meeting"},
		&Status{Presence: PresenceOnline, Text: "Available"},
		&ReceiveIM{From: "jsmith", Text: "Hi, are you available?", ServerTime: ts},
		&SendIM{To: "jdoe", Text: "Thanks, see you tomorrow", ClientMsgID: 1},
	)
}

func dictionarySource(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range dictionarySamples() {
		// LOGIN and RESUME samples carry no secret, which the encoder
		// reports after writing every body field: exactly what is wanted.
		body, err := m.appendFields([]byte{byte(m.Type())})
		if err != nil && m.Type() != TypeLogin && m.Type() != TypeResume {
			t.Fatalf("sample %v: %v", m.Type(), err)
		}
		b.Write(body)
	}
	b.WriteString(strings.Join(dictionaryVocabulary, "\n"))
	return b.Bytes()
}

func TestDictionaryPinned(t *testing.T) {
	want := dictionarySource(t)
	if *updateDict {
		if err := os.WriteFile("dictionary.bin", want, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(want)
		t.Logf("wrote dictionary.bin (%d bytes); set dictionaryHash = %q", len(want), hex.EncodeToString(sum[:]))
		return
	}
	if !bytes.Equal(dictionary, want) {
		t.Fatal("dictionary.bin differs from its generator: regenerate with -update-dict and bump Version")
	}
	if sum := sha256.Sum256(dictionary); hex.EncodeToString(sum[:]) != dictionaryHash {
		t.Fatal("dictionary.bin changed: that breaks deployed devices; bump Version and update dictionaryHash")
	}
}
