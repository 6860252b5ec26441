package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/peerlink"
	"github.com/collabgw/collabgw/internal/status"
)

// RESUME on any task. The task a device's RESUME reaches (the relaying
// task) asks the SessionLocator who holds the session; if a live task
// does, it opens a peerlink to that owner and hands it the RESUME it
// verified. The owner runs the claim a local resume runs (token, key,
// newer timestamp, new token) and answers; the answer is the device's
// WELCOME. On ACCEPTED the relaying task copies messages both ways for the
// life of the device's link, and on the owner the link is the session's
// deviceLink: no new GroupWise login, the same session, queued IMs first.

// relayOutcome is what became of a RESUME for a session this task does
// not hold.
type relayOutcome int

const (
	relayAccepted     relayOutcome = iota // the owner resumed the session; the device is relayed to it
	relayRefused                          // the owner refused (token, key or timestamp) or was draining
	relayNotFound                         // the store has no such session: LOGGED_OUT
	relayEndedHere                        // the store names this task, which no longer holds it: LOGGED_OUT
	relayOwnerDead                        // the owner's lease lapsed: LOGGED_OUT
	relayUnreachable                      // no answer from the owner's peer address: LOGGED_OUT
	relayLocateFailed                     // the store failed: SERVER_BUSY, retry
	numRelayOutcomes
)

var relayNames = [numRelayOutcomes]string{
	relayAccepted: "relayed", relayRefused: "refused_by_owner", relayNotFound: "not_found",
	relayEndedHere: "ended_here", relayOwnerDead: "owner_dead", relayUnreachable: "owner_unreachable",
	relayLocateFailed: "locate_failed",
}

// relay is one device link this task relays to the session's owner.
type relay struct {
	dev  *devconn.Session
	peer *peerlink.Conn
}

// newPeers builds the link's two sides from WithPeer and
// WithSessionLocator.
func (s *Server) newPeers() error {
	c := s.cfg
	if c.peerKey.IsZero() {
		if c.locator != nil {
			return fmt.Errorf("%w: a session locator needs WithPeer", ErrBadOption)
		}
		return nil
	}
	s.peerMet = new(peerlink.Counters)
	opts := append(append([]peerlink.Option(nil), c.peerOpts...), peerlink.WithCounters(s.peerMet))
	var err error
	s.peerSrv, err = peerlink.NewServer(s.owner, c.peerKey, s.servePeerResume, append(opts, peerlink.WithNextKey(c.peerNext))...)
	if err != nil {
		return fmt.Errorf("%w: peer link: %w", ErrBadOption, err)
	}
	if c.locator != nil {
		if s.peers, err = peerlink.NewDialer(s.owner, c.peerKey, opts...); err != nil {
			return fmt.Errorf("%w: peer link: %w", ErrBadOption, err)
		}
	}
	return nil
}

// ListenPeer opens the peer port (manifest.PeerPort) for Run to serve:
// other tasks relay RESUMEs to this one there. It needs WithPeer. Run
// closes the listener when it drains; a caller that does not call Run
// closes it.
func (s *Server) ListenPeer(ctx context.Context, addr string) (net.Listener, error) {
	if s.peerSrv == nil {
		return nil, fmt.Errorf("%w: ListenPeer needs WithPeer", ErrBadOption)
	}
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: s.cfg.tcpKeepAlive, Interval: s.cfg.tcpKeepAlive / 2, Count: 3,
	}}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("edge: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peerLn != nil {
		ln.Close()
		return nil, fmt.Errorf("%w: ListenPeer called twice", ErrBadOption)
	}
	s.peerLn = ln
	return ln, nil
}

// servePeers serves the peer listener, if any, until stopPeers.
func (s *Server) servePeers() chan struct{} {
	done := make(chan struct{})
	s.mu.Lock()
	ln := s.peerLn
	s.mu.Unlock()
	if ln == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := s.peerSrv.Serve(ln); err != nil {
			s.cfg.log.Error("peer listener failed", "err", err)
		}
	}()
	return done
}

// stopPeers begins the drain of the link: no new relayed RESUMEs, and the
// devices this task relays to other owners are let go. Their sessions are
// not this task's to end: each device sees a drop, resumes through the
// load balancer, and is relayed again by another task.
func (s *Server) stopPeers(served <-chan struct{}) {
	if s.peerSrv != nil {
		s.peerSrv.Close()
	}
	<-served
	s.mu.Lock()
	relays := make([]*relay, 0, len(s.relays))
	for r := range s.relays {
		relays = append(relays, r)
	}
	s.mu.Unlock()
	for _, r := range relays {
		r.dev.Close()
		r.peer.Close()
	}
}

// waitPeers waits, after the sessions ended, for the links they were
// relayed over to close.
func (s *Server) waitPeers(ctx context.Context) error {
	if s.peerSrv == nil {
		return nil
	}
	if err := s.peerSrv.Wait(ctx); err != nil {
		return fmt.Errorf("edge: drain: %w", err)
	}
	return nil
}

// relayResume is the relaying side: a RESUME for a session this task does
// not hold goes to the task that does, if a live one does. Every answer
// but SERVER_BUSY for a failed store is final for the device: LOGGED_OUT
// makes it log in again, which replaces the old session in the store (the
// same device key takes the same slot, counted once).
func (s *Server) relayResume(ctx context.Context, key devproto.PublicKey, r *devproto.Resume, reqID string, log *slog.Logger, att *attempt) *devproto.ServerStatus {
	if s.peers == nil {
		log.Info("resume refused: session not held here", "status", status.LoggedOut.String())
		return refusal(status.LoggedOut, 0)
	}
	st, outcome, owner := s.relayDecide(ctx, key, r, reqID, log, att)
	s.met.relays[outcome].Add(1)
	if rec := s.cfg.rec; rec != nil {
		rec.Add(metrics.RelayedResumes, 1, metrics.Outcome(st.Code.String()), metrics.Reason(relayNames[outcome]))
	}
	log.Info("resume relayed", "status", st.Code.String(), "relay", relayNames[outcome], "owner", owner.Task, "peer", owner.Addr)
	return st
}

func (s *Server) relayDecide(ctx context.Context, key devproto.PublicKey, r *devproto.Resume, reqID string, log *slog.Logger, att *attempt) (*devproto.ServerStatus, relayOutcome, SessionOwner) {
	owner, err := s.cfg.locator.LocateSession(ctx, r.DeviceID, r.SessionID)
	switch {
	case errors.Is(err, ErrSessionNotFound), errors.Is(err, admission.ErrSessionGone):
		return refusal(status.LoggedOut, 0), relayNotFound, owner
	case err != nil:
		log.Warn("resume: session locator failed", "err", err)
		return refusal(status.ServerBusy, internalRetryAfter), relayLocateFailed, owner
	case owner.Task == s.owner:
		return refusal(status.LoggedOut, 0), relayEndedHere, owner
	case !owner.Live || owner.Addr == "":
		return refusal(status.LoggedOut, 0), relayOwnerDead, owner
	}
	conn, st, err := s.peers.Resume(ctx, owner.Addr, owner.Task, &peerlink.Resume{RequestID: reqID, DeviceKey: key, Request: *r})
	if err != nil {
		log.Warn("resume: owner unreachable", "owner", owner.Task, "peer", owner.Addr, "err", err)
		return refusal(status.LoggedOut, 0), relayUnreachable, owner
	}
	if st.Code != status.Accepted {
		return st, relayRefused, owner
	}
	if st.SessionID != r.SessionID {
		// An owner that answers for another session is broken: the
		// device must not be attached to it.
		conn.Close()
		log.Error("resume: owner accepted another session", "owner", owner.Task, "answered", st.SessionID)
		return refusal(status.LoggedOut, 0), relayUnreachable, owner
	}
	att.relay = conn
	return st, relayAccepted, owner
}

// runRelay copies the device's messages to the owner and the owner's to
// the device until either link ends, then ends both: a device that drops
// is a coverage loss on the owner, and an owner that ends the session (its
// last SERVER_STATUS relayed first) or dies drops the device, which
// resumes or logs in again.
func (s *Server) runRelay(dev *devconn.Session, peer *peerlink.Conn) {
	r := &relay{dev: dev, peer: peer}
	s.mu.Lock()
	draining := s.draining.Load()
	if !draining {
		s.relays[r] = struct{}{}
	}
	s.mu.Unlock()
	if draining {
		dev.Close()
		peer.Close()
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.relays, r)
		s.mu.Unlock()
	}()
	down := make(chan struct{})
	go func() {
		defer close(down)
		for {
			m, err := peer.Receive(s.linkCtx)
			if err != nil {
				break
			}
			if dev.Send(s.linkCtx, m) != nil {
				break
			}
		}
		dev.Close() // ends the reader below
	}()
	for {
		m, err := dev.Receive(s.linkCtx)
		if err != nil {
			s.relayedDeviceEnded(peer, err)
			break
		}
		if peer.Send(s.linkCtx, m) != nil {
			peer.Close()
			break
		}
	}
	<-down
}

// relayedDeviceEnded closes the link to the owner after the device's link
// ended with err, in order (the owner reads everything, then the CLOSE): a
// drop or a stalled frame is a coverage loss there, a device that broke
// the protocol ends the session there. The frame is counted here, where
// it arrived.
func (s *Server) relayedDeviceEnded(peer *peerlink.Conn, err error) {
	var pe *devconn.ProtocolError
	switch {
	case errors.As(err, &pe):
		s.met.inc(protocolCounter(pe.Reason))
		_ = peer.CloseDeviceError(uint8(pe.Reason))
		return
	case errors.Is(err, devconn.ErrFrameTimeout):
		s.met.inc(dropFrameTimeout)
	}
	peer.Close()
}

// servePeerResume is the owner's side: a RESUME another task relays runs
// the claim a local RESUME runs, and on ACCEPTED the link becomes the
// session's device link until it ends (peerlink closes it when this
// returns).
func (s *Server) servePeerResume(ctx context.Context, c *peerlink.Conn, r *peerlink.Resume) {
	st, ss, gen := s.claimRelayed(c, r)
	if err := c.Answer(ctx, st); err != nil {
		if ss != nil {
			// The relaying task never got the new token to the device:
			// the session goes back out of coverage, as after a local
			// WELCOME that failed.
			ss.welcomeFailed(gen, err)
		}
		return
	}
	if ss == nil || !ss.attach(c, gen) {
		return
	}
	ss.readLoop(c)
}

// claimRelayed decides a relayed RESUME as admitResume decides a local one.
func (s *Server) claimRelayed(c *peerlink.Conn, r *peerlink.Resume) (*devproto.ServerStatus, *session, uint64) {
	log := s.cfg.log.With("request", r.RequestID, "session", r.Request.SessionID, "device", r.Request.DeviceID, "relay", c.PeerTask())
	if !s.beginLogin() {
		s.met.inc(dropDraining)
		return refusal(status.ServerBusy, DefaultDrainRetryAfter), nil, 0
	}
	defer s.logins.Done()
	ss := s.lookup(r.Request.SessionID)
	if ss == nil {
		s.met.inc(evPeerResumeRefused)
		log.Info("relayed resume refused: session not held here", "status", status.LoggedOut.String())
		return refusal(status.LoggedOut, 0), nil, 0
	}
	code, token, gen := ss.claim(r.DeviceKey, &r.Request)
	if code != status.Accepted {
		s.met.inc(evPeerResumeRefused)
		log.Info("relayed resume refused", "status", code.String())
		return refusal(code, 0), nil, 0
	}
	s.met.inc(evPeerResumeAccepted)
	log.Info("relayed resume accepted", "status", code.String())
	return &devproto.ServerStatus{
		Code: status.Accepted, SessionID: ss.ref.ID, ResumeToken: token,
		Message: status.Accepted.Text(), StatusInterval: ss.statusInterval(),
	}, ss, gen
}
