package devproto_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

func makeVectors(t *testing.T) map[string]string {
	t.Helper()
	devPub, err := vDeviceStatic.Public()
	if err != nil {
		t.Fatal(err)
	}
	gwPub, err := vGatewayStatic.Public()
	if err != nil {
		t.Fatal(err)
	}
	// The device logs in through the package's own Initiator.
	init, err := devproto.NewInitiator(vDeviceStatic, gwPub, devproto.WithRand(bytes.NewReader(vLoginEphemeral[:])))
	if err != nil {
		t.Fatal(err)
	}
	loginFrame, pending, err := init.Hello(&vLogin)
	if err != nil {
		t.Fatal(err)
	}
	loginPayload, err := devproto.EncodePayloadForTest(&vLogin)
	if err != nil {
		t.Fatal(err)
	}
	// The same handshake by hand must give the same bytes: devproto adds
	// nothing to Noise but the frame header.
	raw := rawInitiator(t, vDeviceStatic[:], gwPub[:], vLoginEphemeral[:])
	rawMsg, _, _, err := raw.WriteMessage(nil, loginPayload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loginFrame[4:], rawMsg) {
		t.Fatal("devproto's HELLO differs from a plain Noise IK message 1 with the same inputs")
	}
	// The stored variant: the same LOGIN with its body not compressed, for
	// devices that never compress.
	body, err := devproto.PayloadBodyForTest(loginPayload)
	if err != nil {
		t.Fatal(err)
	}
	secret := loginPayload[1:18]
	storedPayload := append(append([]byte{0x02}, secret...), body...)
	storedMsg, _, _, err := rawInitiator(t, vDeviceStatic[:], gwPub[:], vLoginEphemeral[:]).WriteMessage(nil, storedPayload)
	if err != nil {
		t.Fatal(err)
	}

	// The gateway answers ACCEPTED; its clock reads the LOGIN's timestamp.
	verifier := devprototest.NewVerifier()
	verifier.Register(vLogin.DeviceID, devPub)
	resp, err := devproto.NewResponder(vGatewayStatic, verifier,
		devproto.WithRand(bytes.NewReader(vWelcomeEph[:])), devproto.WithClock(func() time.Time { return vectorTime }))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := resp.ReadHello(loginFrame)
	if err != nil {
		t.Fatal(err)
	}
	if err := hello.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	welcomeFrame, gwT, err := hello.Reply(&vAccepted)
	if err != nil {
		t.Fatal(err)
	}
	st, devT, err := pending.Finish(welcomeFrame)
	if err != nil || st.Code != status.Accepted {
		t.Fatalf("finish: %v, %v", st, err)
	}
	statusFrame, err := devT.Seal(nil, &vStatus)
	if err != nil {
		t.Fatal(err)
	}
	imFrame, err := gwT.Seal(nil, &vReceiveIM)
	if err != nil {
		t.Fatal(err)
	}
	// The handshake hash and transport keys, from the plain Noise run.
	welcomePayload, cs1, cs2, err := raw.ReadMessage(nil, welcomeFrame[4:])
	if err != nil {
		t.Fatal(err)
	}
	d2g, g2d := cs1.UnsafeKey(), cs2.UnsafeKey()

	// Later the device resumes over a new handshake.
	init2, err := devproto.NewInitiator(vDeviceStatic, gwPub, devproto.WithRand(bytes.NewReader(vResumeEphemeral[:])))
	if err != nil {
		t.Fatal(err)
	}
	resumeFrame, _, err := init2.Hello(&vResume)
	if err != nil {
		t.Fatal(err)
	}
	resumePayload, err := devproto.EncodePayloadForTest(&vResume)
	if err != nil {
		t.Fatal(err)
	}

	keys := func(w *vectorWriter, withGatewayEphemeral bool) {
		w.section("prologue", "the Noise prologue: the ASCII text, a NUL byte, the version byte")
		w.hex([]byte("collabgw device protocol"), `"collabgw device protocol"`)
		w.hex([]byte{0, devproto.Version}, "NUL, version 1")
		w.section("device_static_private", `SHA-256("collabgw test vector: device static"), used as an X25519 private key as it is`)
		w.hex(vDeviceStatic[:], "")
		w.section("device_static_public", "X25519(device_static_private, 9): what `collabgw admin device register` stores")
		w.hex(devPub[:], "")
		w.section("gateway_static_private", `SHA-256("collabgw test vector: gateway static")`)
		w.hex(vGatewayStatic[:], "")
		w.section("gateway_static_public", "provisioned on the device")
		w.hex(gwPub[:], "")
		w.section("device_ephemeral_private", `SHA-256("collabgw test vector: device ephemeral, login"): the first 32 bytes Noise draws from its random source`)
		w.hex(vLoginEphemeral[:], "")
		if withGatewayEphemeral {
			w.section("gateway_ephemeral_private", `SHA-256("collabgw test vector: gateway ephemeral, welcome")`)
			w.hex(vWelcomeEph[:], "")
		}
	}

	files := map[string]string{}

	w := newVectorWriter("login", "HELLO carrying LOGIN (device → gateway, Noise IK message 1)")
	keys(w, false)
	w.section("device_ephemeral_public", "X25519(device_ephemeral_private, 9)")
	w.hex(loginFrame[4:36], "")
	w.note(fmt.Sprintf("LOGIN: device id %q, user id %q, password %q, client version %q, timestamp %d ns",
		vLogin.DeviceID, vLogin.UserID, string(vLogin.Password), vLogin.ClientVersion, vLogin.Timestamp.UnixNano()))
	w.section("body", "the message body before compression: type, then the fields in order")
	w.annotate(loginBody(vLogin))
	pad := (16 - len(vLogin.Password)%16) % 16
	w.section("secret_section", fmt.Sprintf("length byte, the secret, zero padding of the secret (not the section) to a multiple of 16: 1 + %d = %d bytes",
		len(vLogin.Password)+pad, 1+len(vLogin.Password)+pad))
	w.hex([]byte{byte(len(vLogin.Password))}, fmt.Sprintf("length %d", len(vLogin.Password)))
	w.hex([]byte(vLogin.Password), fmt.Sprintf("%q", string(vLogin.Password)))
	w.hex(make([]byte, pad), fmt.Sprintf("%d zero bytes: %d + %d = 16", pad, len(vLogin.Password), pad))
	w.section("payload", "the Noise payload of message 1, as this implementation sends it")
	w.hex(loginPayload[:1], "flags 0x03: bit 0 body is zstd, bit 1 secret section present")
	w.hex(loginPayload[1:18], "secret section (above)")
	w.hex(loginPayload[18:], "body: one zstd frame, magic 28 b5 2f fd stripped, raw-content dictionary")
	w.section("noise_message", "Noise IK message 1: e, es, s, ss, then the payload")
	w.hex(loginFrame[4:36], "e: device ephemeral public key, in clear")
	w.hex(loginFrame[36:84], "s: device static public key, encrypted (32 + 16-byte tag)")
	w.hex(loginFrame[84:], fmt.Sprintf("payload, encrypted (%d + 16-byte tag)", len(loginPayload)))
	w.section("frame", "the HELLO frame as it goes on the wire")
	w.frameHeader(loginFrame, "HELLO")
	w.hex(loginFrame[4:], "Noise message 1 (above)")
	w.note("The same LOGIN with its body stored (flags 0x02), as a device that never compresses sends it;")
	w.comment("same keys and ephemeral key, so message 1 differs only in the encrypted payload.")
	w.section("payload_stored", "flags, secret section, body as is")
	w.hex(storedPayload[:1], "flags 0x02: secret section present, body stored")
	w.hex(storedPayload[1:18], "secret section")
	w.hex(storedPayload[18:], "body (above)")
	w.section("noise_message_stored", "")
	w.hex(storedMsg, "")
	w.section("frame_stored", "")
	w.frameHeader(binary.BigEndian.AppendUint16(nil, uint16(len(storedMsg)+2)), "HELLO")
	w.hex(storedMsg, "Noise message 1")
	files["login.txt"] = w.String()

	w = newVectorWriter("welcome", "WELCOME carrying SERVER_STATUS ACCEPTED (gateway → device, Noise IK message 2), then one DATA frame each way")
	keys(w, true)
	w.section("hello_frame", "login.txt's frame, which this WELCOME answers")
	w.hex(loginFrame, "")
	w.section("resume_token", `SHA-256("collabgw test vector: resume token"): 32 random bytes in real life`)
	w.hex(vToken[:], "")
	w.note(fmt.Sprintf("SERVER_STATUS: code 1 ACCEPTED, session id %q, message %q, retry after 0, status interval %d ms, resume token (secret)",
		vAccepted.SessionID, vAccepted.Message, vAccepted.StatusInterval.Milliseconds()))
	w.section("body", "the message body before compression")
	w.annotate(serverStatusBody(vAccepted))
	w.section("payload", "the Noise payload of message 2")
	w.hex(welcomePayload[:1], flagsNote(welcomePayload[0]))
	w.hex(welcomePayload[1:2], "secret section: length 32")
	w.hex(welcomePayload[2:34], "the resume token; 32 is a multiple of 16, so no padding")
	w.hex(welcomePayload[34:], bodyNote(welcomePayload[0]))
	w.section("noise_message", "Noise IK message 2: e, ee, se, then the payload")
	w.hex(welcomeFrame[4:36], "e: gateway ephemeral public key, in clear")
	w.hex(welcomeFrame[36:], fmt.Sprintf("payload, encrypted (%d + 16-byte tag)", len(welcomePayload)))
	w.section("frame", "the WELCOME frame as it goes on the wire")
	w.frameHeader(welcomeFrame, "WELCOME")
	w.hex(welcomeFrame[4:], "Noise message 2 (above)")
	w.section("handshake_hash", "Noise h after message 2 (for debugging an implementation; not sent)")
	w.hex(raw.ChannelBinding(), "")
	w.section("transport_key_device_to_gateway", "first key of Noise Split(): DEVICE_DATA frames")
	w.hex(d2g[:], "")
	w.section("transport_key_gateway_to_device", "second key of Noise Split(): GATEWAY_DATA frames")
	w.hex(g2d[:], "")
	for _, d := range []struct {
		name, what string
		frame      []byte
		key        [32]byte
		body       []annotated
	}{
		{"status", fmt.Sprintf("the device's first DATA frame: STATUS presence 3 (away), text %q", vStatus.Text), statusFrame, d2g, statusBody(vStatus)},
		{"receive_im", fmt.Sprintf("the gateway's first DATA frame: RECEIVE_IM from %q, text %q, server time %d ns", vReceiveIM.From, vReceiveIM.Text, vReceiveIM.ServerTime.UnixNano()), imFrame, g2d, receiveIMBody(vReceiveIM)},
	} {
		aead, err := chacha20poly1305.New(d.key[:])
		if err != nil {
			t.Fatal(err)
		}
		plain, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), d.frame[3:], d.frame[:3])
		if err != nil {
			t.Fatal(err)
		}
		w.note(strings.ToUpper(d.what[:1]) + d.what[1:])
		w.section("data_"+d.name+"_body", "")
		w.annotate(d.body)
		w.section("data_"+d.name+"_payload", "the plaintext of the DATA frame")
		w.hex(plain[:1], flagsNote(plain[0]))
		w.hex(plain[1:], bodyNote(plain[0]))
		w.section("data_"+d.name+"_frame", "ChaCha20-Poly1305 with the direction's key, nonce 0 (counter 0: 4 zero bytes, 8-byte little-endian counter), additional data the 3-byte header")
		kind := "DEVICE_DATA"
		if d.frame[2] == devproto.KindGatewayData {
			kind = "GATEWAY_DATA"
		}
		w.hex(d.frame[:2], fmt.Sprintf("length %d: kind + ciphertext", len(d.frame)-2))
		w.hex(d.frame[2:3], fmt.Sprintf("kind %s", kind))
		w.hex(d.frame[3:len(d.frame)-devproto.TagLen], "ciphertext")
		w.hex(d.frame[len(d.frame)-devproto.TagLen:], "tag")
	}
	files["welcome.txt"] = w.String()

	w = newVectorWriter("resume", "HELLO carrying RESUME (device → gateway), with the token of welcome.txt")
	keys(w, false)
	// The resume's ephemeral key replaces the login's in this file.
	w.section("resume_ephemeral_private", `SHA-256("collabgw test vector: device ephemeral, resume"): a new handshake, a new ephemeral key`)
	w.hex(vResumeEphemeral[:], "")
	w.note(fmt.Sprintf("RESUME: device id %q, session id %q, timestamp %d ns (a minute after the LOGIN), resume token (secret, from welcome.txt)",
		vResume.DeviceID, vResume.SessionID, vResume.Timestamp.UnixNano()))
	w.section("body", "the message body before compression")
	w.annotate(resumeBody(vResume))
	w.section("payload", "the Noise payload of message 1")
	w.hex(resumePayload[:1], flagsNote(resumePayload[0]))
	w.hex(resumePayload[1:2], "secret section: length 32")
	w.hex(resumePayload[2:34], "the resume token, no padding")
	w.hex(resumePayload[34:], bodyNote(resumePayload[0]))
	w.section("noise_message", "Noise IK message 1")
	w.hex(resumeFrame[4:36], "e: the resume's ephemeral public key")
	w.hex(resumeFrame[36:84], "s: device static public key, encrypted")
	w.hex(resumeFrame[84:], fmt.Sprintf("payload, encrypted (%d + 16-byte tag)", len(resumePayload)))
	w.section("frame", "the HELLO frame as it goes on the wire")
	w.frameHeader(resumeFrame, "HELLO")
	w.hex(resumeFrame[4:], "Noise message 1 (above)")
	files["resume.txt"] = w.String()
	return files
}

func flagsNote(flags byte) string {
	parts := []string{"body stored"}
	if flags&0x01 != 0 {
		parts[0] = "bit 0 body is zstd"
	}
	if flags&0x02 != 0 {
		parts = append(parts, "bit 1 secret section present")
	}
	return fmt.Sprintf("flags %#02x: %s", flags, strings.Join(parts, ", "))
}

func bodyNote(flags byte) string {
	if flags&0x01 != 0 {
		return "body: one zstd frame, magic stripped"
	}
	return "body, stored (shorter than zstd would make it)"
}

func rawInitiator(t *testing.T, static, gateway, ephemeral []byte) *noise.HandshakeState {
	t.Helper()
	pub, err := curve25519.X25519(static, curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   devproto.CipherSuite,
		Random:        bytes.NewReader(ephemeral),
		Pattern:       noise.HandshakeIK,
		Initiator:     true,
		Prologue:      devproto.Prologue,
		StaticKeypair: noise.DHKey{Private: static, Public: pub},
		PeerStatic:    gateway,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// The bodies, field by field, made here by hand from the document's field
// encodings rather than by the package: the read-back test compares them
// with what the package's payloads decompress to.

type annotated struct {
	b    []byte
	note string
}

func leb128(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func strField(name, s string) annotated {
	return annotated{append(leb128(uint64(len(s))), s...), fmt.Sprintf("%s: length %d, %q", name, len(s), s)}
}

func timeField(name string, t time.Time) annotated {
	return annotated{binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), fmt.Sprintf("%s: %d ns, int64 big-endian", name, t.UnixNano())}
}

func msField(name string, d time.Duration) annotated {
	return annotated{leb128(uint64(d.Milliseconds())), fmt.Sprintf("%s: %d ms, uvarint (LEB128)", name, d.Milliseconds())}
}

func loginBody(l devproto.Login) []annotated {
	return []annotated{
		{[]byte{1}, "type 1 LOGIN"},
		strField("device id", l.DeviceID),
		strField("user id", l.UserID),
		strField("client version", l.ClientVersion),
		timeField("timestamp", l.Timestamp),
	}
}

func resumeBody(r devproto.Resume) []annotated {
	return []annotated{
		{[]byte{6}, "type 6 RESUME"},
		strField("device id", r.DeviceID),
		strField("session id", r.SessionID),
		timeField("timestamp", r.Timestamp),
	}
}

func serverStatusBody(s devproto.ServerStatus) []annotated {
	return []annotated{
		{[]byte{2}, "type 2 SERVER_STATUS"},
		{leb128(uint64(s.Code)), fmt.Sprintf("code %d %v", s.Code, s.Code)},
		strField("session id", s.SessionID),
		strField("message", s.Message),
		msField("retry after", s.RetryAfter),
		msField("status interval", s.StatusInterval),
	}
}

func statusBody(s devproto.Status) []annotated {
	return []annotated{
		{[]byte{3}, "type 3 STATUS"},
		{[]byte{byte(s.Presence)}, fmt.Sprintf("presence %d", s.Presence)},
		strField("text", s.Text),
	}
}

func receiveIMBody(m devproto.ReceiveIM) []annotated {
	return []annotated{
		{[]byte{5}, "type 5 RECEIVE_IM"},
		strField("from", m.From),
		strField("text", m.Text),
		timeField("server time", m.ServerTime),
	}
}
