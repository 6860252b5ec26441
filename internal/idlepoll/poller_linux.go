package idlepoll

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxEvents is how many readiness events one epoll_wait returns; more wait
// for the next call, which comes at once.
const maxEvents = 128

// Poller is one epoll instance and the goroutine that waits on it. The
// goroutine does not block a thread: the epoll descriptor is itself
// registered with the Go runtime's network poller.
type Poller struct {
	epfd int
	file *os.File // owns epfd; kept referenced so no finalizer closes it

	mu      sync.Mutex // guards the fields below
	watches map[uint32]*Watch
	next    uint32
	err     error // why the poller stopped; every Arm fails with it
}

// Watch is one connection registered with a Poller.
type Watch struct {
	p       *Poller
	rc      syscall.RawConn
	onReady func()
	token   uint32

	mu     sync.Mutex // guards the fields below
	added  bool       // registered with epoll (disarmed once it fired)
	closed bool
}

// New creates a Poller and starts its goroutine, which lives as long as
// the process.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("idlepoll: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("idlepoll: epoll descriptor: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime's
	// poller, so waiting on it parks a goroutine instead of a thread.
	f := os.NewFile(uintptr(epfd), "idlepoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("idlepoll: epoll descriptor: %w", err)
	}
	p := &Poller{epfd: epfd, file: f, watches: map[uint32]*Watch{}}
	go p.loop(rc)
	return p, nil
}

// Watch registers a socket (from a *net.TCPConn's SyscallConn, say),
// disarmed: onReady runs only after Arm.
func (p *Poller) Watch(rc syscall.RawConn, onReady func()) (*Watch, error) {
	if rc == nil || onReady == nil {
		return nil, errors.New("idlepoll: nil connection or onReady")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	for {
		p.next++
		if _, taken := p.watches[p.next]; !taken {
			break
		}
	}
	w := &Watch{p: p, rc: rc, onReady: onReady, token: p.next}
	p.watches[w.token] = w
	return w, nil
}

// Close stops the poller: every watch's onReady runs once more and Arm
// fails from then on, so their owners read on goroutines of their own. The
// process-wide poller is never closed.
func (p *Poller) Close() error { return p.file.Close() }

// Watching is how many watches are registered, for tests and metrics.
func (p *Poller) Watching() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// Arm makes onReady run once, on a new goroutine, as soon as the
// connection has input, has hung up or has failed — at once if it already
// has. The caller must have read everything TryRead returns first:
// readiness is level-triggered.
func (w *Watch) Arm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	w.p.mu.Lock()
	perr := w.p.err
	w.p.mu.Unlock()
	if perr != nil {
		return perr
	}
	op := unix.EPOLL_CTL_MOD
	if !w.added {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(w.token)}
	var ctlErr error
	if err := w.rc.Control(func(fd uintptr) { ctlErr = unix.EpollCtl(w.p.epfd, op, int(fd), &ev) }); err != nil {
		return fmt.Errorf("idlepoll: arm: %w", err)
	}
	if ctlErr != nil {
		return fmt.Errorf("idlepoll: epoll_ctl: %w", ctlErr)
	}
	w.added = true
	return nil
}

// Close stops watching. Call it before closing the connection. An onReady
// already on its way may still run once.
func (w *Watch) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.p.mu.Lock()
	delete(w.p.watches, w.token)
	w.p.mu.Unlock()
	if !w.added {
		return nil
	}
	var ctlErr error
	if err := w.rc.Control(func(fd uintptr) { ctlErr = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) }); err != nil {
		return nil // already closed: the kernel dropped the registration with it
	}
	if ctlErr != nil && !errors.Is(ctlErr, unix.ENOENT) {
		return fmt.Errorf("idlepoll: epoll_ctl: %w", ctlErr)
	}
	return nil
}

// loop waits for readiness and starts each ready watch's onReady. Should
// epoll itself fail, every watch is woken so that its owner finds Arm
// failing and falls back to a goroutine of its own: no connection is left
// waiting on a poller that no longer polls.
func (p *Poller) loop(rc syscall.RawConn) {
	events := make([]unix.EpollEvent, maxEvents)
	var ready []*Watch
	for {
		var n int
		var waitErr error
		err := rc.Read(func(fd uintptr) bool {
			n, waitErr = unix.EpollWait(int(fd), events, 0)
			if errors.Is(waitErr, unix.EINTR) {
				n, waitErr = 0, nil
			}
			return n > 0 || waitErr != nil
		})
		if err == nil {
			err = waitErr
		}
		p.mu.Lock()
		if err != nil {
			p.err = fmt.Errorf("idlepoll: epoll_wait: %w", err)
			for _, w := range p.watches {
				ready = append(ready, w)
			}
		} else {
			for _, ev := range events[:n] {
				if w, ok := p.watches[uint32(ev.Fd)]; ok {
					ready = append(ready, w)
				}
			}
		}
		p.mu.Unlock()
		for i, w := range ready {
			go w.onReady()
			ready[i] = nil
		}
		ready = ready[:0]
		if err != nil {
			return
		}
	}
}

// TryRead reads into b what has already arrived on conn, without waiting:
// ErrWouldBlock when nothing has, io.EOF when the peer closed. It ignores
// read deadlines that have not passed.
func TryRead(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var n int
	var readErr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, readErr = unix.Read(int(fd), b)
			if !errors.Is(readErr, unix.EINTR) {
				return true // never wait: EAGAIN is the answer
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(readErr, unix.EAGAIN):
		return 0, ErrWouldBlock
	case readErr != nil:
		return 0, os.NewSyscallError("read", readErr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
