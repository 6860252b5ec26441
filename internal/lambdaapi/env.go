package lambdaapi

import (
	"io"
	"log/slog"
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

// EnvFrom reads the configuration through getenv (os.Getenv in main),
// with the defaults and ranges of internal/manifest; the error names every
// wrong variable.
func EnvFrom(getenv func(string) string) (Env, error) {
	r := manifest.NewReader(getenv)
	e := Env{Table: r.Text(manifest.Table)}
	e.Lease, e.Heartbeat = r.LeaseAndHeartbeat()
	e.LogLevel = r.Level()
	return e, r.Err()
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
