package lambdaapi

import (
	"context"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Log attribute names every line of an invocation carries, so that one
// login can be followed from the edge (which logs the same request id)
// through the function and the admission store.
const (
	LogRequest    = "request"      // the edge's login request id; the Lambda request id otherwise
	LogSession    = "session"      // the session id, empty until the login is admitted
	LogAWSRequest = "awsRequestId" // the Lambda request id, as in the runtime's START/END/REPORT lines
)

// trace is what an invocation has learnt about itself; the logging
// handler adds it to every line logged with the invocation's context, also
// the admission store's, which knows nothing of it.
type trace struct {
	mu         sync.Mutex // guards request and session
	request    string
	session    string
	awsRequest string
}

type traceKey struct{}

// withTrace starts an invocation's trace; the request id defaults to the
// Lambda request id.
func withTrace(ctx context.Context) (context.Context, *trace) {
	tr := &trace{}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		tr.awsRequest, tr.request = lc.AwsRequestID, lc.AwsRequestID
	}
	return context.WithValue(ctx, traceKey{}, tr), tr
}

func (t *trace) setRequest(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.request = id
}

func (t *trace) setSession(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.session = id
}

func (t *trace) attrs() (request, session, awsRequest string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.request, t.session, t.awsRequest
}

// traceHandler adds the invocation's request and session ids to every
// record that does not carry them already (a line that names a session,
// such as a sweep's ended session, keeps its own).
type traceHandler struct {
	next slog.Handler
	has  map[string]bool // trace keys set by WithAttrs
}

// NewTraceHandler wraps next so that every record logged with an
// invocation's context carries LogRequest, LogSession and LogAWSRequest.
func NewTraceHandler(next slog.Handler) slog.Handler {
	return traceHandler{next: next, has: map[string]bool{}}
}

func (h traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	tr, ok := ctx.Value(traceKey{}).(*trace)
	if !ok {
		return h.next.Handle(ctx, r)
	}
	present := map[string]bool{LogRequest: h.has[LogRequest], LogSession: h.has[LogSession], LogAWSRequest: h.has[LogAWSRequest]}
	r.Attrs(func(a slog.Attr) bool {
		if _, ok := present[a.Key]; ok {
			present[a.Key] = true
		}
		return true
	})
	request, session, awsRequest := tr.attrs()
	for _, a := range []slog.Attr{slog.String(LogRequest, request), slog.String(LogSession, session), slog.String(LogAWSRequest, awsRequest)} {
		if !present[a.Key] {
			r.AddAttrs(a)
		}
	}
	return h.next.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := map[string]bool{}
	for k, v := range h.has {
		has[k] = v
	}
	for _, a := range attrs {
		switch a.Key {
		case LogRequest, LogSession, LogAWSRequest:
			has[a.Key] = true
		}
	}
	return traceHandler{next: h.next.WithAttrs(attrs), has: has}
}

// WithGroup passes through: collabgw's loggers use no groups, and a trace
// attribute added inside one would be harder, not easier, to query.
func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{next: h.next.WithGroup(name), has: h.has}
}
