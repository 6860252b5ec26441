package gwsim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
)

// Defaults of the options.
const (
	// DemoPassword is the password of every user made by WithDemoUsers.
	DemoPassword = demo.Password
	// DefaultDNSuffix is appended to a user's name to make its DN.
	DefaultDNSuffix = ",ou=users,o=collabgw"
	// DefaultHandshakeTimeout bounds the TLS handshake of a new connection.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one write to a client, so a stuck client
	// cannot hold up the user who sends it a message.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultIdleTimeout closes a connection that sent nothing for this long;
	// Pidgin pings every 30 s.
	DefaultIdleTimeout = 5 * time.Minute
	// MaxDemoUsers bounds WithDemoUsers.
	MaxDemoUsers = demo.MaxUsers
)

// ErrBadOption reports an invalid option value.
var ErrBadOption = errors.New("gwsim: invalid option")

// Option configures a Server.
type Option func(*config) error

// accountState is a login-blocking condition of a user.
type accountState int

const (
	accountActive accountState = iota
	accountLocked
	accountAdminLocked
	accountDisabled
)

type config struct {
	users            map[string]string // lower-case user id -> password
	states           map[string]accountState
	contacts         map[string][]string // lower-case user id -> contact user ids
	maxConnections   int
	kickDuplicate    bool
	keepaliveMinutes uint32
	loginDelay       time.Duration
	dropAfter        time.Duration
	rejectTLS        bool
	stall            map[string]time.Duration // command -> stall in mid-response
	handshakeTimeout time.Duration
	writeTimeout     time.Duration
	idleTimeout      time.Duration
	log              *slog.Logger
	now              func() time.Time
}

func defaultConfig() *config {
	return &config{
		users:            map[string]string{},
		states:           map[string]accountState{},
		contacts:         map[string][]string{},
		stall:            map[string]time.Duration{},
		handshakeTimeout: DefaultHandshakeTimeout,
		writeTimeout:     DefaultWriteTimeout,
		idleTimeout:      DefaultIdleTimeout,
		log:              slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:              time.Now,
	}
}

// WithUser adds a user with a password. Names are case-insensitive and may not
// hold ',' or '=' (they become part of a DN).
func WithUser(name, password string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, ",=\x00") || password == "" {
			return fmt.Errorf("%w: user %q needs a plain name and a password", ErrBadOption, name)
		}
		c.users[strings.ToLower(name)] = password
		return nil
	}
}

// WithDemoUsers adds n users user0001, user0002, ... with DemoPassword.
func WithDemoUsers(n int) Option {
	return func(c *config) error {
		if n < 0 || n > MaxDemoUsers {
			return fmt.Errorf("%w: demo users %d not in 0..%d", ErrBadOption, n, MaxDemoUsers)
		}
		for i := 1; i <= n; i++ {
			c.users[demo.UserID(i)] = DemoPassword
		}
		return nil
	}
}

// WithLocked makes logins of these users fail with ACCESS_DENIED (53510),
// as after too many bad passwords.
func WithLocked(names ...string) Option { return withState(accountLocked, names) }

// WithAdminLocked makes logins of these users fail with ADMIN_LOCKED (53532).
func WithAdminLocked(names ...string) Option { return withState(accountAdminLocked, names) }

// WithDisabled makes logins of these users fail with USER_DISABLED (53520).
func WithDisabled(names ...string) Option { return withState(accountDisabled, names) }

func withState(s accountState, names []string) Option {
	return func(c *config) error {
		for _, n := range names {
			c.states[strings.ToLower(n)] = s
		}
		return nil
	}
}

// WithContacts puts contacts in owner's login contact list, so that real
// clients know them before the first IM arrives (Pidgin loses the first IM
// from a sender it has no record of).
func WithContacts(owner string, contacts ...string) Option {
	return func(c *config) error {
		key := strings.ToLower(owner)
		for _, ct := range contacts {
			c.contacts[key] = append(c.contacts[key], strings.ToLower(ct))
		}
		return nil
	}
}

// WithMaxConnections answers SERVER_BUSY (53539) to logins beyond n
// logged-in sessions; 0 means no limit.
func WithMaxConnections(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: max connections %d", ErrBadOption, n)
		}
		c.maxConnections = n
		return nil
	}
}

// WithKickDuplicate makes a second login of a user end the first with event
// 114, as servers before Messenger 3.0 did. Without it both coexist.
func WithKickDuplicate(kick bool) Option {
	return func(c *config) error { c.kickDuplicate = kick; return nil }
}

// WithKeepalive sends NM_A_UD_KEEPALIVE (minutes) in login answers; 0 omits it.
func WithKeepalive(minutes uint32) Option {
	return func(c *config) error { c.keepaliveMinutes = minutes; return nil }
}

// WithLoginDelay delays every login answer (fault injection).
func WithLoginDelay(d time.Duration) Option {
	return func(c *config) error { c.loginDelay = d; return nonNegative(d) }
}

// WithDropAfter closes every connection d after it was accepted, without a
// goodbye event (fault injection: a network drop).
func WithDropAfter(d time.Duration) Option {
	return func(c *config) error { c.dropAfter = d; return nonNegative(d) }
}

// WithIdleTimeout closes a connection silent for d.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error { c.idleTimeout = d; return positive(d) }
}

// WithWriteTimeout bounds each write to a client.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error { c.writeTimeout = d; return positive(d) }
}

func nonNegative(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: negative duration %v", ErrBadOption, d)
	}
	return nil
}

func positive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: duration %v must be positive", ErrBadOption, d)
	}
	return nil
}

// WithRejectTLS fails every TLS handshake (fault injection).
func WithRejectTLS(reject bool) Option {
	return func(c *config) error { c.rejectTLS = reject; return nil }
}

// WithStall writes the first half of every answer to command, waits d, then
// writes the rest (fault injection: a server stalled mid-response).
func WithStall(command string, d time.Duration) Option {
	return func(c *config) error {
		if command == "" || d <= 0 {
			return fmt.Errorf("%w: stall needs a command and a positive duration", ErrBadOption)
		}
		c.stall[command] = d
		return nil
	}
}

// WithLogger sets the logger. Passwords are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithClock sets the clock used for certificate validity.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.now = now
		return nil
	}
}
