package lambdaapi

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/manifest"
)

// Env is the functions' configuration, read once at start from the
// environment variables named in internal/manifest.
type Env struct {
	Table     string
	Lease     time.Duration
	Heartbeat time.Duration
	LogLevel  slog.Level
}

// EnvFrom reads the configuration through getenv (os.Getenv in main).
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{
		Table:     getenv(manifest.EnvTable),
		Lease:     admission.DefaultLeaseDuration,
		Heartbeat: admission.DefaultHeartbeatInterval,
	}
	if e.Table == "" {
		return e, fmt.Errorf("%s is required", manifest.EnvTable)
	}
	for name, dst := range map[string]*time.Duration{
		manifest.EnvLeaseSeconds:     &e.Lease,
		manifest.EnvHeartbeatSeconds: &e.Heartbeat,
	} {
		v := getenv(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3600 {
			return e, fmt.Errorf("%s=%q: want whole seconds between 1 and 3600", name, v)
		}
		*dst = time.Duration(n) * time.Second
	}
	if v := getenv(manifest.EnvLogLevel); v != "" {
		if err := e.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			return e, fmt.Errorf("%s=%q: want debug, info, warn or error", manifest.EnvLogLevel, v)
		}
	}
	return e, nil
}

// StoreOptions are the admission store options the configuration implies.
func (e Env) StoreOptions(log *slog.Logger) []admission.Option {
	return []admission.Option{admission.WithLease(e.Lease, e.Heartbeat), admission.WithLogger(log)}
}

// Logger returns a JSON logger at the configured level, the format
// CloudWatch Logs Insights queries by field, whose every line logged with
// an invocation's context carries the request and session ids.
func (e Env) Logger(w io.Writer) *slog.Logger {
	return slog.New(NewTraceHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: e.LogLevel})))
}
