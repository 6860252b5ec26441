// Package manifest is the one source of truth for the names the Go code and
// the deployment share: the Lambda functions, the environment each program
// reads (with each setting's default and range, and the one Reader that
// parses them), the table's key attributes and indexes, and the actions
// each program needs. The Terraform modules and the SAM template are
// checked against it by tests, so a name, a default or a range changed on
// one side fails the build.
//
// The settings table and its Reader live here rather than in a package of
// their own because the ranges are what the deployment is generated from:
// one table, read by the programs and by the tests that check Terraform
// and SAM, cannot drift from itself.
package manifest

// Function names; each is also the folder functions/<name> and the binary
// dist/<name>/bootstrap.
const (
	FunctionAuthorize = "authorize"
	FunctionRelease   = "release"
	FunctionSweep     = "sweep"
)

// Environment variables.
const (
	// EnvTable names the DynamoDB table (functions and edge).
	EnvTable = "COLLABGW_TABLE"
	// EnvLeaseSeconds and EnvHeartbeatSeconds set an edge task's lease and
	// the interval the task renews it at (functions and edge; defaults 30
	// and 10: admission.DefaultLeaseDuration, DefaultHeartbeatInterval).
	EnvLeaseSeconds     = "COLLABGW_LEASE_SECONDS"
	EnvHeartbeatSeconds = "COLLABGW_HEARTBEAT_SECONDS"
	// EnvLogLevel is debug, info, warn or error (default info).
	EnvLogLevel = "COLLABGW_LOG_LEVEL"

	// Edge only.
	EnvListenAddr        = "COLLABGW_LISTEN_ADDR"        // device port, default :3101
	EnvHealthAddr        = "COLLABGW_HEALTH_ADDR"        // health endpoint, default :8080
	EnvAuthorizeFunction = "COLLABGW_AUTHORIZE_FUNCTION" // function name or ARN
	EnvReleaseFunction   = "COLLABGW_RELEASE_FUNCTION"   // function name or ARN
	EnvGatewayKey        = "COLLABGW_GATEWAY_PRIVATE_KEY"
	// EnvGatewayKeyNext is the next gateway key during a key rotation
	// (edge/README.md): devices holding either public key log in.
	EnvGatewayKeyNext = "COLLABGW_GATEWAY_PRIVATE_KEY_NEXT"
	EnvDrainSeconds   = "COLLABGW_DRAIN_SECONDS" // SIGTERM drain deadline, default 25
	// EnvGroupWiseCADir is the folder a pool's relative caRef names a PEM
	// bundle in (default /etc/collabgw/groupwise-ca); an absolute caRef is
	// used as is, and "secretsmanager:<name or ARN>" is read from Secrets
	// Manager.
	EnvGroupWiseCADir = "COLLABGW_GROUPWISE_CA_DIR" //nolint:gosec // a variable name, not a credential
	// EnvCoverageGraceSeconds is how long a dropped device may take to
	// resume before its session is logged out (default 120).
	EnvCoverageGraceSeconds = "COLLABGW_COVERAGE_GRACE_SECONDS"
	// EnvAddrLoginRate is new device connections per second allowed per
	// source address, burst twice that (default 20; 0 turns it off).
	EnvAddrLoginRate = "COLLABGW_ADDR_LOGIN_RATE"
	// EnvGoMemLimit is the Go runtime's soft memory limit: set to about 90 %
	// of the task's memory, the collector works harder as the task nears it.
	EnvGoMemLimit = "GOMEMLIMIT"
	// EnvGoGC is the collector's headroom over the live heap, in percent:
	// the edge runs at 50, where held sessions take about 20 KiB of RSS each
	// instead of 26 at Go's default 100 (docs/benchmarks.md, Memory).
	EnvGoGC = "GOGC"
	// EnvMaxConnections caps open device connections (default 50000).
	EnvMaxConnections = "COLLABGW_MAX_CONNECTIONS"
	// EnvPeerAddr is the task-to-task link's listen address (default
	// :3102, PeerPort): other tasks relay RESUMEs for sessions this task
	// holds to it.
	EnvPeerAddr = "COLLABGW_PEER_ADDR"
	// EnvPeerAdvertiseAddr is where other tasks reach this task's link
	// (host:port); unset on ECS, the task's own address is read from the
	// task metadata endpoint.
	EnvPeerAdvertiseAddr = "COLLABGW_PEER_ADVERTISE_ADDR"
	// EnvPeerKey is the link's pre-shared key, one line of base64 (32
	// bytes), the same on every task (from Secrets Manager). Unset: the
	// link is off and a RESUME only works on the task holding the session.
	EnvPeerKey = "COLLABGW_PEER_KEY" //nolint:gosec // a variable name, not a credential
	// EnvPeerKeyNext is the key a rotation moves to, accepted besides
	// EnvPeerKey (internal/peerlink explains the three deployments).
	EnvPeerKeyNext = "COLLABGW_PEER_KEY_NEXT" //nolint:gosec // a variable name, not a credential
)

// Program is a deployed binary: what it reads and what it may do.
type Program struct {
	Name string
	// Env lists the environment variables the program reads; a
	// deployment sets each (Settings gives their defaults).
	Env []string
	// OptionalEnv lists variables the program reads only when a deployment
	// sets them, such as a rotation's next key.
	OptionalEnv []string
	// TableActions lists the DynamoDB actions it calls on the table (IAM
	// checks transaction members by their own actions).
	TableActions []string
	// Invokes lists the functions it calls.
	Invokes []string
	// SecretActions lists the Secrets Manager actions it calls at run time
	// (not the secrets ECS injects into the environment, which the task
	// execution role reads).
	SecretActions []string
}

var commonEnv = []string{EnvTable, EnvLeaseSeconds, EnvHeartbeatSeconds, EnvLogLevel}

// Functions are the Lambda functions, in deployment order.
var Functions = []Program{
	{
		Name: FunctionAuthorize,
		Env:  commonEnv,
		TableActions: []string{
			"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
			"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem",
		},
	},
	{
		Name:         FunctionRelease,
		Env:          commonEnv,
		TableActions: []string{"dynamodb:DeleteItem", "dynamodb:UpdateItem"},
	},
	{
		Name: FunctionSweep,
		Env:  commonEnv,
		// ConditionCheckItem: a dead task's session is ended only while the
		// task's lease is still lapsed.
		TableActions: []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
	},
}

// Edge is the ECS service. It updates only its own task's lease item and
// its sessions' activity (coverage, silence) and connectivity; it reads the
// owner index to reconcile its sessions, and device, task and session items
// to find a session's owner for a RESUME (docs/data-model.md).
var Edge = Program{
	Name: "edge",
	Env: []string{
		EnvTable, EnvLeaseSeconds, EnvHeartbeatSeconds, EnvLogLevel,
		EnvListenAddr, EnvHealthAddr, EnvAuthorizeFunction, EnvReleaseFunction, EnvGatewayKey, EnvDrainSeconds,
		EnvGroupWiseCADir, EnvCoverageGraceSeconds, EnvAddrLoginRate, EnvMaxConnections, EnvGoMemLimit, EnvGoGC,
		EnvPeerAddr, EnvPeerKey,
	},
	OptionalEnv:  []string{EnvGatewayKeyNext, EnvPeerKeyNext, EnvPeerAdvertiseAddr},
	TableActions: []string{"dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"},
	Invokes:      []string{FunctionAuthorize, FunctionRelease},
	// A pool's caRef may name a Secrets Manager secret holding the
	// GroupWise CA bundle; the edge reads it with the task role.
	SecretActions: []string{"secretsmanager:GetSecretValue"},
}

// EdgeSecretEnv lists the edge variables that carry keys. In AWS they come
// from Secrets Manager (the task definition's secrets), never as plain
// environment values, so no key appears in the task definition or the
// Terraform state.
var EdgeSecretEnv = []string{EnvGatewayKey, EnvGatewayKeyNext, EnvPeerKey, EnvPeerKeyNext}

// Table layout (internal/admission/items.go, docs/data-model.md).
const (
	AttrPartitionKey = "pk"    // S
	AttrSortKey      = "sk"    // S
	AttrActivity     = "act"   // N: activity GSI sort key (sparse)
	AttrOwner        = "owner" // S: owner GSI partition key (sessions only)
	AttrPool         = "pool"  // S: activity GSI partition key, owner GSI sort key
	AttrLease        = "lease" // N: an edge task's lease expiry (not indexed)
	AttrTTL          = "ttl"
	// IndexActivity is a GSI: pool + act (N), projecting what eviction and
	// the inactivity sweep read.
	IndexActivity = "activity"
	// IndexOwner is a GSI: owner + pool (S), projecting what an edge's
	// reconciliation and a dead task's eviction read.
	IndexOwner = "owner"
	// SessionKeyPrefix begins the partition key of every session item;
	// TaskPartitionKey is the partition key of the edge tasks' lease items.
	// They are the only items the edge may update (IAM dynamodb:LeadingKeys).
	SessionKeyPrefix = "SESSION#"
	TaskPartitionKey = "TASK"
)

// ActivityIndexProjection and OwnerIndexProjection are the non-key
// attributes each GSI carries (projection INCLUDE).
var (
	ActivityIndexProjection = []string{"sid", "device", "owner", "ver", "lastStatus"}
	OwnerIndexProjection    = []string{"sid", "device"}
)

// EdgeUpdatableLeadingKeys are the partition keys of the items the edge
// may update (IAM dynamodb:LeadingKeys): its sessions and the task lease
// items. EdgeReadableLeadingKeys are those it may read: its sessions (to
// reconcile), task lease items and device items (to locate a session for
// a RESUME). It also queries the owner index (IndexOwner).
var (
	EdgeUpdatableLeadingKeys = []string{SessionKeyPrefix + "*", TaskPartitionKey}
	EdgeReadableLeadingKeys  = []string{SessionKeyPrefix + "*", TaskPartitionKey, "DEVICE#*"}
)

// EdgeUpdatableAttributes are the attributes the edge writes: of its
// sessions and of its task's lease item; IAM limits the edge's UpdateItem
// to them (dynamodb:Attributes).
var EdgeUpdatableAttributes = []string{
	AttrPartitionKey, AttrSortKey, "sid", AttrOwner, "lastStatus", AttrActivity, "cov", "covSince", "aseq", "ver", "conn",
	"task", "addr", AttrLease, AttrTTL, "started",
}

// Defaults.
const (
	DevicePort         = 3101
	PeerPort           = 3102 // the task-to-task link; reachable from the edge's own security group only
	GroupWisePort      = 8300
	HealthPort         = 8080
	SweepSchedule      = "rate(1 minute)"
	DefaultDrainSecs   = 25
	DefaultStopTimeout = 30 // ECS stopTimeout: longer than the drain
)
