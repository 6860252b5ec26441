// Package lambdaapi owns the payloads of collabgw's Lambda functions and
// the handlers behind them: authorize (admit a login), release (end a
// session) and sweep (scheduled clean-up). The functions' main packages only
// read the environment, build the clients and call lambda.Start with these
// handlers.
//
// Handler rules: every handler takes the raw event and decodes it strictly
// (unknown fields and missing required fields are a *BadEventError), so a
// bad event never reaches the store and never causes a partial write.
// Failures are typed (*BadEventError, *ConfigError, *UnavailableError) and
// the Lambda runtime reports the type name as errorType. No payload carries
// a password: it never leaves the edge.
package lambdaapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/status"
)

// MaxEventBytes bounds an event; real ones are a few hundred bytes.
const MaxEventBytes = 64 << 10

// AuthorizeRequest asks to admit a login whose device handshake the edge
// has verified.
type AuthorizeRequest struct {
	RequestID string `json:"requestId"`
	DeviceID  string `json:"deviceId"`
	// DevicePublicKey is the device's Noise static key (base64 in JSON).
	DevicePublicKey []byte `json:"devicePublicKey"`
	// DeviceTime is the timestamp from the device's login message. It must
	// be within the clock window of authorize's clock (as the edge already
	// checked), or the login is refused (PROTOCOL_ERROR, reason
	// device-clock-skew) and nothing is stored. `collabgw invoke` puts the
	// current time into the sample events.
	DeviceTime    time.Time `json:"deviceTime"`
	UserID        string    `json:"userId"`
	ClientVersion string    `json:"clientVersion"`
	EdgeTask      string    `json:"edgeTask"`
	SourceAddr    string    `json:"sourceAddr"`
	// ResumeTokenHash is the SHA-256 hash (32 bytes, base64 in JSON) of the
	// resume token the edge will issue.
	ResumeTokenHash []byte `json:"resumeTokenHash"`
}

func (r AuthorizeRequest) validate() error {
	var missing []string
	for name, v := range map[string]string{
		"requestId": r.RequestID, "deviceId": r.DeviceID, "userId": r.UserID, "edgeTask": r.EdgeTask,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(r.DevicePublicKey) == 0 {
		missing = append(missing, "devicePublicKey")
	}
	if r.DeviceTime.IsZero() {
		missing = append(missing, "deviceTime")
	}
	if len(r.ResumeTokenHash) == 0 {
		missing = append(missing, "resumeTokenHash")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &BadEventError{Reason: fmt.Sprintf("missing %v", missing)}
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"devicePublicKey", r.DevicePublicKey}, {"resumeTokenHash", r.ResumeTokenHash}} {
		if len(f.b) != keyLen {
			return &BadEventError{Reason: fmt.Sprintf("field %s: %d bytes, want %d", f.name, len(f.b), keyLen)}
		}
	}
	return nil
}

// keyLen is the length of a device public key (X25519) and of a resume
// token's hash (SHA-256).
const keyLen = admission.ResumeTokenHashLen

func (r AuthorizeRequest) login() admission.Login {
	return admission.Login{
		RequestID:       r.RequestID,
		DeviceID:        r.DeviceID,
		DevicePublicKey: r.DevicePublicKey,
		DeviceTime:      r.DeviceTime,
		UserID:          r.UserID,
		ClientVersion:   r.ClientVersion,
		Owner:           r.EdgeTask,
		SourceAddr:      r.SourceAddr,
		ResumeTokenHash: r.ResumeTokenHash,
	}
}

// AuthorizeResponse is the decision. Session, Lease and GroupWise are set
// only when Status is ACCEPTED.
type AuthorizeResponse struct {
	Status status.Code `json:"status"`
	// Reason is a short machine-readable cause, for logs and metrics.
	Reason    string                `json:"reason"`
	Session   *admission.SessionRef `json:"session,omitempty"`
	Lease     *Lease                `json:"lease,omitempty"`
	GroupWise *GroupWise            `json:"groupwise,omitempty"`
	// Ended lists sessions this login ended (evicted idle ones or ones of
	// dead tasks, or the device's replaced session); their edges learn it
	// from this answer or at their next heartbeat.
	Ended []admission.Ended `json:"ended,omitempty"`
}

// Lease tells the edge how the session is kept: its task's lease and
// heartbeat, and the pool's timeouts, from which the edge derives the
// STATUS interval it gives the device and when it marks the session silent
// (admission.StatusTiming).
type Lease struct {
	DurationSeconds  int `json:"durationSeconds"`
	HeartbeatSeconds int `json:"heartbeatSeconds"`
	// IdleTimeoutSeconds and InactivityTimeoutSeconds are the pool's
	// timeouts (0: none).
	IdleTimeoutSeconds       int `json:"idleTimeoutSeconds"`
	InactivityTimeoutSeconds int `json:"inactivityTimeoutSeconds,omitempty"`
}

// GroupWise says where the edge logs the user in.
type GroupWise struct {
	Host      string `json:"host"`
	Port      int    `json:"port"`
	CARef     string `json:"caRef,omitempty"`
	PinSHA256 string `json:"pinSha256,omitempty"`
}

// ReleaseRequest ends a session.
type ReleaseRequest struct {
	Session admission.SessionRef `json:"session"`
	// Reason is recorded in the log line (e.g. "logout", "groupwise-rejected").
	Reason string `json:"reason,omitempty"`
}

func (r ReleaseRequest) validate() error {
	if r.Session.Pool == "" || r.Session.DeviceID == "" || r.Session.ID == "" {
		return &BadEventError{Reason: "missing session.pool, session.deviceId or session.sessionId"}
	}
	return nil
}

// ReleaseResponse confirms a release; releasing a session that is already
// gone is also a success.
type ReleaseResponse struct {
	Released bool `json:"released"`
}

// SweepRequest is the EventBridge scheduled event (only its source and
// time are read; an empty object is also accepted for manual runs).
type SweepRequest struct {
	Version    string          `json:"version,omitempty"`
	ID         string          `json:"id,omitempty"`
	DetailType string          `json:"detail-type,omitempty"`
	Source     string          `json:"source,omitempty"`
	Account    string          `json:"account,omitempty"`
	Time       time.Time       `json:"time,omitempty"`
	Region     string          `json:"region,omitempty"`
	Resources  []string        `json:"resources,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

// SweepResponse reports what the sweep did.
type SweepResponse = admission.SweepReport

// decode reads one JSON event strictly into v.
func decode(raw []byte, v any) error {
	if len(raw) > MaxEventBytes {
		return &BadEventError{Reason: fmt.Sprintf("event of %d bytes exceeds %d", len(raw), MaxEventBytes)}
	}
	if err := strictDecode(raw, v); err != nil {
		return &BadEventError{Reason: "malformed JSON: " + describeJSONError(raw, v, err)}
	}
	return nil
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("data after the event")

// describeJSONError says what is wrong with an event, naming the field,
// without quoting any of its values: encoding/json and the types it calls
// (time, base64, status) echo the offending value, and an event that is
// wrong because a secret ended up in it must not carry that secret into
// the logs or back to the edge.
func describeJSONError(raw []byte, v any, err error) string {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, errTrailingData):
		return err.Error()
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf("the event is a JSON %s, not an object", jsonKind(typ.Value))
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s: a JSON %s is not a %s", typ.Field, jsonKind(typ.Value), typ.Type)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated event"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	// A value its type refused (a time, base64 bytes, a status name): find
	// the field by decoding the fields one at a time.
	if field := failingField(raw, v); field != "" {
		return fmt.Sprintf("field %s: invalid value", field)
	}
	return "a field has an invalid value"
}

// jsonKind turns encoding/json's description of a value ("number 5",
// "array") into its kind alone.
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	return kind
}

// failingField returns the first top-level field (in sorted order) whose
// value alone does not decode into v's type; "" when none does.
func failingField(raw []byte, v any) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return ""
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	t := reflect.TypeOf(v).Elem()
	for _, name := range names {
		one, err := json.Marshal(map[string]json.RawMessage{name: fields[name]})
		if err != nil {
			continue
		}
		if json.Unmarshal(one, reflect.New(t).Interface()) != nil {
			return name
		}
	}
	return ""
}
