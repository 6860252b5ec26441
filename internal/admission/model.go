package admission

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/collabgw/collabgw/internal/manifest"
)

// Defaults of a pool's configuration.
const (
	// DefaultProtocolLimit is a GroupWise Messaging Agent's default maximum
	// number of users: past it a pool without a maximum answers FAILED_300.
	DefaultProtocolLimit = 5120
	// DefaultGroupWisePort is GroupWise Messenger's client port.
	DefaultGroupWisePort = manifest.GroupWisePort
	// MaxDuration bounds every configured timeout; a longer one is a typo.
	MaxDuration = 30 * 24 * time.Hour
)

// PoolConfig is the session policy of one GroupWise server pool.
type PoolConfig struct {
	Name string `json:"name"`
	// MaxSessions is the most live sessions the pool admits; 0 means no
	// maximum (the protocol limit applies).
	MaxSessions int `json:"maxSessions,omitempty"`
	// IdleTimeout makes room at the maximum: sessions out of coverage, or
	// whose last status message is older than it, may be evicted. 0: never.
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`
	// InactivityTimeout logs out sessions silent longer than it at any
	// count (the sweep does it). 0: never.
	InactivityTimeout time.Duration `json:"inactivityTimeout,omitempty"`
	// ProtocolLimit is what the GroupWise server supports (default 5120).
	ProtocolLimit int             `json:"protocolLimit,omitempty"`
	GroupWise     GroupWiseTarget `json:"groupwise"`
}

// GroupWiseTarget says where and how the edge reaches the pool's server.
type GroupWiseTarget struct {
	Host string `json:"host"`
	Port int    `json:"port,omitempty"`
	// CARef names the CA bundle the edge trusts: "secretsmanager:<name or
	// ARN>", a bare secret ARN, or a PEM file path (internal/edge, cabundle.go).
	CARef string `json:"caRef,omitempty"`
	// PinSHA256 is the hex SHA-256 of the server certificate, when pinned.
	PinSHA256 string `json:"pinSha256,omitempty"`
}

// ConfigError says what is wrong with a pool configuration.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("admission: invalid pool config: %s %s", e.Field, e.Reason)
}

// Unwrap makes every ConfigError match ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Normalized returns the configuration with defaults filled in, or a
// *ConfigError naming the first bad field.
func (c PoolConfig) Normalized() (PoolConfig, error) {
	if err := validName(c.Name); err != nil {
		return c, &ConfigError{"name", err.Error()}
	}
	if c.ProtocolLimit == 0 {
		c.ProtocolLimit = DefaultProtocolLimit
	}
	if c.GroupWise.Port == 0 {
		c.GroupWise.Port = DefaultGroupWisePort
	}
	switch {
	case c.MaxSessions < 0:
		return c, &ConfigError{"maxSessions", "must be positive (or 0 for no maximum)"}
	case c.ProtocolLimit < 0:
		return c, &ConfigError{"protocolLimit", "must be positive"}
	case c.MaxSessions > c.ProtocolLimit:
		return c, &ConfigError{"maxSessions", fmt.Sprintf("%d exceeds the protocol limit %d", c.MaxSessions, c.ProtocolLimit)}
	case c.IdleTimeout < 0 || c.IdleTimeout > MaxDuration:
		return c, &ConfigError{"idleTimeout", "must be between 0 and 30 days"}
	case c.IdleTimeout != 0 && c.IdleTimeout < time.Second:
		return c, &ConfigError{"idleTimeout", "must be at least 1s"}
	case c.InactivityTimeout < 0 || c.InactivityTimeout > MaxDuration:
		return c, &ConfigError{"inactivityTimeout", "must be between 0 and 30 days"}
	case c.InactivityTimeout != 0 && c.InactivityTimeout < time.Second:
		return c, &ConfigError{"inactivityTimeout", "must be at least 1s"}
	case c.GroupWise.Host == "":
		return c, &ConfigError{"groupwise.host", "is required"}
	case strings.ContainsAny(c.GroupWise.Host, " /"):
		return c, &ConfigError{"groupwise.host", "must be a host name or address"}
	case c.GroupWise.Port < 1 || c.GroupWise.Port > 65535:
		return c, &ConfigError{"groupwise.port", "must be between 1 and 65535"}
	case c.GroupWise.PinSHA256 != "" && !isHex(c.GroupWise.PinSHA256, 64):
		return c, &ConfigError{"groupwise.pinSha256", "must be 64 hex digits"}
	}
	// One spelling of a pin, whoever wrote it (the admin CLI, authorize's
	// reader, Terraform's lower()).
	c.GroupWise.PinSHA256 = strings.ToLower(c.GroupWise.PinSHA256)
	return c, nil
}

// limit is the count at which new logins stop being admitted directly.
func (c PoolConfig) limit() int {
	if c.MaxSessions > 0 {
		return c.MaxSessions
	}
	return c.ProtocolLimit
}

// User is a person who may log in through the gateway.
type User struct {
	ID   string `json:"id"`
	Pool string `json:"pool"`
	// Permitted says whether the user may use the collaboration client.
	Permitted bool `json:"permitted"`
}

// Device is a registered device: its Noise static key and the user it is
// bound to.
type Device struct {
	ID        string `json:"id"`
	UserID    string `json:"userId"`
	PublicKey []byte `json:"publicKey"`
	Active    bool   `json:"active"`
}

// Coverage says whether a session's device is connected to the edge.
type Coverage string

// Coverage states.
const (
	CoverageIn  Coverage = "in"
	CoverageOut Coverage = "out"
)

// SessionRef names a session. The device id is part of the key: a device
// has at most one session.
type SessionRef struct {
	Pool     string `json:"pool"`
	DeviceID string `json:"deviceId"`
	ID       string `json:"sessionId"`
}

func (r SessionRef) String() string { return r.Pool + "/" + r.DeviceID + "/" + r.ID }

func (r SessionRef) validate() error {
	if r.Pool == "" || r.DeviceID == "" || r.ID == "" {
		return fmt.Errorf("%w: session reference needs pool, device and session id", ErrInvalidRequest)
	}
	return nil
}

// Session is a live session as stored. It never holds a password.
type Session struct {
	SessionRef
	UserID    string    `json:"userId"`
	Owner     string    `json:"owner"`
	RequestID string    `json:"requestId"`
	Version   int64     `json:"version"`
	Created   time.Time `json:"created"`
	// LeaseExpires is the owner task's lease expiry, where the read that
	// returned the session looked it up (ListSessions); zero otherwise.
	LeaseExpires time.Time `json:"leaseExpires,omitzero"`
	// LastStatus is the device's last STATUS as the store knows it: exact
	// while the session is silent or out of coverage; while the device
	// keeps sending STATUS its edge does not write each one.
	LastStatus    time.Time `json:"lastStatus"`
	Coverage      Coverage  `json:"coverage"`
	CoverageSince time.Time `json:"coverageSince"`
	// Silent: in coverage, but its edge has seen no STATUS for the silence
	// threshold (StatusTiming).
	Silent bool `json:"silent,omitempty"`
	// ResumeTokenHash is the hash of the device's resume token.
	ResumeTokenHash []byte `json:"-"`
	// Connectivity is the cached GroupWise connection facts.
	Connectivity Connectivity `json:"connectivity"`
}

// Connectivity is the session's connectivity cache (README, "The flow",
// step 5): the GroupWise connection facts the edge caches once the login
// succeeded, so that the session can be maintained — resumed after a drop
// in coverage, on any task — without a new GroupWise login.
type Connectivity struct {
	Host      string `json:"host,omitempty"`
	Port      int    `json:"port,omitempty"`
	UserDN    string `json:"userDn,omitempty"`
	Keepalive int    `json:"keepaliveMinutes,omitempty"`
	EdgeAddr  string `json:"edgeAddr,omitempty"`
}

func validName(s string) error {
	switch {
	case s == "":
		return errors.New("is required")
	case len(s) > 256:
		return errors.New("is longer than 256 bytes")
	case strings.ContainsAny(s, "#\x00"):
		return errors.New("must not contain '#' or NUL")
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
