package edge

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/status"
)

// storeWriteTimeout bounds one write of the edge's own session items.
const storeWriteTimeout = 5 * time.Second

// Contexts. Everything a session starts — a release, a store write, a
// GroupWise request, a goodbye to its device — derives from the server's
// lifetime (Server.life), which ends when Run's drain does, so none of it
// outlives Run. The blocking I/O of a held link (its reader, its queue's
// writer, a relay's copies) is the exception: it takes Server.linkCtx,
// which never ends, because a context that can end costs devconn and
// peerlink about 300 bytes and 5 allocations on every message (an
// AfterFunc per read or write) and keeps them while a reader is parked;
// each such loop ends when its link closes instead, and the drain (or, at
// its deadline, abandon) closes every link.

// session is one held session: a GroupWise connection that lives from the
// login to the end, and a device link that comes and goes with coverage.
// It is kept small: tens of thousands are held per task.
type session struct {
	srv       *Server
	ref       admission.SessionRef
	userID    string
	requestID string // the login's, for every log line of the session
	deviceKey devproto.PublicKey
	// statusEvery is the STATUS interval the device is given; silentAfter
	// is how long without STATUS makes the session silent in the store
	// (admission.StatusTiming).
	statusEvery, silentAfter time.Duration

	mu sync.Mutex // guards every field below
	gw GroupWise  // set once, right after the GroupWise login
	// link is the device connection while in coverage, nil while out: the
	// device's own, or another task's relay of it.
	link deviceLink
	// gen counts resumes; a connection may attach only as the generation
	// its admission claimed, so two racing resumes cannot both win.
	gen       uint64
	tokenHash devproto.TokenHash
	lastHello time.Time          // the newest accepted device timestamp (resume replay check)
	queue     []devproto.Message // waiting for the device; nil when empty
	writer    deviceLink         // the link a writer goroutine is draining the queue to
	grace     *time.Timer        // running while out of coverage
	// lastStatus is the device's last STATUS (or login or resume); silent
	// says the store holds the session as silent since then.
	lastStatus time.Time
	silent     bool
	ended      bool
	// endNotice is what the device was to be told when the session ended,
	// for a connection admitted just before the end that attaches after it.
	endNotice *devproto.ServerStatus
}

func (s *Server) newSession(ref admission.SessionRef, userID, reqID string, key devproto.PublicKey, hash devproto.TokenHash, ts time.Time, lease *lambdaapi.Lease) *session {
	every, silentAfter := admission.StatusTiming(
		time.Duration(lease.IdleTimeoutSeconds)*time.Second, time.Duration(lease.InactivityTimeoutSeconds)*time.Second)
	return &session{
		srv: s, ref: ref, userID: userID, requestID: reqID, deviceKey: key, statusEvery: every, silentAfter: silentAfter,
		tokenHash: hash, lastHello: ts, lastStatus: s.cfg.now(),
	}
}

// statusInterval is how often the device is asked to send STATUS. While
// it does, nothing about it is written to the store.
func (ss *session) statusInterval() time.Duration { return ss.statusEvery }

// activitySeq orders the activity writes of every session of this process
// (admission.Activity.Seq): a number taken under the session's lock with
// the state it writes, so two writes that cross keep the newer state.
var activitySeq atomic.Uint64

// activityLocked is the session's activity to write, for the state just
// set under ss.mu.
func (ss *session) activityLocked(cov admission.Coverage, since time.Time) admission.Activity {
	return admission.Activity{Coverage: cov, CoverageSince: since, LastStatus: ss.lastStatus, Silent: ss.silent, Seq: activitySeq.Add(1)}
}

// setGroupWise records the GroupWise connection; false if the session
// already ended.
func (ss *session) setGroupWise(gw GroupWise) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.gw = gw
	return !ss.ended
}

// ending says how a session ends.
type ending struct {
	reason     string      // for logs and the release call
	notify     status.Code // told to an attached device; 0: nothing
	message    string      // the text told with notify; empty: notify's own text
	retryAfter time.Duration
	// release frees the slot through the release function; false when the
	// store ended the session already.
	release bool
}

// end ends the session once: the device is told (if attached), both
// connections close, and the slot is released when e says so.
func (ss *session) end(ctx context.Context, e ending) {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	if e.notify != 0 {
		msg := e.message
		if msg == "" {
			msg = e.notify.Text()
		}
		ss.endNotice = &devproto.ServerStatus{Code: e.notify, Message: msg, RetryAfter: e.retryAfter}
	}
	link, gw := ss.link, ss.gw
	ss.link, ss.queue = nil, nil
	wasDetached := ss.stopGraceLocked()
	ss.mu.Unlock()

	srv := ss.srv
	srv.remove(ss)
	if wasDetached {
		srv.met.detached.Add(-1)
	}
	if link != nil {
		ss.goodbye(ctx, link, ss.endNotice)
	}
	if gw != nil {
		gw.Close()
	}
	if e.release {
		srv.release(ctx, ss.ref, ss.requestID, e.reason)
	}
	srv.cfg.log.Info("session ended", "request", ss.requestID, "session", ss.ref.ID, "pool", ss.ref.Pool,
		"device", ss.ref.DeviceID, "reason", e.reason, "told", statusName(e.notify), "released", e.release)
}

func statusName(c status.Code) string {
	if c == 0 {
		return ""
	}
	return c.String()
}

// stopGraceLocked stops the coverage grace timer; true if one was running.
func (ss *session) stopGraceLocked() bool {
	if ss.grace == nil {
		return false
	}
	ss.grace.Stop()
	ss.grace = nil
	return true
}

// goodbye tells the device notice (if any) within the goodbye timeout and
// closes link.
func (ss *session) goodbye(ctx context.Context, link deviceLink, notice *devproto.ServerStatus) {
	if notice != nil {
		gctx, cancel := context.WithTimeout(ctx, ss.srv.cfg.goodbyeTimeout)
		_ = link.Send(gctx, notice)
		cancel()
	}
	link.Close()
}

// attach makes link the session's device link, if its admission's claim
// still stands, and starts delivering what queued meanwhile. A session
// that ended between the admission and now tells the device why.
func (ss *session) attach(link deviceLink, gen uint64) bool {
	ss.mu.Lock()
	if ss.ended || ss.gen != gen {
		notice := ss.endNotice
		ss.mu.Unlock()
		ss.goodbye(ss.srv.life, link, notice)
		return false
	}
	ss.link = link
	ss.kickWriterLocked()
	ss.mu.Unlock()
	return true
}

// welcomeFailed handles a connection that was admitted but never got its
// WELCOME. A new login's device has no token, so the session ends and its
// slot is released; a resumed device still holds its token, so the session
// goes back out of coverage.
func (ss *session) welcomeFailed(gen uint64, err error) {
	ss.srv.cfg.log.Info("welcome not delivered", "request", ss.requestID, "session", ss.ref.ID, "err", err)
	if gen == 0 {
		ss.end(ss.srv.life, ending{reason: "welcome-failed", release: true})
		return
	}
	ss.mu.Lock()
	if ss.ended || ss.gen != gen || ss.link != nil || ss.grace != nil {
		ss.mu.Unlock()
		return
	}
	ss.grace = time.AfterFunc(ss.srv.cfg.grace, ss.graceExpired)
	act := ss.activityLocked(admission.CoverageOut, ss.srv.cfg.now())
	ss.mu.Unlock()
	ss.srv.met.detached.Add(1)
	// The resume already wrote coverage in: the store must see it out again.
	ss.writeActivity("coverage-out", act)
}

// claim checks a RESUME against the session and, when it matches, takes
// the session for the new connection: the previous link (if the drop was
// not noticed yet) is let go, the grace timer stops, and the resume token
// is rotated, so each token works once. Every resume of the session runs
// here, on the task that holds its GroupWise connection — a RESUME that
// reached another task is relayed here with the key that task verified —
// so the token hash kept here is the one that counts.
func (ss *session) claim(key devproto.PublicKey, r *devproto.Resume) (status.Code, devproto.ResumeToken, uint64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || r.DeviceID != ss.ref.DeviceID || key != ss.deviceKey || !ss.tokenHash.Verify(r.Token) {
		return status.LoggedOut, devproto.ResumeToken{}, 0
	}
	if !r.Timestamp.After(ss.lastHello) {
		return status.ProtocolError, devproto.ResumeToken{}, 0
	}
	token, err := devproto.NewResumeToken(nil)
	if err != nil {
		return status.ServerBusy, devproto.ResumeToken{}, 0
	}
	ss.tokenHash, ss.lastHello = token.Hash(), r.Timestamp
	if old := ss.link; old != nil {
		ss.link = nil
		old.Close() // its reader finds it is no longer the link and stops
	}
	if ss.stopGraceLocked() {
		ss.srv.met.detached.Add(-1)
	}
	ss.gen++
	now := ss.srv.cfg.now()
	ss.lastStatus, ss.silent = now, false // a resume is a sign of life
	act := ss.activityLocked(admission.CoverageIn, now)
	ss.srv.background(func() { ss.writeActivity("coverage-in", act) })
	return status.Accepted, token, ss.gen
}

// detach handles the end of link: if it is still the session's link, the
// device went out of coverage. GroupWise stays up, messages queue, and the
// grace timer starts.
func (ss *session) detach(link deviceLink, err error) {
	link.Close()
	ss.mu.Lock()
	if ss.ended || ss.link != link {
		ss.mu.Unlock()
		return
	}
	ss.link = nil
	ss.grace = time.AfterFunc(ss.srv.cfg.grace, ss.graceExpired)
	ss.silent = false
	act := ss.activityLocked(admission.CoverageOut, ss.srv.cfg.now())
	ss.mu.Unlock()
	srv := ss.srv
	srv.met.detached.Add(1)
	srv.met.inc(evDeviceDropped)
	srv.cfg.log.Info("device out of coverage", "request", ss.requestID, "session", ss.ref.ID, "grace", srv.cfg.grace, "err", err)
	ss.writeActivity("coverage-out", act)
}

// writeActivity writes a change of the session's activity.
func (ss *session) writeActivity(what string, a admission.Activity) {
	srv := ss.srv
	srv.met.inc(evStatusWrite)
	ss.storeWrite(what, func(ctx context.Context) error {
		return srv.leases.SetActivity(ctx, srv.owner, ss.ref, a)
	})
}

func (ss *session) graceExpired() {
	ss.srv.met.inc(evGraceExpired)
	ss.end(ss.srv.life, ending{reason: "coverage-grace-expired", release: true})
}

// storeWrite runs one write of the session's item. A session the store
// says is gone ends at once (as a renewal would have found).
func (ss *session) storeWrite(what string, write func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(ss.srv.life, storeWriteTimeout)
	defer cancel()
	err := write(ctx)
	switch {
	case err == nil:
	case errors.Is(err, admission.ErrSessionGone):
		ss.srv.met.inc(evGone)
		ss.end(ctx, ending{reason: "gone-on-" + what, notify: status.LoggedOut})
	default:
		ss.srv.met.inc(evStoreWriteFailed)
		ss.srv.cfg.log.Warn("session write failed", "request", ss.requestID, "session", ss.ref.ID, "write", what, "err", err)
	}
}

// enqueue queues m for the device and makes sure a writer delivers it when
// the device is attached. A full queue drops m, counted.
func (ss *session) enqueue(m devproto.Message) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	if len(ss.queue) >= ss.srv.cfg.queueLimit {
		ss.srv.met.inc(dropQueueFull)
		return
	}
	ss.queue = append(ss.queue, m)
	ss.kickWriterLocked()
}

// kickWriterLocked starts a writer for the current link when there is
// something to write and none runs for it.
func (ss *session) kickWriterLocked() {
	if ss.link == nil || len(ss.queue) == 0 || ss.writer == ss.link {
		return
	}
	ss.writer = ss.link
	go ss.writeLoop(ss.link)
}

// writeLoop drains the queue to link and exits when the queue is empty or
// link is no longer the session's. A failed write puts the message back
// (it goes out after a resume) and closes link, which ends its reader.
func (ss *session) writeLoop(link deviceLink) {
	for {
		ss.mu.Lock()
		if ss.link != link || len(ss.queue) == 0 {
			if ss.writer == link {
				ss.writer = nil
			}
			if len(ss.queue) == 0 {
				ss.queue = nil // an idle session holds no queue storage
			}
			ss.mu.Unlock()
			return
		}
		m := ss.queue[0]
		ss.queue[0] = nil
		ss.queue = ss.queue[1:]
		ss.mu.Unlock()
		if err := link.Send(ss.srv.linkCtx, m); err != nil {
			ss.mu.Lock()
			if !ss.ended {
				ss.queue = append([]devproto.Message{m}, ss.queue...)
			}
			if ss.writer == link {
				ss.writer = nil
			}
			ss.mu.Unlock()
			link.Close()
			return
		}
		if m.Type() == devproto.TypeReceiveIM {
			ss.srv.met.inc(evIMToDevice)
		}
	}
}

// readLoop reads the device link until it ends, then detaches.
func (ss *session) readLoop(link deviceLink) {
	for {
		m, err := link.Receive(ss.srv.linkCtx)
		if err != nil {
			ss.linkFailed(link, err)
			return
		}
		if !ss.handle(link, m) {
			return
		}
	}
}

// handle acts on one device message; false when the session ended.
func (ss *session) handle(link deviceLink, m devproto.Message) bool {
	srv := ss.srv
	ss.mu.Lock()
	gw := ss.gw
	ss.mu.Unlock()
	switch m := m.(type) {
	case *devproto.SendIM:
		ctx, cancel := context.WithTimeout(srv.life, srv.cfg.requestTimeout)
		err := gw.SendMessage(ctx, m.To, m.Text)
		cancel()
		if err != nil {
			srv.met.inc(evIMToGroupWiseFailed)
			srv.cfg.log.Info("send IM failed", "request", ss.requestID, "session", ss.ref.ID, "err", err)
			return true
		}
		srv.met.inc(evIMToGroupWise)
	case *devproto.Status:
		ctx, cancel := context.WithTimeout(srv.life, srv.cfg.requestTimeout)
		if err := gw.SetStatus(ctx, presence(m.Presence), m.Text, ""); err != nil {
			srv.cfg.log.Info("set status failed", "request", ss.requestID, "session", ss.ref.ID, "err", err)
		}
		cancel()
		ss.recordStatus()
	case *devproto.Ping:
		ss.enqueue(&devproto.Pong{ID: m.ID})
	case *devproto.Logout:
		srv.met.inc(evLogout)
		// The LOGGED_OUT tells the device its LOGOUT arrived: without it a
		// device cannot tell a logout from a drop, which keeps the session
		// for the coverage grace.
		ss.end(srv.life, ending{reason: "logout", notify: status.LoggedOut, message: devproto.LogoutText, release: true})
		return false
	}
	ss.mu.Lock()
	still := ss.link == link
	ss.mu.Unlock()
	return still
}

// recordStatus notes a STATUS from the device: nothing is written, unless
// the store holds the session as silent.
func (ss *session) recordStatus() {
	now := ss.srv.cfg.now()
	ss.mu.Lock()
	ss.lastStatus = now
	wasSilent := ss.silent && !ss.ended
	ss.silent = false
	var act admission.Activity
	if wasSilent {
		act = ss.activityLocked(admission.CoverageIn, time.Time{})
	}
	ss.mu.Unlock()
	if wasSilent {
		ss.writeActivity("status-after-silence", act)
	}
}

// silentWrite marks the session silent when its device, in coverage, sent
// no STATUS for the silence threshold, and returns the write that records
// it; nil when there is nothing to write.
func (ss *session) silentWrite(now time.Time) func() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.silent || ss.grace != nil || now.Sub(ss.lastStatus) < ss.silentAfter {
		return nil
	}
	ss.silent = true
	act := ss.activityLocked(admission.CoverageIn, time.Time{})
	return func() { ss.writeActivity("silent", act) }
}

// onEvent receives GroupWise events on the client's reader goroutine: it
// only queues, or hands the end of the session to another goroutine.
func (ss *session) onEvent(ev gwproto.Event) {
	switch ev.Type {
	case gwproto.EventReceiveMessage, gwproto.EventReceiveAutoReply:
		if ev.Text == "" {
			return
		}
		ss.enqueue(&devproto.ReceiveIM{From: userFromDN(ev.Source), Text: truncate(ev.Text, devproto.MaxIMTextLen), ServerTime: ss.srv.cfg.now()})
	case gwproto.EventUserDisconnect:
		ss.srv.met.inc(evSignedOnElsewhere)
		ss.srv.background(func() {
			ss.end(ss.srv.life, ending{reason: "groupwise-signed-on-elsewhere", notify: status.SignedOnElsewhere, release: true})
		})
	case gwproto.EventServerDisconnect:
		ss.srv.met.inc(evGroupWiseLost)
		ss.srv.background(func() {
			ss.end(ss.srv.life, ending{reason: "groupwise-server-disconnect", notify: status.GroupWiseUnavailable, release: true})
		})
	}
}

// groupWiseEnding says how to end a session whose GroupWise connection
// ended on its own.
func groupWiseEnding(err error) ending {
	if errors.Is(err, gwclient.ErrSignedOnElsewhere) {
		return ending{reason: "groupwise-signed-on-elsewhere", notify: status.SignedOnElsewhere, release: true}
	}
	return ending{reason: "groupwise-lost", notify: status.GroupWiseUnavailable, release: true}
}

// userFromDN turns an event's source DN into the user id the device shows
// and can reply to ("cn=alice,ou=users,o=org" → "alice"); GroupWise
// accepts either form as a recipient.
func userFromDN(dn string) string {
	first, _, _ := strings.Cut(dn, ",")
	if k, v, ok := strings.Cut(first, "="); ok && strings.EqualFold(k, "cn") {
		first = v
	}
	if first == "" {
		return dn
	}
	return truncate(first, devproto.MaxUserIDLen)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func presence(p devproto.Presence) gwproto.Status {
	switch p {
	case devproto.PresenceBusy:
		return gwproto.StatusBusy
	case devproto.PresenceAway:
		return gwproto.StatusAway
	case devproto.PresenceIdle:
		return gwproto.StatusIdle
	case devproto.PresenceAppearOffline:
		return gwproto.StatusOffline
	}
	return gwproto.StatusAvailable
}
