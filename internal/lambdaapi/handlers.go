package lambdaapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/status"
)

// Store is what the handlers need from the admission store.
type Store interface {
	Admit(ctx context.Context, l admission.Login) (admission.Decision, error)
	Release(ctx context.Context, ref admission.SessionRef) error
	Sweep(ctx context.Context) (admission.SweepReport, error)
	LeaseDuration() time.Duration
	HeartbeatInterval() time.Duration
}

var _ Store = (*admission.Store)(nil)

// ErrNilArgument is a nil store, logger or recorder given to New.
var ErrNilArgument = errors.New("lambdaapi: nil store, logger or metrics recorder")

// Handlers serve the three functions.
type Handlers struct {
	store Store
	log   *slog.Logger
	rec   *metrics.Recorder
	now   func() time.Time
}

// Option configures Handlers.
type Option func(*Handlers)

// WithLogger sets the structured logger (default: discard). Build it with
// Env.Logger, or wrap its handler with NewTraceHandler, so that every line
// carries the request and session ids.
func WithLogger(l *slog.Logger) Option { return func(h *Handlers) { h.log = l } }

// WithMetrics sets the EMF recorder, flushed at the end of every
// invocation (default: one that discards).
func WithMetrics(r *metrics.Recorder) Option { return func(h *Handlers) { h.rec = r } }

// New returns the handlers over store.
func New(store Store, opts ...Option) (*Handlers, error) {
	discard, err := metrics.New(io.Discard)
	if err != nil {
		return nil, err
	}
	h := &Handlers{store: store, log: slog.New(slog.DiscardHandler), rec: discard, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	if store == nil || h.log == nil || h.rec == nil {
		return nil, ErrNilArgument
	}
	return h, nil
}

// Authorize decides a login (the authorize function).
func (h *Handlers) Authorize(ctx context.Context, raw json.RawMessage) (_ AuthorizeResponse, err error) {
	ctx, tr := withTrace(ctx)
	defer func() { h.finish(ctx, manifest.FunctionAuthorize, err) }()
	var req AuthorizeRequest
	if err := decode(raw, &req); err != nil {
		return AuthorizeResponse{}, err
	}
	if err := req.validate(); err != nil {
		return AuthorizeResponse{}, err
	}
	tr.setRequest(req.RequestID)
	log := h.log.With("device", req.DeviceID, "user", req.UserID, "edge", req.EdgeTask)
	start := h.now()
	d, err := h.store.Admit(ctx, req.login())
	if err != nil {
		log.ErrorContext(ctx, "authorize failed", "err", err)
		return AuthorizeResponse{}, classify(err)
	}
	pool := ""
	switch {
	case d.Pool != nil:
		pool = d.Pool.Name
	case d.Session != nil:
		pool = d.Session.Pool
	}
	h.rec.Add(metrics.LoginAttempts, 1, metrics.Pool(pool), metrics.Outcome(d.Status.String()))
	h.rec.ObserveDuration(metrics.AdmissionLatency, h.now().Sub(start), metrics.Pool(pool))
	h.recordEnded(d.Ended)
	resp := AuthorizeResponse{Status: d.Status, Reason: d.Reason, Ended: d.Ended}
	if d.Status == status.Accepted {
		tr.setSession(d.Session.ID)
		resp.Session = &d.Session.SessionRef
		lease := Lease{
			DurationSeconds:  int(h.store.LeaseDuration().Seconds()),
			HeartbeatSeconds: int(h.store.HeartbeatInterval().Seconds()),
		}
		if d.Pool != nil {
			lease.IdleTimeoutSeconds = int(d.Pool.IdleTimeout.Seconds())
			lease.InactivityTimeoutSeconds = int(d.Pool.InactivityTimeout.Seconds())
			gw := d.Pool.GroupWise
			resp.GroupWise = &GroupWise{Host: gw.Host, Port: gw.Port, CARef: gw.CARef, PinSHA256: gw.PinSHA256}
		}
		resp.Lease = &lease
	}
	for _, e := range d.Ended {
		// The ended session's own id, not this login's.
		log.InfoContext(ctx, "authorize ended session", LogSession, e.Session.ID, "pool", e.Session.Pool, "reason", e.Reason, "owner", e.Owner)
	}
	log.InfoContext(ctx, "authorize", "pool", pool, "status", d.Status.String(), "reason", d.Reason, "ended", len(d.Ended))
	return resp, nil
}

// Release ends a session (the release function). It is idempotent.
func (h *Handlers) Release(ctx context.Context, raw json.RawMessage) (_ ReleaseResponse, err error) {
	ctx, tr := withTrace(ctx)
	defer func() { h.finish(ctx, manifest.FunctionRelease, err) }()
	var req ReleaseRequest
	if err := decode(raw, &req); err != nil {
		return ReleaseResponse{}, err
	}
	if err := req.validate(); err != nil {
		return ReleaseResponse{}, err
	}
	tr.setSession(req.Session.ID)
	log := h.log.With("pool", req.Session.Pool, "device", req.Session.DeviceID)
	if err := h.store.Release(ctx, req.Session); err != nil {
		log.ErrorContext(ctx, "release failed", "err", err)
		return ReleaseResponse{}, classify(err)
	}
	h.rec.Add(metrics.Releases, 1, metrics.Pool(req.Session.Pool))
	log.InfoContext(ctx, "release", "reason", req.Reason)
	return ReleaseResponse{Released: true}, nil
}

// Sweep runs the scheduled clean-up (the sweep function).
func (h *Handlers) Sweep(ctx context.Context, raw json.RawMessage) (_ SweepResponse, err error) {
	ctx, _ = withTrace(ctx)
	defer func() { h.finish(ctx, manifest.FunctionSweep, err) }()
	var req SweepRequest
	if err := decode(raw, &req); err != nil {
		return SweepResponse{}, err
	}
	report, err := h.store.Sweep(ctx)
	for _, p := range report.Pools {
		for _, e := range p.Ended {
			h.log.InfoContext(ctx, "sweep ended session", LogSession, e.Session.ID, "pool", p.Pool, "reason", e.Reason, "owner", e.Owner)
		}
		h.recordEnded(p.Ended)
		if err == nil {
			// After a failed sweep a pool's count may be the zero value of
			// one never recounted: no gauge beats a false 0.
			h.rec.Set(metrics.ActiveSessions, float64(p.Live), metrics.Pool(p.Pool))
			h.rec.Set(metrics.CounterDrift, float64(p.Drift), metrics.Pool(p.Pool))
		}
		level := slog.LevelInfo
		if p.Drift != 0 {
			level = slog.LevelWarn
		}
		h.log.Log(ctx, level, "sweep", "pool", p.Pool, "live", p.Live, "drift", p.Drift, "repaired", p.Repaired, "ended", len(p.Ended))
	}
	if err != nil {
		h.log.ErrorContext(ctx, "sweep failed", "err", err)
		return report, classify(err)
	}
	return report, nil
}

func (h *Handlers) recordEnded(ended []admission.Ended) {
	for _, e := range ended {
		h.rec.Add(metrics.Evictions, 1, metrics.Pool(e.Session.Pool), metrics.Reason(string(e.Reason)))
	}
}

// finish counts a failed invocation and flushes the invocation's metrics,
// so they leave with its answer: a Lambda environment may be frozen, or
// never run again, once the handler returns.
func (h *Handlers) finish(ctx context.Context, function string, err error) {
	if err != nil {
		h.rec.Add(metrics.FunctionErrors, 1, metrics.Function(function), metrics.ErrorType(errorType(err)))
		var bad *BadEventError
		if errors.As(err, &bad) {
			h.log.WarnContext(ctx, "bad event", "err", err)
		}
	}
	if ferr := h.rec.Flush(); ferr != nil {
		h.log.WarnContext(ctx, "metrics flush failed", "err", ferr)
	}
}

// errorType names err as the metrics' ErrorType dimension: the typed
// errors' Lambda errorType, InternalError for anything else.
func errorType(err error) string {
	var (
		bad   *BadEventError
		cfg   *ConfigError
		unavl *UnavailableError
	)
	switch {
	case errors.As(err, &bad):
		return ErrorTypeBadEvent
	case errors.As(err, &cfg):
		return ErrorTypeConfig
	case errors.As(err, &unavl):
		return ErrorTypeUnavailable
	}
	return ErrorTypeInternal
}
