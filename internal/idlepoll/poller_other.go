//go:build !linux

package idlepoll

import "syscall"

// Poller is unavailable on this platform: New returns ErrUnsupported.
type Poller struct{}

// Watch is unavailable on this platform.
type Watch struct{}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Watch returns ErrUnsupported.
func (p *Poller) Watch(syscall.RawConn, func()) (*Watch, error) { return nil, ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Watching returns 0.
func (p *Poller) Watching() int { return 0 }

// Arm returns ErrUnsupported.
func (w *Watch) Arm() error { return ErrUnsupported }

// Close does nothing.
func (w *Watch) Close() error { return nil }

// TryRead returns ErrUnsupported.
func TryRead(syscall.RawConn, []byte) (int, error) { return 0, ErrUnsupported }
