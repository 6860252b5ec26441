package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says how a setting's value is written and read.
type Kind int

// Kinds of settings.
const (
	// KindText is any string (a name, an address, a path).
	KindText Kind = iota + 1
	// KindSecret is a string that never appears in an error or a log.
	KindSecret
	// KindSeconds is a whole number of seconds, read as a time.Duration.
	KindSeconds
	// KindCount is a whole number.
	KindCount
	// KindRate is a decimal number (per second).
	KindRate
	// KindChoice is one of Choices.
	KindChoice
)

// Setting is one environment variable a program reads: its default, the
// range the Go code accepts, and the Terraform variable and SAM parameter
// that set it. The Terraform validation blocks and SAM parameter
// constraints are generated from these ranges (ranges_test.go checks them,
// and rewrites them with -update), so a value the deployment accepts is a
// value the programs start with.
type Setting struct {
	Env string
	// Kind says how the value is parsed.
	Kind Kind
	// Default is the value, as the environment would carry it, that an
	// unset variable means; "" with Required means there is none.
	Default  string
	Required bool
	// Min and Max bound KindSeconds, KindCount and KindRate values,
	// inclusive.
	Min, Max float64
	// Choices are the values a KindChoice setting accepts.
	Choices []string
	// Description says what the setting does, for people.
	Description string
	// Terraform names the variable of the modules in infra/modules that
	// sets it ("" for none); TerraformModules lists those modules.
	Terraform        string
	TerraformModules []string
	// SAM names the template.yaml parameter that sets it ("" for none).
	SAM string
}

// Numeric reports whether s has a range.
func (s Setting) Numeric() bool {
	return s.Kind == KindSeconds || s.Kind == KindCount || s.Kind == KindRate
}

// Whole reports whether s takes whole numbers only.
func (s Setting) Whole() bool { return s.Kind == KindSeconds || s.Kind == KindCount }

// Want says, in words, what values s accepts (for error messages, here and
// in the Terraform validations).
func (s Setting) Want() string {
	switch s.Kind {
	case KindSeconds:
		return fmt.Sprintf("a whole number of seconds between %s and %s", FormatNumber(s.Min), FormatNumber(s.Max))
	case KindCount:
		return fmt.Sprintf("a whole number between %s and %s", FormatNumber(s.Min), FormatNumber(s.Max))
	case KindRate:
		return fmt.Sprintf("a number between %s and %s", FormatNumber(s.Min), FormatNumber(s.Max))
	case KindChoice:
		return "one of " + joinOr(s.Choices)
	}
	return "a value"
}

// FormatNumber writes n as Go, Terraform and SAM all read it: without an
// exponent or a trailing ".0".
func FormatNumber(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

func joinOr(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// Defaults, in the units the environment uses. The Go options of the edge
// and the admission store take their defaults from these, so a default is
// written once.
const (
	// An edge task's lease and heartbeat (admission.DefaultLeaseDuration
	// says why these values).
	DefaultLeaseSeconds         = 30
	DefaultHeartbeatSeconds     = 10
	DefaultCoverageGraceSeconds = 120
	DefaultAddrLoginRate        = 20
	DefaultMaxConnections       = 50_000
	DefaultLogLevel             = "info"
	DefaultGroupWiseCADir       = "/etc/collabgw/groupwise-ca" //nolint:gosec // a folder of CA certificates, not a credential
)

// MaxSettingSeconds bounds the lease, heartbeat and coverage grace: longer
// is a typo (a lease of a day keeps a crashed task's slots for a day).
const MaxSettingSeconds = 3600

// LogLevels are the values of COLLABGW_LOG_LEVEL, least severe first.
var LogLevels = []string{"debug", "info", "warn", "error"}

const (
	moduleEdge      = "edge"
	moduleFunctions = "functions"
)

// The settings. A program reads each with a Reader.
var (
	Table = Setting{
		Env: EnvTable, Kind: KindText, Required: true,
		Description: "Name of the DynamoDB table.",
	}
	Lease = Setting{
		Env: EnvLeaseSeconds, Kind: KindSeconds, Default: itoa(DefaultLeaseSeconds), Min: 2, Max: MaxSettingSeconds,
		Description: "An edge task's lease in seconds; at least two heartbeats, so one lost heartbeat does not kill the task.",
		Terraform:   "lease_seconds", TerraformModules: []string{moduleEdge, moduleFunctions}, SAM: "LeaseSeconds",
	}
	Heartbeat = Setting{
		Env: EnvHeartbeatSeconds, Kind: KindSeconds, Default: itoa(DefaultHeartbeatSeconds), Min: 1, Max: MaxSettingSeconds / 2,
		Description: "Interval in seconds at which each edge task renews its lease (one write per task); at most half the lease.",
		Terraform:   "heartbeat_seconds", TerraformModules: []string{moduleEdge, moduleFunctions}, SAM: "HeartbeatSeconds",
	}
	LogLevel = Setting{
		Env: EnvLogLevel, Kind: KindChoice, Default: DefaultLogLevel, Choices: LogLevels,
		Description: "Least severe level logged: debug, info, warn or error.",
		Terraform:   "log_level", TerraformModules: []string{moduleEdge, moduleFunctions}, SAM: "LogLevel",
	}

	ListenAddr = Setting{
		Env: EnvListenAddr, Kind: KindText, Default: ":" + itoa(DevicePort),
		Description: "Address of the device port.",
	}
	HealthAddr = Setting{
		Env: EnvHealthAddr, Kind: KindText, Default: ":" + itoa(HealthPort),
		Description: "Address of the health endpoint (/healthz, /stats).",
	}
	AuthorizeFunction = Setting{
		Env: EnvAuthorizeFunction, Kind: KindText, Required: true,
		Description: "Name or ARN of the authorize function.",
	}
	ReleaseFunction = Setting{
		Env: EnvReleaseFunction, Kind: KindText, Required: true,
		Description: "Name or ARN of the release function.",
	}
	GatewayKey = Setting{
		Env: EnvGatewayKey, Kind: KindSecret, Required: true,
		Description: "The gateway's Noise static private key (base64, as `collabgw keys gateway` writes it); devices are provisioned with its public half.",
	}
	GatewayKeyNext = Setting{
		Env: EnvGatewayKeyNext, Kind: KindSecret,
		Description: "During a key rotation, the next gateway private key: devices provisioned with either public key log in.",
	}
	Drain = Setting{
		Env: EnvDrainSeconds, Kind: KindSeconds, Default: itoa(DefaultDrainSecs), Min: 1, Max: DefaultStopTimeout - 1,
		Description: "Seconds the edge drains sessions after SIGTERM; shorter than the ECS stop timeout.",
		Terraform:   "drain_seconds", TerraformModules: []string{moduleEdge},
	}
	GroupWiseCADir = Setting{
		Env: EnvGroupWiseCADir, Kind: KindText, Default: DefaultGroupWiseCADir,
		Description: "Folder that a pool's relative caRef names a PEM bundle in.",
		Terraform:   "groupwise_ca_dir", TerraformModules: []string{moduleEdge},
	}
	CoverageGrace = Setting{
		Env: EnvCoverageGraceSeconds, Kind: KindSeconds, Default: itoa(DefaultCoverageGraceSeconds), Min: 1, Max: MaxSettingSeconds,
		Description: "Seconds a device that lost coverage may take to resume before its session is logged out.",
		Terraform:   "coverage_grace_seconds", TerraformModules: []string{moduleEdge},
	}
	AddrLoginRate = Setting{
		Env: EnvAddrLoginRate, Kind: KindRate, Default: itoa(DefaultAddrLoginRate), Min: 0, Max: 100_000,
		Description: "New device connections per second allowed per source address, burst twice that; 0 turns the limit off.",
		Terraform:   "addr_login_rate", TerraformModules: []string{moduleEdge},
	}
	MaxConnections = Setting{
		Env: EnvMaxConnections, Kind: KindCount, Default: itoa(DefaultMaxConnections), Min: 1, Max: 1_000_000,
		Description: "Cap on open device connections per edge task.",
		Terraform:   "max_connections", TerraformModules: []string{moduleEdge},
	}
	PeerAddr = Setting{
		Env: EnvPeerAddr, Kind: KindText, Default: ":" + itoa(PeerPort),
		Description: "Address of the task-to-task link, where other edge tasks relay RESUMEs for the sessions this task holds.",
	}
	PeerAdvertiseAddr = Setting{
		Env: EnvPeerAdvertiseAddr, Kind: KindText,
		Description: "Where other edge tasks reach this task's task-to-task link (host:port), stored in its lease. Unset: the peer listen address when it names a host, else on ECS the task's own IPv4 address (task metadata endpoint) with the peer port.",
	}
	PeerKey = Setting{
		Env: EnvPeerKey, Kind: KindSecret,
		Description: "The task-to-task link's pre-shared key (base64 of 32 bytes), the same on every edge task; unset, the link is off and a RESUME works only on the task holding the session.",
	}
	PeerKeyNext = Setting{
		Env: EnvPeerKeyNext, Kind: KindSecret,
		Description: "During a rotation of the task-to-task key, the key it moves to: accepted besides the current one (internal/peerlink).",
	}
	GoMemLimit = Setting{
		Env: EnvGoMemLimit, Kind: KindText,
		Description: "The Go runtime's soft memory limit (read by the runtime, not by collabgw); about 90 % of the task's memory.",
	}
	GoGC = Setting{
		Env: EnvGoGC, Kind: KindText,
		Description: "The garbage collector's headroom over the live heap, in percent (read by the runtime, not by collabgw; unset, Go's 100). The edge module sets 50 (gc_percent): a held session then costs about 20 KiB of RSS instead of 26.",
	}
)

// Settings lists every setting, in the order of the Program.Env lists.
func Settings() []Setting {
	return []Setting{
		Table, Lease, Heartbeat, LogLevel, ListenAddr, HealthAddr, AuthorizeFunction, ReleaseFunction,
		GatewayKey, GatewayKeyNext, Drain, GroupWiseCADir, CoverageGrace, AddrLoginRate, MaxConnections, GoMemLimit,
		GoGC, PeerAddr, PeerKey, PeerKeyNext, PeerAdvertiseAddr,
	}
}

// SettingFor returns the setting of an environment variable.
func SettingFor(env string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Env == env {
			return s, true
		}
	}
	return Setting{}, false
}

func itoa(n int) string { return strconv.Itoa(n) }
