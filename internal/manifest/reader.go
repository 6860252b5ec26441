package manifest

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of a Reader; every error it returns wraps one of them.
var (
	ErrSettingMissing = errors.New("manifest: required setting is not set")
	ErrSettingInvalid = errors.New("manifest: invalid setting")
)

// SettingError names a setting whose value a program cannot start with.
type SettingError struct {
	Env string
	// Value is what the environment held; empty for a secret, which never
	// appears in an error.
	Value string
	// Reason says why the value is wrong, or what would be accepted.
	Reason string
	// Err is ErrSettingMissing or ErrSettingInvalid, or wraps one of them.
	Err error
}

// maxQuoted bounds the part of a bad value an error repeats.
const maxQuoted = 64

func (e *SettingError) Error() string {
	switch {
	case errors.Is(e.Err, ErrSettingMissing):
		return fmt.Sprintf("%s is required: %s", e.Env, e.Reason)
	case e.Value == "":
		return fmt.Sprintf("%s: %s", e.Env, e.Reason)
	}
	v := e.Value
	if len(v) > maxQuoted {
		v = v[:maxQuoted] + "..."
	}
	return fmt.Sprintf("%s=%q: %s", e.Env, v, e.Reason)
}

// Unwrap returns the sentinel (or the cause that wraps it).
func (e *SettingError) Unwrap() error { return e.Err }

// Reader reads settings from an environment once, at start. It collects
// every error instead of stopping at the first, so a task that fails to
// start says everything that is wrong with its configuration at once; Err
// returns them. The zero Reader is not usable: use NewReader.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// NewReader reads through getenv (os.Getenv in a main).
func NewReader(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Err returns every error found so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Invalid records that s holds a value the program cannot use, for checks
// only the program can make (a key that does not decode). why must not
// contain the value of a secret.
func (r *Reader) Invalid(s Setting, why string) {
	e := &SettingError{Env: s.Env, Reason: why, Err: ErrSettingInvalid}
	if s.Kind != KindSecret {
		e.Value = r.getenv(s.Env)
	}
	r.errs = append(r.errs, e)
}

// raw returns the value of s, or its default when unset; ok is false when
// there is neither (and an error was recorded if s is required).
func (r *Reader) raw(s Setting) (v string, ok bool) {
	if v = r.getenv(s.Env); v != "" {
		return v, true
	}
	if s.Required {
		r.errs = append(r.errs, &SettingError{Env: s.Env, Reason: strings.TrimSuffix(s.Description, "."), Err: ErrSettingMissing})
		return "", false
	}
	return s.Default, s.Default != ""
}

func (r *Reader) kind(s Setting, want ...Kind) bool {
	if slices.Contains(want, s.Kind) {
		return true
	}
	r.errs = append(r.errs, fmt.Errorf("%w: %s is read as the wrong kind (a bug)", ErrSettingInvalid, s.Env))
	return false
}

// Text returns a KindText setting ("" when unset without a default).
func (r *Reader) Text(s Setting) string {
	if !r.kind(s, KindText) {
		return ""
	}
	v, _ := r.raw(s)
	return v
}

// Secret returns a KindSecret setting ("" when unset and optional). Parse
// it, and report a bad one with Invalid.
func (r *Reader) Secret(s Setting) string {
	if !r.kind(s, KindSecret) {
		return ""
	}
	v, _ := r.raw(s)
	return v
}

// Choice returns a KindChoice setting: one of s.Choices, compared without
// regard to case and returned as written in Choices.
func (r *Reader) Choice(s Setting) string {
	if !r.kind(s, KindChoice) {
		return ""
	}
	v, ok := r.raw(s)
	if !ok {
		return ""
	}
	for _, c := range s.Choices {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	r.bad(s, v)
	return s.Default
}

// number parses and range-checks a numeric setting; it is 0 when unset
// without a default, or wrong (and then an error was recorded).
func (r *Reader) number(s Setting, kinds ...Kind) float64 {
	if !r.kind(s, kinds...) {
		return 0
	}
	v, ok := r.raw(s)
	if !ok {
		return 0
	}
	var n float64
	if s.Whole() {
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		n = float64(i)
		ok = err == nil
	} else {
		var err error
		n, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
		ok = err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	if !ok || n < s.Min || n > s.Max {
		r.bad(s, v)
		return 0
	}
	return n
}

func (r *Reader) bad(s Setting, v string) {
	r.errs = append(r.errs, &SettingError{Env: s.Env, Value: v, Reason: "want " + s.Want(), Err: ErrSettingInvalid})
}

// Seconds returns a KindSeconds setting as a duration (0 when unset
// without a default, or wrong).
func (r *Reader) Seconds(s Setting) time.Duration {
	return time.Duration(r.number(s, KindSeconds)) * time.Second
}

// Count returns a KindCount setting (0 when unset without a default, or
// wrong).
func (r *Reader) Count(s Setting) int {
	return int(r.number(s, KindCount))
}

// Rate returns a KindRate setting (0 when unset without a default, or
// wrong).
func (r *Reader) Rate(s Setting) float64 {
	return r.number(s, KindRate)
}

// Level returns COLLABGW_LOG_LEVEL as a slog level.
func (r *Reader) Level() slog.Level {
	var l slog.Level
	// Every choice is a slog level name; UnmarshalText cannot fail on one.
	_ = l.UnmarshalText([]byte(r.Choice(LogLevel)))
	return l
}

// LeaseAndHeartbeat returns the session lease and heartbeat, and checks
// that the lease spans at least two heartbeats: one lost heartbeat must not
// end a session. The edge and the functions read them the same way.
func (r *Reader) LeaseAndHeartbeat() (lease, heartbeat time.Duration) {
	lease, heartbeat = r.Seconds(Lease), r.Seconds(Heartbeat)
	if lease > 0 && heartbeat > 0 && lease < 2*heartbeat {
		r.errs = append(r.errs, &SettingError{
			Env: Lease.Env, Value: r.getenv(Lease.Env),
			Reason: fmt.Sprintf("must be at least twice %s (%v): one lost heartbeat must not end a session", Heartbeat.Env, heartbeat),
			Err:    ErrSettingInvalid,
		})
	}
	return lease, heartbeat
}
