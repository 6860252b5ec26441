package devproto

import (
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/collabgw/collabgw/internal/status"
)

// Field encoding: strings are a uvarint length then UTF-8 bytes; integers are
// uvarints (canonical, shortest form only); times are 8-byte big-endian Unix
// nanoseconds; durations are uvarint milliseconds. Decoding is strict (no
// trailing bytes, no overlong varints, no zero padding left unchecked) so
// that a message has exactly one encoding.

// fieldWriter appends fields and remembers the first invalid one.
type fieldWriter struct {
	b   []byte
	t   MsgType
	err error
}

func (w *fieldWriter) fail(field string) {
	if w.err == nil {
		w.err = &FieldError{Type: w.t, Field: field, Err: ErrInvalidMessage}
	}
}

func (w *fieldWriter) str(field, s string, minLen, maxLen int) {
	if len(s) < minLen || len(s) > maxLen || !utf8.ValidString(s) {
		w.fail(field)
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// deviceID appends a device id: a str whose bytes are all deviceIDChar.
func (w *fieldWriter) deviceID(field, id string) {
	if CheckDeviceID(id) != nil {
		w.fail(field)
		return
	}
	w.str(field, id, 1, MaxDeviceIDLen)
}

func (w *fieldWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *fieldWriter) time(field string, t time.Time) {
	n := t.UnixNano()
	if n <= 0 || !time.Unix(0, n).Equal(t) {
		w.fail(field)
		return
	}
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(n))
}

func (w *fieldWriter) duration(field string, d time.Duration) {
	if d < 0 || d > MaxDuration {
		w.fail(field)
		return
	}
	w.uvarint(uint64(d / time.Millisecond))
}

// fieldReader consumes fields and remembers the first malformed one.
type fieldReader struct {
	b   []byte
	t   MsgType
	err error
}

func (r *fieldReader) fail(field string) {
	if r.err == nil {
		r.err = &FieldError{Type: r.t, Field: field, Err: ErrMalformed}
	}
	r.b = nil
}

// done reports the first malformed field, or trailing bytes.
func (r *fieldReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

func (r *fieldReader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	// n must also be the shortest encoding, or two byte strings would
	// decode to one message.
	if n <= 0 || n != uvarintLen(v) {
		r.fail(field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (r *fieldReader) str(field string, minLen, maxLen int) string {
	n := r.uvarint(field)
	if r.err != nil {
		return ""
	}
	if n < uint64(minLen) || n > uint64(maxLen) || n > uint64(len(r.b)) {
		r.fail(field)
		return ""
	}
	s := r.b[:n]
	if !utf8.Valid(s) {
		r.fail(field)
		return ""
	}
	r.b = r.b[n:]
	return string(s)
}

func (r *fieldReader) deviceID(field string) string {
	id := r.str(field, 1, MaxDeviceIDLen)
	if r.err == nil && CheckDeviceID(id) != nil {
		r.fail(field)
		return ""
	}
	return id
}

func (r *fieldReader) time(field string) time.Time {
	if r.err != nil {
		return time.Time{}
	}
	if len(r.b) < 8 {
		r.fail(field)
		return time.Time{}
	}
	n := int64(binary.BigEndian.Uint64(r.b))
	if n <= 0 {
		r.fail(field)
		return time.Time{}
	}
	r.b = r.b[8:]
	return time.Unix(0, n)
}

func (r *fieldReader) duration(field string) time.Duration {
	ms := r.uvarint(field)
	if r.err != nil {
		return 0
	}
	if ms > uint64(MaxDuration/time.Millisecond) {
		r.fail(field)
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func (m *Login) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeLogin}
	w.deviceID("DeviceID", m.DeviceID)
	w.str("UserID", m.UserID, 1, MaxUserIDLen)
	w.str("ClientVersion", m.ClientVersion, 0, MaxClientVersionLen)
	w.time("Timestamp", m.Timestamp)
	if len(m.Password) == 0 || len(m.Password) > MaxPasswordLen {
		w.fail("Password")
	}
	return w.b, w.err
}

func (m *Login) secret() []byte { return []byte(m.Password) }

func (m *Login) decodeFields(b, secret []byte) error {
	r := fieldReader{b: b, t: TypeLogin}
	m.DeviceID = r.deviceID("DeviceID")
	m.UserID = r.str("UserID", 1, MaxUserIDLen)
	m.ClientVersion = r.str("ClientVersion", 0, MaxClientVersionLen)
	m.Timestamp = r.time("Timestamp")
	if len(secret) == 0 || len(secret) > MaxPasswordLen {
		r.fail("Password")
		return r.done()
	}
	m.Password = Password(secret)
	return r.done()
}

func (m *Resume) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeResume}
	w.deviceID("DeviceID", m.DeviceID)
	w.str("SessionID", m.SessionID, 1, MaxSessionIDLen)
	w.time("Timestamp", m.Timestamp)
	if m.Token.IsZero() {
		w.fail("Token")
	}
	return w.b, w.err
}

func (m *Resume) secret() []byte { return m.Token[:] }

func (m *Resume) decodeFields(b, secret []byte) error {
	r := fieldReader{b: b, t: TypeResume}
	m.DeviceID = r.deviceID("DeviceID")
	m.SessionID = r.str("SessionID", 1, MaxSessionIDLen)
	m.Timestamp = r.time("Timestamp")
	if len(secret) != TokenLen {
		r.fail("Token")
		return r.done()
	}
	copy(m.Token[:], secret)
	if m.Token.IsZero() {
		r.fail("Token")
	}
	return r.done()
}

func (m *ServerStatus) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeServerStatus}
	if !m.Code.Valid() {
		w.fail("Code")
	}
	w.uvarint(uint64(m.Code))
	// The token and session id belong to ACCEPTED alone: a refusal must
	// not hand out a credential.
	if m.Code == status.Accepted {
		w.str("SessionID", m.SessionID, 1, MaxSessionIDLen)
		if m.ResumeToken.IsZero() {
			w.fail("ResumeToken")
		}
	} else {
		w.str("SessionID", m.SessionID, 0, MaxSessionIDLen)
		if !m.ResumeToken.IsZero() {
			w.fail("ResumeToken")
		}
	}
	w.str("Message", m.Message, 0, MaxServerMessageLen)
	w.duration("RetryAfter", m.RetryAfter)
	w.duration("StatusInterval", m.StatusInterval)
	return w.b, w.err
}

func (m *ServerStatus) secret() []byte {
	if m.Code != status.Accepted {
		return nil
	}
	return m.ResumeToken[:]
}

func (m *ServerStatus) decodeFields(b, secret []byte) error {
	r := fieldReader{b: b, t: TypeServerStatus}
	code := r.uvarint("Code")
	if r.err == nil && (code > uint64(^uint16(0)) || !status.Code(code).Valid()) {
		r.fail("Code")
	}
	m.Code = status.Code(code)
	if m.Code == status.Accepted {
		m.SessionID = r.str("SessionID", 1, MaxSessionIDLen)
		if len(secret) != TokenLen {
			r.fail("ResumeToken")
		} else {
			copy(m.ResumeToken[:], secret)
			if m.ResumeToken.IsZero() {
				r.fail("ResumeToken")
			}
		}
	} else {
		m.SessionID = r.str("SessionID", 0, MaxSessionIDLen)
		if secret != nil {
			r.fail("ResumeToken")
		}
	}
	m.Message = r.str("Message", 0, MaxServerMessageLen)
	m.RetryAfter = r.duration("RetryAfter")
	m.StatusInterval = r.duration("StatusInterval")
	return r.done()
}

func (m *Status) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeStatus}
	if m.Presence < PresenceOnline || m.Presence > PresenceAppearOffline {
		w.fail("Presence")
	}
	w.b = append(w.b, byte(m.Presence))
	w.str("Text", m.Text, 0, MaxStatusTextLen)
	return w.b, w.err
}

func (*Status) secret() []byte { return nil }

func (m *Status) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypeStatus}
	if len(r.b) == 0 || r.b[0] < byte(PresenceOnline) || r.b[0] > byte(PresenceAppearOffline) {
		r.fail("Presence")
		return r.done()
	}
	m.Presence = Presence(r.b[0])
	r.b = r.b[1:]
	m.Text = r.str("Text", 0, MaxStatusTextLen)
	return r.done()
}

func (m *SendIM) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeSendIM}
	w.str("To", m.To, 1, MaxUserIDLen)
	w.str("Text", m.Text, 1, MaxIMTextLen)
	w.uvarint(m.ClientMsgID)
	return w.b, w.err
}

func (*SendIM) secret() []byte { return nil }

func (m *SendIM) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypeSendIM}
	m.To = r.str("To", 1, MaxUserIDLen)
	m.Text = r.str("Text", 1, MaxIMTextLen)
	m.ClientMsgID = r.uvarint("ClientMsgID")
	return r.done()
}

func (m *ReceiveIM) appendFields(dst []byte) ([]byte, error) {
	w := fieldWriter{b: dst, t: TypeReceiveIM}
	w.str("From", m.From, 1, MaxUserIDLen)
	w.str("Text", m.Text, 1, MaxIMTextLen)
	w.time("ServerTime", m.ServerTime)
	return w.b, w.err
}

func (*ReceiveIM) secret() []byte { return nil }

func (m *ReceiveIM) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypeReceiveIM}
	m.From = r.str("From", 1, MaxUserIDLen)
	m.Text = r.str("Text", 1, MaxIMTextLen)
	m.ServerTime = r.time("ServerTime")
	return r.done()
}

func (*Logout) appendFields(dst []byte) ([]byte, error) { return dst, nil }
func (*Logout) secret() []byte                          { return nil }
func (*Logout) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypeLogout}
	return r.done()
}

func (m *Ping) appendFields(dst []byte) ([]byte, error) { return binary.AppendUvarint(dst, m.ID), nil }
func (*Ping) secret() []byte                            { return nil }
func (m *Ping) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypePing}
	m.ID = r.uvarint("ID")
	return r.done()
}

func (m *Pong) appendFields(dst []byte) ([]byte, error) { return binary.AppendUvarint(dst, m.ID), nil }
func (*Pong) secret() []byte                            { return nil }
func (m *Pong) decodeFields(b, _ []byte) error {
	r := fieldReader{b: b, t: TypePong}
	m.ID = r.uvarint("ID")
	return r.done()
}
