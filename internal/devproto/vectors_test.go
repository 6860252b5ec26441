package devproto_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

// The test vectors in testdata/vectors let an implementation of the device
// protocol in another language check itself byte for byte, without a
// running gateway (docs/device-protocol.md, "Test vectors"). Every input is
// fixed: the static keys, the ephemeral keys (fed to Noise as its random
// source), the timestamps and the resume token. TestVectors makes them
// again and fails when the code no longer produces the committed files;
// after a deliberate change of the wire format, regenerate with
//
//	go test ./internal/devproto -run TestVectors -update-vectors
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/vectors from the code")

const vectorDir = "testdata/vectors"

// vectorTime is the device clock of the LOGIN.
// calendar-free: a fixed input of the vectors; the gateway in this test
// checks it against a clock set to the same instant, never the real one.
var vectorTime = time.Unix(0, 1767225600123456789)

// vectorKey derives a fixed 32-byte key from a label, so that the file
// says how each key was made.
func vectorKey(label string) [32]byte {
	return sha256.Sum256([]byte("collabgw test vector: " + label))
}

// The fixed inputs.
var (
	vDeviceStatic    = devproto.PrivateKey(vectorKey("device static"))
	vGatewayStatic   = devproto.PrivateKey(vectorKey("gateway static"))
	vLoginEphemeral  = vectorKey("device ephemeral, login")
	vWelcomeEph      = vectorKey("gateway ephemeral, welcome")
	vResumeEphemeral = vectorKey("device ephemeral, resume")
	vToken           = devproto.ResumeToken(vectorKey("resume token"))
	vLogin           = devproto.Login{
		DeviceID: "device0001", UserID: "user0001", Password: "demo",
		ClientVersion: "collabgw-device/1.0.0 (Android 14)", Timestamp: vectorTime,
	}
	vAccepted = devproto.ServerStatus{
		Code: status.Accepted, SessionID: "s-7d1c5e9a", ResumeToken: vToken,
		Message: status.Accepted.Text(), StatusInterval: 80 * time.Second,
	}
	vStatus    = devproto.Status{Presence: devproto.PresenceAway, Text: "In a meeting"}
	vReceiveIM = devproto.ReceiveIM{From: "user0002", Text: "Hi, are you available?", ServerTime: vectorTime.Add(2 * time.Second)}
	vResume    = devproto.Resume{DeviceID: vLogin.DeviceID, SessionID: vAccepted.SessionID, Token: vToken, Timestamp: vectorTime.Add(time.Minute)}
)

func TestVectors(t *testing.T) {
	files := makeVectors(t)
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(vectorDir, name)
			if *updateVectors {
				if err := os.MkdirAll(vectorDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			committed, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (generate with -update-vectors)", err)
			}
			if line, ok := firstDifference(string(committed), text); ok {
				t.Fatalf("%s no longer matches the code, from line %d:\n  file: %s\n  code: %s\nA wire-format change needs a new protocol version; then regenerate with -update-vectors",
					path, line.n, line.a, line.b)
			}
		})
	}
}

// TestVectorsReadBack reads the committed files as another implementation
// would (only the file format below, no knowledge of how they were made)
// and checks each value against the protocol: the gateway opens the HELLOs,
// the device opens the WELCOME, the transport keys open the DATA frames,
// and every composite value is the concatenation the document describes.
func TestVectorsReadBack(t *testing.T) {
	login := readVector(t, "login.txt")
	welcome := readVector(t, "welcome.txt")
	resume := readVector(t, "resume.txt")

	for _, v := range []vector{login, welcome, resume} {
		for _, pair := range [][2]string{
			{"device_static_private", "device_static_public"},
			{"gateway_static_private", "gateway_static_public"},
		} {
			pub, err := curve25519.X25519(v.get(t, pair[0]), curve25519.Basepoint)
			if err != nil || !bytes.Equal(pub, v.get(t, pair[1])) {
				t.Fatalf("%s: %s is not the public key of %s", v.name, pair[1], pair[0])
			}
		}
		if got := v.get(t, "prologue"); !bytes.Equal(got, []byte("collabgw device protocol\x00\x01")) {
			t.Fatalf("%s: prologue %q", v.name, got)
		}
	}

	// The LOGIN: frame = length ‖ kind ‖ version ‖ Noise message 1, and
	// message 1 = e ‖ encrypted s ‖ encrypted payload.
	for _, frameName := range []string{"frame", "frame_stored"} {
		frame := login.get(t, frameName)
		msg := login.get(t, strings.Replace(frameName, "frame", "noise_message", 1))
		if want := append([]byte{byte((len(msg) + 2) >> 8), byte(len(msg) + 2), devproto.KindHello, devproto.Version}, msg...); !bytes.Equal(frame, want) {
			t.Fatalf("login %s is not its header and Noise message", frameName)
		}
		ePub, err := curve25519.X25519(login.get(t, "device_ephemeral_private"), curve25519.Basepoint)
		if err != nil || !bytes.Equal(msg[:32], ePub) || !bytes.Equal(ePub, login.get(t, "device_ephemeral_public")) {
			t.Fatal("login: message 1 does not open with the device's ephemeral public key")
		}
		hello := readHello(t, login, frame)
		if got := hello.Request; !sameMessage(t, got, &vLogin) {
			t.Fatalf("login %s decodes to %+v", frameName, got)
		}
	}
	assertPayload(t, login, "payload", "body", &vLogin)
	assertPayload(t, login, "payload_stored", "body", &vLogin)
	if p := login.get(t, "payload"); !bytes.Equal(login.get(t, "secret_section"), p[1:18]) {
		t.Fatal("login: the secret section is not bytes 1-17 of the payload")
	}

	// The WELCOME: the device holding the login's ephemeral key reads it.
	if !bytes.Equal(welcome.get(t, "hello_frame"), login.get(t, "frame")) {
		t.Fatal("welcome.txt answers a HELLO other than login.txt's")
	}
	frame := welcome.get(t, "frame")
	msg := welcome.get(t, "noise_message")
	if want := append([]byte{byte((len(msg) + 2) >> 8), byte(len(msg) + 2), devproto.KindWelcome, devproto.Version}, msg...); !bytes.Equal(frame, want) {
		t.Fatal("welcome frame is not its header and Noise message")
	}
	dev := rawInitiator(t, welcome.get(t, "device_static_private"), welcome.get(t, "gateway_static_public"), welcome.get(t, "device_ephemeral_private"))
	if _, _, _, err := dev.WriteMessage(nil, login.get(t, "payload")); err != nil {
		t.Fatal(err)
	}
	payload, cs1, cs2, err := dev.ReadMessage(nil, msg)
	if err != nil {
		t.Fatalf("the device cannot read the WELCOME: %v", err)
	}
	if !bytes.Equal(payload, welcome.get(t, "payload")) {
		t.Fatal("welcome payload differs from what message 2 decrypts to")
	}
	assertPayload(t, welcome, "payload", "body", &vAccepted)
	if !bytes.Equal(dev.ChannelBinding(), welcome.get(t, "handshake_hash")) {
		t.Fatal("welcome: handshake hash differs")
	}
	d2g, g2d := cs1.UnsafeKey(), cs2.UnsafeKey()
	if !bytes.Equal(d2g[:], welcome.get(t, "transport_key_device_to_gateway")) || !bytes.Equal(g2d[:], welcome.get(t, "transport_key_gateway_to_device")) {
		t.Fatal("welcome: transport keys differ from the Noise split")
	}
	for _, tt := range []struct {
		name string
		key  []byte
		kind byte
		want devproto.Message
	}{
		{"status", d2g[:], devproto.KindDeviceData, &vStatus},
		{"receive_im", g2d[:], devproto.KindGatewayData, &vReceiveIM},
	} {
		frame := welcome.get(t, "data_"+tt.name+"_frame")
		aead, err := chacha20poly1305.New(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if frame[2] != tt.kind || int(binary.BigEndian.Uint16(frame)) != len(frame)-2 {
			t.Fatalf("data_%s_frame header % x", tt.name, frame[:3])
		}
		plain, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), frame[3:], frame[:3]) // counter 0
		if err != nil {
			t.Fatalf("data_%s_frame does not open with its direction's key and nonce 0: %v", tt.name, err)
		}
		if !bytes.Equal(plain, welcome.get(t, "data_"+tt.name+"_payload")) {
			t.Fatalf("data_%s_frame opens to another payload", tt.name)
		}
		assertPayload(t, welcome, "data_"+tt.name+"_payload", "data_"+tt.name+"_body", tt.want)
	}

	// The RESUME carries the token the WELCOME handed out.
	hello := readHello(t, resume, resume.get(t, "frame"))
	got := hello.Request.(*devproto.Resume)
	if !sameMessage(t, got, &vResume) || !bytes.Equal(got.Token[:], welcome.get(t, "resume_token")) {
		t.Fatalf("resume decodes to %+v", got)
	}
	assertPayload(t, resume, "payload", "body", &vResume)
}

// sameMessage compares two messages by their encodings, which are
// canonical: time.Time values that differ only in location compare equal.
func sameMessage(t *testing.T, a, b devproto.Message) bool {
	t.Helper()
	x, err := devproto.EncodePayloadForTest(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := devproto.EncodePayloadForTest(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// readHello opens a HELLO frame as the gateway of vector v, with its clock
// at the frame's own timestamp.
func readHello(t *testing.T, v vector, frame []byte) *devproto.Hello {
	t.Helper()
	verifier := devprototest.NewVerifier()
	verifier.Register(vLogin.DeviceID, devproto.PublicKey(v.get(t, "device_static_public")))
	var gw devproto.PrivateKey
	copy(gw[:], v.get(t, "gateway_static_private"))
	resp, err := devproto.NewResponder(gw, verifier, devproto.WithClock(func() time.Time { return vResume.Timestamp }))
	if err != nil {
		t.Fatal(err)
	}
	h, err := resp.ReadHello(frame)
	if err != nil {
		t.Fatalf("%s: the gateway cannot read the HELLO: %v", v.name, err)
	}
	if err := h.Verify(context.Background()); err != nil {
		t.Fatalf("%s: %v", v.name, err)
	}
	return h
}

// assertPayload checks that payload decodes to want and that its body,
// decompressed, is the annotated body section.
func assertPayload(t *testing.T, v vector, payloadName, bodyName string, want devproto.Message) {
	t.Helper()
	p := v.get(t, payloadName)
	m, err := devproto.DecodePayloadForTest(p)
	if err != nil {
		t.Fatalf("%s %s: %v", v.name, payloadName, err)
	}
	if !sameMessage(t, m, want) {
		t.Fatalf("%s %s decodes to %+v, want %+v", v.name, payloadName, m, want)
	}
	body, err := devproto.PayloadBodyForTest(p)
	if err != nil || !bytes.Equal(body, v.get(t, bodyName)) {
		t.Fatalf("%s %s: body differs from %s (%v)", v.name, payloadName, bodyName, err)
	}
}

// makeVectors runs the protocol with the fixed inputs and writes each
// vector file's text.
