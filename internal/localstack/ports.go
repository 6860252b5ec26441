package localstack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// maxPickAttempts bounds the tries for one free port.
const maxPickAttempts = 64

// portPicker hands out free loopback addresses for the stack's internal
// listeners (the emulators, DynamoDB Local on a free port, the edges'
// own ports, the balancer's stats page). It never hands out a port the
// user configured for another listener, even one not bound yet, nor one it
// handed out before: a free port the kernel offers now may be exactly the
// one a listener started a second later was told to use.
//
// It picks below the kernel's ephemeral range (ip_local_port_range), so
// that a port an edge gives up when it is killed cannot be taken as the
// source port of some outgoing connection (a health check, an SDK call)
// before the edge restarts on it.
type portPicker struct {
	mu    sync.Mutex
	taken map[int]bool // configured ports and ports handed out
}

// newPortPicker reserves the ports of the given listen addresses (host:port;
// port 0 and empty addresses reserve nothing).
func newPortPicker(configured ...string) (*portPicker, error) {
	p := &portPicker{taken: map[int]bool{}}
	for _, a := range configured {
		if a == "" {
			continue
		}
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("localstack: listen address %q: %w", a, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("localstack: listen address %q: bad port", a)
		}
		if n != 0 {
			p.taken[n] = true
		}
	}
	return p, nil
}

// pick returns a free loopback address no one else in the stack uses.
func (p *portPicker) pick() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lo, hi := pickRange(); lo < hi {
		for range maxPickAttempts {
			port := lo + rand.IntN(hi-lo) //nolint:gosec // spreading ports, not a secret
			if p.taken[port] {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			ln.Close()
			p.taken[port] = true
			return ln.Addr().String(), nil
		}
	}
	// Refused ports stay bound until the end, so the kernel offers others.
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for range maxPickAttempts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("localstack: find a free port: %w", err)
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if !p.taken[port] {
			p.taken[port] = true
			return ln.Addr().String(), nil
		}
	}
	return "", errors.New("localstack: no free port outside the configured ones")
}

// pickRange is the range pick draws from: the ports below the kernel's
// ephemeral range, from 10000 (clear of well-known services). An empty
// range makes pick fall back to the kernel's choice.
func pickRange() (lo, hi int) {
	ephemeralLo := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				ephemeralLo = n
			}
		}
	}
	return 10000, ephemeralLo
}
