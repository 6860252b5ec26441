package lambdaapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
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

// Handlers serve the three functions.
type Handlers struct {
	store Store
	log   *slog.Logger
}

// Option configures Handlers.
type Option func(*Handlers)

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(h *Handlers) { h.log = l } }

// New returns the handlers over store.
func New(store Store, opts ...Option) (*Handlers, error) {
	h := &Handlers{store: store, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(h)
	}
	if store == nil || h.log == nil {
		return nil, errors.New("lambdaapi: nil store or logger")
	}
	return h, nil
}

// Authorize decides a login (the authorize function).
func (h *Handlers) Authorize(ctx context.Context, raw json.RawMessage) (AuthorizeResponse, error) {
	var req AuthorizeRequest
	if err := decode(raw, &req); err != nil {
		return AuthorizeResponse{}, err
	}
	if err := req.validate(); err != nil {
		return AuthorizeResponse{}, err
	}
	log := h.log.With("request", req.RequestID, "device", req.DeviceID, "user", req.UserID, "edge", req.EdgeTask)
	d, err := h.store.Admit(ctx, req.login())
	if err != nil {
		log.ErrorContext(ctx, "authorize failed", "err", err)
		return AuthorizeResponse{}, classify(err)
	}
	resp := AuthorizeResponse{Status: d.Status, Reason: d.Reason, Ended: d.Ended}
	if d.Status == status.Accepted {
		resp.Session = &d.Session.SessionRef
		lease := Lease{
			Expires:          d.Session.LeaseExpires,
			DurationSeconds:  int(h.store.LeaseDuration().Seconds()),
			HeartbeatSeconds: int(h.store.HeartbeatInterval().Seconds()),
		}
		if d.Pool != nil {
			lease.IdleTimeoutSeconds = int(d.Pool.IdleTimeout.Seconds())
			gw := d.Pool.GroupWise
			resp.GroupWise = &GroupWise{Host: gw.Host, Port: gw.Port, CARef: gw.CARef, PinSHA256: gw.PinSHA256}
		}
		resp.Lease = &lease
		log = log.With("session", d.Session.ID, "pool", d.Session.Pool)
	}
	log.InfoContext(ctx, "authorize", "status", d.Status.String(), "reason", d.Reason, "ended", len(d.Ended))
	return resp, nil
}

// Release ends a session (the release function). It is idempotent.
func (h *Handlers) Release(ctx context.Context, raw json.RawMessage) (ReleaseResponse, error) {
	var req ReleaseRequest
	if err := decode(raw, &req); err != nil {
		return ReleaseResponse{}, err
	}
	if err := req.validate(); err != nil {
		return ReleaseResponse{}, err
	}
	log := h.log.With("session", req.Session.ID, "pool", req.Session.Pool, "device", req.Session.DeviceID)
	if err := h.store.Release(ctx, req.Session); err != nil {
		log.ErrorContext(ctx, "release failed", "err", err)
		return ReleaseResponse{}, classify(err)
	}
	log.InfoContext(ctx, "release", "reason", req.Reason)
	return ReleaseResponse{Released: true}, nil
}

// Sweep runs the scheduled clean-up (the sweep function).
func (h *Handlers) Sweep(ctx context.Context, raw json.RawMessage) (SweepResponse, error) {
	var req SweepRequest
	if err := decode(raw, &req); err != nil {
		return SweepResponse{}, err
	}
	report, err := h.store.Sweep(ctx)
	for _, p := range report.Pools {
		for _, e := range p.Ended {
			h.log.InfoContext(ctx, "sweep ended session", "session", e.Session.ID, "pool", p.Pool, "reason", e.Reason, "owner", e.Owner)
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
