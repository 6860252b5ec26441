package devconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// The device's resume policy (docs/device-protocol.md, "Coverage loss and
// RESUME"). A storm of devices reconnecting after an edge restart is the
// case these are sized for: quick first retries for a blip, then a steady
// pace with jitter so that thousands of devices do not retry in step.
const (
	// DefaultResumeGrace is how long the gateway keeps a dropped session
	// (the edge's default coverage grace). Trying to resume after it is
	// pointless: the session is gone and the device must log in again.
	DefaultResumeGrace = 120 * time.Second
	// DefaultAttemptTimeout bounds one login or resume attempt: the TCP
	// connect and the handshake round trip, each also bounded by the
	// handshake timeout. It is longer than the gateway's login timeout (8 s)
	// so that a slow admission still reaches the device as an answer.
	DefaultAttemptTimeout = 15 * time.Second
	// DefaultResumeBackoff is the wait after the first failed resume; it
	// doubles after each further failure up to DefaultResumeMaxBackoff.
	DefaultResumeBackoff    = time.Second
	DefaultResumeMaxBackoff = 15 * time.Second
	// DefaultResumeJitter adds up to this fraction of each wait, at random.
	DefaultResumeJitter = 0.25
	// DefaultLogoutTimeout is how long a device waits for the gateway to
	// acknowledge its LOGOUT. The gateway answers at once, so this only
	// bounds a link that died at that moment.
	DefaultLogoutTimeout = 5 * time.Second
	// DefaultStatusInterval is how often a link sends STATUS when the
	// gateway's ACCEPTED asks for no particular interval.
	DefaultStatusInterval = time.Minute
)

// Errors of a Link.
var (
	// ErrResumeGraceOver: every resume attempt failed until the gateway's
	// grace period was over; the session is gone and the device must log
	// in again.
	ErrResumeGraceOver = errors.New("devconn: could not resume within the grace period")
	// ErrLogoutUnconfirmed: the connection ended after LOGOUT was sent but
	// before the gateway acknowledged it. The gateway ends the session
	// anyway if the LOGOUT arrived, or after its grace period if not.
	ErrLogoutUnconfirmed = errors.New("devconn: connection ended before the logout was acknowledged")
	// ErrLinkClosed: the link's session is over.
	ErrLinkClosed = errors.New("devconn: link closed")
)

// SessionEndedError is a session the gateway ended with a status: a
// SERVER_STATUS during the session (LOGGED_OUT, SIGNED_ON_ELSEWHERE,
// GROUPWISE_UNAVAILABLE, SERVER_BUSY when a gateway task shuts down), or a
// refused RESUME.
type SessionEndedError struct {
	Status *devproto.ServerStatus
	// Resume is true when the gateway refused a resume.
	Resume bool
}

func (e *SessionEndedError) Error() string {
	if e.Resume {
		return fmt.Sprintf("devconn: resume refused with %v", e.Status.Code)
	}
	return fmt.Sprintf("devconn: session ended by the gateway with %v", e.Status.Code)
}

// LinkOption configures a Link.
type LinkOption func(*linkOptions) error

type linkOptions struct {
	grace          time.Duration
	attemptTimeout time.Duration
	backoff        time.Duration
	maxBackoff     time.Duration
	jitter         float64
	dial           func(ctx context.Context, addr string) (net.Conn, error)
	now            func() time.Time
	sleep          func(ctx context.Context, d time.Duration) error
}

// WithResumeGrace sets how long a link keeps trying to resume after a drop
// (DefaultResumeGrace): set it to the gateway's coverage grace.
func WithResumeGrace(d time.Duration) LinkOption {
	return func(o *linkOptions) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithResumeGrace: %v is not positive", d)
		}
		o.grace = d
		return nil
	}
}

// WithAttemptTimeout bounds each login or resume attempt
// (DefaultAttemptTimeout).
func WithAttemptTimeout(d time.Duration) LinkOption {
	return func(o *linkOptions) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithAttemptTimeout: %v is not positive", d)
		}
		o.attemptTimeout = d
		return nil
	}
}

// WithResumeBackoff sets the first wait after a failed resume and the
// most it doubles to (DefaultResumeBackoff, DefaultResumeMaxBackoff), and
// the random fraction added to each wait (DefaultResumeJitter; 0 for none).
func WithResumeBackoff(first, most time.Duration, jitter float64) LinkOption {
	return func(o *linkOptions) error {
		if first <= 0 || most < first || jitter < 0 || jitter > 1 {
			return fmt.Errorf("devconn: WithResumeBackoff: want 0 < first (%v) <= most (%v) and jitter (%v) in [0, 1]", first, most, jitter)
		}
		o.backoff, o.maxBackoff, o.jitter = first, most, jitter
		return nil
	}
}

// WithDialer replaces the TCP dial of every attempt (Client.Dial by
// default): a proxy, or a fault injected by a test.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) LinkOption {
	return func(o *linkOptions) error {
		if dial == nil {
			return errors.New("devconn: WithDialer: nil dial")
		}
		o.dial = dial
		return nil
	}
}

// WithLinkClock sets the clock the grace period is measured on and the
// wait between resume attempts (time.Now and a timer by default), so that
// a test can run the resume schedule without waiting for it.
func WithLinkClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) LinkOption {
	return func(o *linkOptions) error {
		if now == nil || sleep == nil {
			return errors.New("devconn: WithLinkClock: nil now or sleep")
		}
		o.now, o.sleep = now, sleep
		return nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// EventKind says what a link Event reports.
type EventKind int

// Link events.
const (
	// EventMessage carries a message for the application: RECEIVE_IM, or
	// a PONG answering the application's own PING.
	EventMessage EventKind = iota + 1
	// EventDropped: the connection dropped (Err says why); the link
	// resumes.
	EventDropped
	// EventResumeFailed: resume attempt Attempt failed (Err); the next
	// follows after Wait.
	EventResumeFailed
	// EventResumed: the session continues on a new connection; Status is
	// the new ACCEPTED, with the new resume token.
	EventResumed
)

// Event is what a link reports to its application while it runs.
type Event struct {
	Kind    EventKind
	Message devproto.Message
	Status  *devproto.ServerStatus
	Err     error
	Attempt int
	Wait    time.Duration
}

// Link is a device's session that outlives its connections: it logs in
// once, then answers PINGs, sends STATUS on the interval the gateway asked
// for, and when the connection drops resumes it with the latest resume
// token, retrying with backoff within the gateway's grace period, until
// the device logs out or the gateway ends the session.
//
// Run drives it and must be running for messages to arrive and for drops
// to be noticed. Send, SetPresence, Drop and Logout may be called from any
// goroutine.
type Link struct {
	client   *Client
	addr     string
	deviceID string
	o        linkOptions

	mu         sync.Mutex // guards every field below
	sess       *Session
	accepted   *devproto.ServerStatus // the latest ACCEPTED: session id, token, interval
	presence   devproto.Status        // sent on every STATUS tick
	running    bool
	runErr     error // what Run returned, once done is closed
	loggingOut bool
	closed     bool
	done       chan struct{} // closed when Run returns
}

// Connect dials addr and logs in with l, and returns the link for the new
// session. A refusal is a *RejectedError carrying the status.
func (c *Client) Connect(ctx context.Context, addr string, l devproto.Login, opts ...LinkOption) (*Link, error) {
	o := linkOptions{
		grace: DefaultResumeGrace, attemptTimeout: DefaultAttemptTimeout,
		backoff: DefaultResumeBackoff, maxBackoff: DefaultResumeMaxBackoff, jitter: DefaultResumeJitter,
		dial: c.Dial, now: time.Now, sleep: sleepCtx,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := devproto.CheckDeviceID(l.DeviceID); err != nil {
		return nil, fmt.Errorf("devconn: connect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.attemptTimeout)
	defer cancel()
	conn, err := o.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	s, err := c.Login(ctx, conn, l)
	if err != nil {
		return nil, err
	}
	return &Link{
		client: c, addr: addr, deviceID: l.DeviceID, o: o,
		sess: s, accepted: s.Accepted(), presence: devproto.Status{Presence: devproto.PresenceOnline},
		done: make(chan struct{}),
	}, nil
}

// Accepted returns the latest ACCEPTED: the session id, the current
// resume token and status interval.
func (l *Link) Accepted() *devproto.ServerStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted
}

func (l *Link) current() *Session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

// Send sends m on the current connection. While the link is resuming it
// fails (the connection is closed); the caller may send again after
// EventResumed.
func (l *Link) Send(ctx context.Context, m devproto.Message) error {
	l.mu.Lock()
	s, closed := l.sess, l.closed
	l.mu.Unlock()
	if closed {
		return ErrLinkClosed
	}
	return s.Send(ctx, m)
}

// SetPresence sets the presence every STATUS carries from now on, and
// sends it at once.
func (l *Link) SetPresence(ctx context.Context, st devproto.Status) error {
	l.mu.Lock()
	l.presence = st
	l.mu.Unlock()
	return l.Send(ctx, &st)
}

// Drop closes the current connection as a loss of coverage would: Run
// notices and resumes.
func (l *Link) Drop() {
	l.current().Close()
}

// Logout sends LOGOUT and waits, within ctx, for the gateway's
// acknowledgement: through Run when it is running, else by reading for it
// here. The link is closed when Logout returns. It returns
// ErrLogoutUnconfirmed when the connection ended first.
func (l *Link) Logout(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrLinkClosed
	}
	l.loggingOut = true
	s, running, done := l.sess, l.running, l.done
	l.mu.Unlock()
	defer l.close()
	if err := s.Send(ctx, &devproto.Logout{}); err != nil {
		return fmt.Errorf("%w: %w", ErrLogoutUnconfirmed, err)
	}
	if running {
		select {
		case <-done:
			l.mu.Lock()
			err := l.runErr
			l.mu.Unlock()
			return err // nil when Run saw the acknowledgement
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrLogoutUnconfirmed, context.Cause(ctx))
		}
	}
	for {
		m, err := s.Receive(ctx)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLogoutUnconfirmed, err)
		}
		if st, ok := m.(*devproto.ServerStatus); ok {
			if st.Code == status.LoggedOut {
				return nil
			}
			return &SessionEndedError{Status: st}
		}
	}
}

// close ends the link and its connection.
func (l *Link) close() {
	l.mu.Lock()
	l.closed = true
	s := l.sess
	l.mu.Unlock()
	s.Close()
}

// Run drives the link until the session ends, handing each message and
// event to on (called from Run's goroutine; it must not block for long).
// It returns nil after an acknowledged Logout, a *SessionEndedError when
// the gateway ended the session or refused a resume, ErrResumeGraceOver
// when resuming failed for the whole grace period, ErrLogoutUnconfirmed,
// or the cause of ctx. The link is closed when Run returns.
func (l *Link) Run(ctx context.Context, on func(Event)) (err error) {
	l.mu.Lock()
	if l.running || l.closed || l.loggingOut {
		// A Logout that began before Run reads its acknowledgement itself.
		l.mu.Unlock()
		return ErrLinkClosed
	}
	l.running = true
	l.mu.Unlock()
	defer func() {
		l.close()
		l.mu.Lock()
		l.runErr = err
		l.mu.Unlock()
		close(l.done)
	}()
	sctx, stopStatus := context.WithCancel(ctx)
	defer stopStatus()
	go l.statusLoop(sctx)
	for {
		s := l.current()
		m, err := s.Receive(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil {
			if l.isLoggingOut() {
				return fmt.Errorf("%w: %w", ErrLogoutUnconfirmed, err)
			}
			on(Event{Kind: EventDropped, Err: err})
			if err := l.resume(ctx, on); err != nil {
				return err
			}
			continue
		}
		switch m := m.(type) {
		case *devproto.Ping:
			_ = s.Send(ctx, &devproto.Pong{ID: m.ID}) // a failed send shows as a drop
		case *devproto.ServerStatus:
			if m.Code == status.LoggedOut && l.isLoggingOut() {
				return nil
			}
			return &SessionEndedError{Status: m}
		default:
			on(Event{Kind: EventMessage, Message: m})
		}
	}
}

func (l *Link) isLoggingOut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loggingOut
}

// resume reattaches the session after a drop: attempts with growing waits
// until one succeeds, the gateway refuses, or the grace period is over.
func (l *Link) resume(ctx context.Context, on func(Event)) error {
	start := l.o.now()
	backoff := l.o.backoff
	for attempt := 1; ; attempt++ {
		s, err := l.resumeOnce(ctx)
		if err == nil {
			l.mu.Lock()
			l.sess, l.accepted = s, s.Accepted()
			closed := l.closed
			l.mu.Unlock()
			if closed { // Logout's close raced the resume
				s.Close()
				return ErrLinkClosed
			}
			on(Event{Kind: EventResumed, Status: s.Accepted(), Attempt: attempt})
			return nil
		}
		var rej *RejectedError
		if errors.As(err, &rej) {
			return &SessionEndedError{Status: rej.Status, Resume: true}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		wait := backoff + time.Duration(l.o.jitter*rand.Float64()*float64(backoff)) //nolint:gosec // jitter, not a secret
		if l.o.now().Add(wait).Sub(start) >= l.o.grace {
			return fmt.Errorf("%w (%d attempts in %v): %w", ErrResumeGraceOver, attempt, l.o.grace, err)
		}
		on(Event{Kind: EventResumeFailed, Err: err, Attempt: attempt, Wait: wait})
		if err := l.o.sleep(ctx, wait); err != nil {
			return err
		}
		backoff = min(2*backoff, l.o.maxBackoff)
	}
}

func (l *Link) resumeOnce(ctx context.Context) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.attemptTimeout)
	defer cancel()
	st := l.Accepted()
	conn, err := l.o.dial(ctx, l.addr)
	if err != nil {
		return nil, err
	}
	return l.client.Resume(ctx, conn, devproto.Resume{DeviceID: l.deviceID, SessionID: st.SessionID, Token: st.ResumeToken})
}

// statusLoop sends the chosen presence on the interval the latest ACCEPTED
// asked for, until ctx ends. A failed send is left to Run, which sees the
// connection drop.
func (l *Link) statusLoop(ctx context.Context) {
	for {
		every := l.Accepted().StatusInterval
		if every <= 0 {
			every = DefaultStatusInterval
		}
		if sleepCtx(ctx, every) != nil {
			return
		}
		l.mu.Lock()
		s, st := l.sess, l.presence
		l.mu.Unlock()
		_ = s.Send(ctx, &st)
	}
}
