package gwsim

import (
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// LoginTiming is how long one login took as the server saw it: from
// accepting the TCP connection to writing the login answer. That is
// GroupWise's own share of a gateway login: the TLS handshake (both
// sides' work, as it is a dialogue), the login request and the answer.
// `collabgw bench` subtracts it from a device's login latency to report
// the gateway's latency excluding GroupWise.
type LoginTiming struct {
	// User is the user id the login named, as sent.
	User   string
	Result gwproto.ResultCode
	// Handshake runs from the accept to the end of the TLS handshake;
	// Total to the login answer written.
	Handshake, Total time.Duration
}

// ObserveLogins calls fn after every login answer, on the connection's
// goroutine (fn must be quick and safe for concurrent use), until the
// returned stop is called. One observer at a time: a second call replaces
// the first.
func (s *Server) ObserveLogins(fn func(LoginTiming)) (stop func()) {
	s.observer.Store(&fn)
	return func() { s.observer.CompareAndSwap(&fn, nil) }
}

// observeLogin reports this connection's login to the observer, if any.
func (c *session) observeLogin(user string, code gwproto.ResultCode) {
	fn := c.srv.observer.Load()
	if fn == nil {
		return
	}
	now := time.Now()
	(*fn)(LoginTiming{User: user, Result: code, Handshake: c.handshaken.Sub(c.accepted), Total: now.Sub(c.accepted)})
}
