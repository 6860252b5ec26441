package edge

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/google/uuid"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/peerlink"
	"github.com/collabgw/collabgw/internal/status"
)

// releaseTimeout bounds one release, retries included. It is generous: a
// burst of logouts can queue behind Lambda's concurrency, and a release
// that gives up leaves a stray the heartbeat releases again
// (releaseStrays). It is longer than the drain: a release still running
// at the drain deadline is cancelled with the server's life (the task's
// lease, ended right after, makes the slot evictable at once).
const releaseTimeout = 30 * time.Second

// internalRetryAfter is the retry delay given with SERVER_BUSY when the edge
// itself failed (a function or the store was unavailable).
const internalRetryAfter = 2 * time.Second

// attempt is what an admission decided, for the connection that carries it.
type attempt struct {
	resume  bool
	keyUsed string   // during a key rotation: "current" or "next" gateway key
	session *session // the admitted or resumed session; nil when refused
	gen     uint64   // the session's link generation this connection may attach as
	// relay is the link to the owner of a session resumed through another
	// task; the connection is relayed to it instead of attached here.
	relay *peerlink.Conn
}

// serveConn runs one device connection: the handshake and admission, then,
// once admitted, the session's reader until the link ends.
func (s *Server) serveConn(ctx context.Context, conn net.Conn, slot *connSlot) {
	reading := false
	defer func() {
		if !reading {
			s.connDone(slot)
		}
	}()
	ip := remoteIP(conn.RemoteAddr())
	var att attempt
	link, err := s.acceptor.Accept(ctx, conn, func(_ context.Context, h *devproto.Hello) *devproto.ServerStatus {
		start := s.cfg.now()
		// From the server's life, not the handshake's context: the drain
		// ends handshakes waiting for a HELLO, not admissions deciding.
		st := s.admit(s.life, h, ip, &att)
		s.countLogin(st.Code, &att, s.cfg.now().Sub(start))
		return st
	})
	if err != nil {
		var rej *devconn.RejectedError
		switch {
		case errors.As(err, &rej) && att.session == nil && rej.Status.Code != status.Accepted:
			if rej.Err != nil { // refused before admission: skew, rate, bad payload
				s.countLogin(rej.Status.Code, &attempt{}, 0)
				s.cfg.log.Info("hello refused", "device", rej.DeviceID, "addr", ip, "status", rej.Status.Code.String(), "err", rej.Err)
			}
		case att.session != nil:
			// Admitted, but the WELCOME could not be written: the device
			// did not learn its token.
			att.session.welcomeFailed(att.gen, err)
		case att.relay != nil:
			// The same, resumed on another task: closing the link is a
			// coverage loss there.
			att.relay.Close()
		case s.connCap.wasShed(slot):
			// Counted when it was shed.
		default:
			s.met.inc(dropHandshake)
			s.cfg.log.Debug("handshake failed", "addr", ip, "err", err)
		}
		return
	}
	if att.relay != nil {
		reading = true
		go func() {
			defer s.connDone(slot)
			s.runRelay(link, att.relay)
		}()
		return
	}
	if !att.session.attach(link, att.gen) {
		return
	}
	// The reader (or the relay) is a new goroutine: this one's stack grew
	// through the Noise and TLS handshakes, and a parked goroutine's stack
	// is only shrunk by a garbage collection, which an idle edge may not
	// run for hours. A fresh one parks in Receive with a few KiB.
	reading = true
	go func() {
		defer s.connDone(slot)
		att.session.readLoop(link)
	}()
}

// admit decides a verified hello: a LOGIN goes to the authorize function
// and GroupWise, a RESUME reattaches to a session this edge holds.
func (s *Server) admit(ctx context.Context, h *devproto.Hello, ip string, att *attempt) *devproto.ServerStatus {
	if !s.beginLogin() {
		s.met.inc(dropDraining)
		return refusal(status.ServerBusy, DefaultDrainRetryAfter)
	}
	defer s.logins.Done()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.loginTimeout)
	defer cancel()
	if s.cfg.nextGatewayKey != nil {
		// During a key rotation, count (and log) which key devices hold,
		// so operators see when the old one is no longer used.
		att.keyUsed = "current"
		c := evHelloCurrentKey
		if h.NextKey {
			att.keyUsed, c = "next", evHelloNextKey
		}
		s.met.inc(c)
	}
	switch r := h.Request.(type) {
	case *devproto.Login:
		return s.admitLogin(ctx, h.DeviceKey, r, ip, att)
	case *devproto.Resume:
		att.resume = true
		return s.admitResume(ctx, h.DeviceKey, r, ip, att)
	}
	return refusal(status.ProtocolError, 0)
}

// beginLogin registers an admission in flight, unless the edge drains.
func (s *Server) beginLogin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.logins.Add(1)
	return true
}

func (s *Server) admitLogin(ctx context.Context, key devproto.PublicKey, l *devproto.Login, ip string, att *attempt) *devproto.ServerStatus {
	start := time.Now()
	reqID := uuid.NewString()
	log := s.cfg.log.With("request", reqID, "device", l.DeviceID, "user", l.UserID, "addr", ip)
	if att.keyUsed != "" {
		log = log.With("gatewayKey", att.keyUsed)
	}
	token, err := devproto.NewResumeToken(nil)
	if err != nil {
		log.Error("login: resume token", "session", "", "err", err)
		return refusal(status.ServerBusy, internalRetryAfter)
	}
	hash := token.Hash()
	resp, err := s.auth.Authorize(ctx, lambdaapi.AuthorizeRequest{
		RequestID: reqID, DeviceID: l.DeviceID, DevicePublicKey: key[:], DeviceTime: l.Timestamp,
		UserID: l.UserID, ClientVersion: l.ClientVersion, EdgeTask: s.owner, SourceAddr: ip,
		ResumeTokenHash: hash[:],
	})
	if err != nil {
		log.Error("login: authorize failed", "session", "", "err", err)
		return refusal(status.ServerBusy, internalRetryAfter)
	}
	s.endReported(resp.Ended)
	if resp.Status != status.Accepted {
		log.Info("login refused", "session", "", "status", resp.Status.String(), "reason", resp.Reason, "ms", msSince(start))
		return refusal(resp.Status, 0)
	}
	if resp.Session == nil || resp.GroupWise == nil || resp.Lease == nil {
		log.Error("login: authorize accepted without session, lease or GroupWise target", "session", "")
		if resp.Session != nil {
			s.release(s.life, *resp.Session, reqID, "bad-authorize-response")
		}
		return refusal(status.ServerBusy, internalRetryAfter)
	}
	ref := *resp.Session
	log = log.With("session", ref.ID, "pool", ref.Pool)
	ss := s.newSession(ref, l.UserID, reqID, key, hash, l.Timestamp, resp.Lease)
	gw, info, err := s.cfg.dialer.Login(ctx, GroupWiseLogin{
		Target: *resp.GroupWise, Pool: ref.Pool, UserID: l.UserID, Password: string(l.Password), DeviceIP: ip, Events: ss.onEvent,
	})
	if err != nil {
		code := groupWiseStatus(err)
		log.Info("login: GroupWise refused; releasing", "status", code.String(), "err", err, "ms", msSince(start))
		s.release(s.life, ref, reqID, "groupwise-"+code.String())
		return refusal(code, 0)
	}
	if !ss.setGroupWise(gw) || s.draining.Load() {
		// GroupWise ended it already (event 114 during login), or the edge
		// began to drain: either way the device may not keep it.
		gw.Close()
		s.release(s.life, ref, reqID, "ended-during-login")
		return refusal(status.ServerBusy, DefaultDrainRetryAfter)
	}
	s.add(ss)
	att.session = ss
	s.background(func() {
		c := admission.Connectivity{UserDN: info.DN, Keepalive: int(info.Keepalive.Minutes()), EdgeAddr: s.cfg.edgeAddr,
			Host: resp.GroupWise.Host, Port: resp.GroupWise.Port}
		ss.storeWrite("connectivity", func(ctx context.Context) error {
			return s.leases.SetConnectivity(ctx, s.owner, ref, c)
		})
	})
	log.Info("login accepted", "status", status.Accepted.String(), "ended", len(resp.Ended), "ms", msSince(start))
	return &devproto.ServerStatus{
		Code: status.Accepted, SessionID: ref.ID, ResumeToken: token,
		Message: status.Accepted.Text(), StatusInterval: ss.statusInterval(),
	}
}

// admitResume reattaches a device to its session with no GroupWise login:
// here when this edge holds it, else through the task that does
// (relayResume). Anything that does not match — a session no live task
// holds, another device's key, a wrong token — is LOGGED_OUT, the status
// table's "stale resume token": the device logs in again.
func (s *Server) admitResume(ctx context.Context, key devproto.PublicKey, r *devproto.Resume, ip string, att *attempt) *devproto.ServerStatus {
	reqID := uuid.NewString()
	log := s.cfg.log.With("request", reqID, "session", r.SessionID, "device", r.DeviceID, "addr", ip)
	ss := s.lookup(r.SessionID)
	if ss == nil {
		return s.relayResume(ctx, key, r, reqID, log, att)
	}
	code, token, gen := ss.claim(key, r)
	if code != status.Accepted {
		log.Info("resume refused", "status", code.String())
		return refusal(code, 0)
	}
	att.session, att.gen = ss, gen
	log.Info("resume accepted", "status", code.String())
	return &devproto.ServerStatus{
		Code: status.Accepted, SessionID: ss.ref.ID, ResumeToken: token,
		Message: status.Accepted.Text(), StatusInterval: ss.statusInterval(),
	}
}

// endReported ends the sessions of this edge that a login just ended in the
// store (its Ended list): their devices hear it now rather than at the
// next heartbeat. Sessions of other edges learn it from their renewals.
func (s *Server) endReported(ended []admission.Ended) {
	for _, e := range ended {
		if e.Owner != s.owner {
			continue
		}
		ss := s.lookup(e.Session.ID)
		if ss == nil {
			continue
		}
		code := status.LoggedOut
		if e.Reason == admission.EndReplaced {
			code = status.SignedOnElsewhere
		}
		s.background(func() {
			ss.end(s.life, ending{reason: "ended-by-login-" + string(e.Reason), notify: code})
		})
	}
}

// release frees a session's slot through the release function. A failure
// is counted and logged; the heartbeat's reconciliation then finds the
// session stray and releases it again (releaseStrays).
func (s *Server) release(ctx context.Context, ref admission.SessionRef, reqID, reason string) {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	if err := s.rel.Release(ctx, lambdaapi.ReleaseRequest{Session: ref, Reason: reason}); err != nil {
		s.met.inc(evReleaseFailed)
		s.cfg.log.Warn("release failed; released again as a stray at a later heartbeat",
			"request", reqID, "session", ref.ID, "pool", ref.Pool, "reason", reason, "err", err)
	}
}

func refusal(code status.Code, retryAfter time.Duration) *devproto.ServerStatus {
	return &devproto.ServerStatus{Code: code, Message: code.Text(), RetryAfter: retryAfter}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// deviceRateVerifier is the Responder's DeviceVerifier. The authoritative
// device checks (registered key, active, timestamp newer than the last
// accepted: replay) run in the authorize function, which the device's key
// and timestamp are sent to, and for a resume against the session held
// here; what is left to check before spending a Lambda call is the
// per-device login rate.
type deviceRateVerifier struct{ s *Server }

func (v deviceRateVerifier) VerifyDevice(_ context.Context, deviceID string, _ devproto.PublicKey, _ time.Time) error {
	if v.s.devRate == nil {
		return nil
	}
	if ok, retry := v.s.devRate.Allow(deviceID, v.s.cfg.now()); !ok {
		return &devproto.StatusError{Code: status.RateLimited, RetryAfter: retry}
	}
	return nil
}
