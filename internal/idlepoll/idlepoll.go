// Package idlepoll lets a process hold tens of thousands of mostly idle
// connections without a goroutine parked on each. A Watch asks one shared
// epoll instance to run a callback, once, on a new goroutine, when its
// connection has input (or has hung up); the connection's owner reads what
// came with TryRead, which never waits, and arms the Watch again when nothing
// is left. A parked goroutine costs its stack (2–8 KiB, kept at the size
// its deepest call needed until a collection shrinks it); a Watch costs a
// map entry.
//
// It is Linux-only (the edge runs on Linux); elsewhere New and Default
// return ErrUnsupported and callers keep a goroutine per connection.
package idlepoll

import (
	"errors"
	"sync"
)

// ErrUnsupported is returned where the platform has no epoll.
var ErrUnsupported = errors.New("idlepoll: not supported on this platform")

// ErrClosed is returned by Arm after Close.
var ErrClosed = errors.New("idlepoll: watch closed")

// ErrWouldBlock is what TryRead returns when nothing has arrived. It is a
// net.Error whose Timeout and Temporary are true, so a reader layered on
// top (crypto/tls) treats it as a read deadline that passed: it keeps its
// state and the connection stays usable.
var ErrWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "idlepoll: no input yet" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

// Default returns the process-wide Poller, created on first use.
func Default() (*Poller, error) { return defaultPoller() }

var defaultPoller = sync.OnceValues(New)
