package metrics

import "slices"

// Namespace is the CloudWatch namespace of every collabgw metric.
const Namespace = "collabgw"

// Unit is a CloudWatch metric unit.
type Unit string

// The units the catalog uses.
const (
	UnitCount        Unit = "Count"
	UnitMilliseconds Unit = "Milliseconds"
	UnitBytes        Unit = "Bytes"
)

// Kind says how a Recorder aggregates a metric between two flushes.
type Kind int

// Kinds.
const (
	// Counter values are summed.
	Counter Kind = iota + 1
	// Distribution values are all kept (up to MaxValuesPerSeries), so
	// CloudWatch can compute percentiles.
	Distribution
	// Gauge keeps the last value set.
	Gauge
)

// Source says how a metric reaches CloudWatch.
type Source string

// Sources.
const (
	// SourceEMF metrics are written by a Recorder.
	SourceEMF Source = "emf"
	// SourceLogFilter metrics come from a CloudWatch Logs metric filter
	// (infra/modules/monitoring), for events no code can record: a
	// timed-out invocation never reaches its Flush.
	SourceLogFilter Source = "log-filter"
)

// Dimension names.
const (
	DimPool       = "Pool"
	DimOutcome    = "Outcome"   // a status name of internal/status, such as SERVER_BUSY
	DimReason     = "Reason"    // a short machine-readable cause, from a bounded set
	DimFunction   = "Function"  // authorize, release or sweep (internal/manifest)
	DimErrorType  = "ErrorType" // the Lambda errorType: BadEventError, ConfigError, UnavailableError, InternalError
	DimResultCode = "ResultCode"
)

// Emitters: the programs that record a metric.
const (
	EmitterAuthorize = "authorize"
	EmitterRelease   = "release"
	EmitterSweep     = "sweep"
	EmitterEdge      = "edge"
	// EmitterLogs is CloudWatch Logs itself (a metric filter).
	EmitterLogs = "logs"
)

// Metric describes one CloudWatch metric.
type Metric struct {
	Name string
	Unit Unit
	Kind Kind
	// Sets are the dimension sets each value is published under (EMF
	// rolls one value up into several metrics). A set naming a dimension
	// the record leaves out is skipped, so {} or {Outcome} still counts a
	// login whose pool is unknown.
	Sets     [][]string
	Source   Source
	Emitters []string
	// FilterPattern is the CloudWatch Logs filter pattern of a
	// SourceLogFilter metric; the Terraform must use exactly this.
	FilterPattern string
	// Help says what the metric means (docs/operations.md says what to do).
	Help string
}

// The catalog. Each metric is declared once here; the Terraform dashboard,
// alarms and metric filters are checked against Catalog by infra/infratest.
var (
	LoginAttempts = Metric{
		Name: "LoginAttempts", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{}, {DimOutcome}, {DimPool, DimOutcome}},
		Emitters: []string{EmitterAuthorize},
		Help:     "Admission decisions of the authorize function by outcome (the status name); the pool is known once the user's pool was read.",
	}
	AdmissionLatency = Metric{
		Name: "AdmissionLatency", Unit: UnitMilliseconds, Kind: Distribution, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterAuthorize},
		Help:     "Time the authorize function spent deciding one login (DynamoDB reads, evictions, the admission transaction).",
	}
	Evictions = Metric{
		Name: "Evictions", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}, {DimPool, DimReason}},
		Emitters: []string{EmitterAuthorize, EmitterSweep},
		Help:     "Sessions the system ended on its own, by reason: idle and replaced (authorize), lease_expired and inactivity (sweep).",
	}
	Releases = Metric{
		Name: "Releases", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterRelease},
		Help:     "Release calls the function confirmed (logout, GroupWise refusal, drain); release is idempotent, so a repeated call counts again.",
	}
	ActiveSessions = Metric{
		Name: "ActiveSessions", Unit: UnitCount, Kind: Gauge, Source: SourceEMF,
		Sets:     [][]string{{DimPool}},
		Emitters: []string{EmitterSweep},
		Help:     "Live sessions of a pool, recounted by every sweep (once a minute).",
	}
	CounterDrift = Metric{
		Name: "CounterDrift", Unit: UnitCount, Kind: Gauge, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterSweep},
		Help:     "A pool's session counter minus its live sessions, found by the sweep before it repaired the counter; anything but 0 is a bug or a manual edit.",
	}
	FunctionErrors = Metric{
		Name: "FunctionErrors", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimFunction}, {DimFunction, DimErrorType}},
		Emitters: []string{EmitterAuthorize, EmitterRelease, EmitterSweep},
		Help:     "Invocations that returned an error, by function and Lambda errorType.",
	}
	MetricsDropped = Metric{
		Name: "MetricsDropped", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterAuthorize, EmitterRelease, EmitterSweep, EmitterEdge},
		Help:     "Metric records a Recorder dropped, by reason (series_limit, unknown_dimension, missing_dimension, wrong_kind, bad_value, write_failed).",
	}

	EdgeLogins = Metric{
		Name: "EdgeLogins", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{}, {DimOutcome}, {DimPool, DimOutcome}},
		Emitters: []string{EmitterEdge},
		Help:     "What devices were finally told about their LOGIN, by status: the authorize decision, then GroupWise's answer, rate limits and protocol errors.",
	}
	EdgeResumes = Metric{
		Name: "EdgeResumes", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimOutcome}},
		Emitters: []string{EmitterEdge},
		Help:     "RESUME attempts after a coverage drop, by status.",
	}
	EdgeLoginLatency = Metric{
		Name: "EdgeLoginLatency", Unit: UnitMilliseconds, Kind: Distribution, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterEdge},
		Help:     "From a verified HELLO to the answer written to the device, GroupWise included.",
	}
	EdgeSessionsHeld = Metric{
		Name: "EdgeSessionsHeld", Unit: UnitCount, Kind: Gauge, Source: SourceEMF,
		Sets:     [][]string{{}},
		Emitters: []string{EmitterEdge},
		Help:     "Sessions one edge task holds (device link and GroupWise link), in coverage or not.",
	}
	EdgeConnections = Metric{
		Name: "EdgeConnections", Unit: UnitCount, Kind: Gauge, Source: SourceEMF,
		Sets:     [][]string{{}},
		Emitters: []string{EmitterEdge},
		Help:     "Open device connections of one edge task, handshaking ones included.",
	}
	EdgeBytesPerSession = Metric{
		Name: "EdgeBytesPerSession", Unit: UnitBytes, Kind: Gauge, Source: SourceEMF,
		Sets:     [][]string{{}},
		Emitters: []string{EmitterEdge},
		Help:     "One edge task's memory in use divided by the sessions it holds (set only while it holds any).",
	}
	DeviceFramesRejected = Metric{
		Name: "DeviceFramesRejected", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "Device connections and frames the edge refused or dropped, by reason (conn_cap, handshake_shed, addr_rate, handshake, frame_timeout, message_rate, frame_too_large, bad_frame, frame_auth, unknown_message, unexpected_message, malformed_message, queue_full, draining...).",
	}
	EdgeSessionsEnded = Metric{
		Name: "EdgeSessionsEnded", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "Sessions an edge task stopped holding, by reason (logout, grace_expired, groupwise_lost, signed_on_elsewhere, gone, drained, protocol_error).",
	}
	GroupWiseConnectLatency = Metric{
		Name: "GroupWiseConnectLatency", Unit: UnitMilliseconds, Kind: Distribution, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterEdge},
		Help:     "TCP and TLS connect to the pool's GroupWise server.",
	}
	GroupWiseLoginLatency = Metric{
		Name: "GroupWiseLoginLatency", Unit: UnitMilliseconds, Kind: Distribution, Source: SourceEMF,
		Sets:     [][]string{{}, {DimPool}},
		Emitters: []string{EmitterEdge},
		Help:     "GroupWise login request to its answer, on a connected link.",
	}
	GroupWiseErrors = Metric{
		Name: "GroupWiseErrors", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimResultCode}, {DimPool, DimResultCode}},
		Emitters: []string{EmitterEdge},
		Help:     "Failed GroupWise connects and logins, by result code (the numeric GroupWise code, or connect, tls, timeout, protocol, or ca when the pool's CA bundle cannot be loaded).",
	}
	RelayedResumes = Metric{
		Name: "RelayedResumes", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimOutcome}, {DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "RESUMEs for a session the receiving task does not hold, by what the device was told and why: relayed (the owner resumed it), refused_by_owner, not_found, ended_here, owner_dead, owner_unreachable, locate_failed.",
	}
	PeerLinksIn = Metric{
		Name: "PeerLinksIn", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "Task-to-task links other tasks opened to this one, by result: ok, or why the setup failed (conn_cap, unknown_key, bad_key, version, timeout, malformed, incomplete, closing).",
	}
	PeerLinksOut = Metric{
		Name: "PeerLinksOut", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "Task-to-task links this task opened to an owner, by result: ok (the owner answered), or conn_cap, dial_failed, timeout, refused_busy, refused_key, refused_version, handshake_failed, wrong_task.",
	}
	PeerLinkDrops = Metric{
		Name: "PeerLinkDrops", Unit: UnitCount, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{DimReason}},
		Emitters: []string{EmitterEdge},
		Help:     "Relaying task-to-task links that ended other than in order, by reason: peer_lost, idle_timeout, write_failed, bad_frame.",
	}
	PeerLinkBytes = Metric{
		Name: "PeerLinkBytes", Unit: UnitBytes, Kind: Counter, Source: SourceEMF,
		Sets:     [][]string{{}},
		Emitters: []string{EmitterEdge},
		Help:     "Bytes of task-to-task link frames one task sent and received (both ends of a link count its frames).",
	}

	FunctionTimeouts = Metric{
		Name: "FunctionTimeouts", Unit: UnitCount, Kind: Counter, Source: SourceLogFilter,
		Sets:     [][]string{{}},
		Emitters: []string{EmitterLogs},
		// Current runtimes (provided.al2023) end a timed-out invocation's
		// REPORT line with "Status: timeout"; the older "Task timed out"
		// line is not written by them.
		FilterPattern: `"REPORT" "Status: timeout"`,
		Help:          "Invocations the Lambda runtime stopped at the timeout, from the REPORT line's Status: timeout (they never flush their own metrics).",
	}
	FunctionErrorLogs = Metric{
		Name: "FunctionErrorLogs", Unit: UnitCount, Kind: Counter, Source: SourceLogFilter,
		Sets:          [][]string{{DimFunction}},
		Emitters:      []string{EmitterLogs},
		FilterPattern: `{ $.level = "ERROR" }`,
		Help:          "ERROR log lines of the functions, by function (the log line's function field).",
	}
	EdgeErrorLogs = Metric{
		Name: "EdgeErrorLogs", Unit: UnitCount, Kind: Counter, Source: SourceLogFilter,
		Sets:          [][]string{{}},
		Emitters:      []string{EmitterLogs},
		FilterPattern: `{ $.level = "ERROR" }`,
		Help:          "ERROR log lines of the edge tasks.",
	}
)

// catalog lists every metric, in the order docs/operations.md presents them.
var catalog = []*Metric{
	&LoginAttempts, &AdmissionLatency, &Evictions, &Releases, &ActiveSessions, &CounterDrift, &FunctionErrors, &MetricsDropped,
	&EdgeLogins, &EdgeResumes, &EdgeLoginLatency, &EdgeSessionsHeld, &EdgeConnections, &EdgeBytesPerSession,
	&DeviceFramesRejected, &EdgeSessionsEnded, &GroupWiseConnectLatency, &GroupWiseLoginLatency, &GroupWiseErrors,
	&RelayedResumes, &PeerLinksIn, &PeerLinksOut, &PeerLinkDrops, &PeerLinkBytes,
	&FunctionTimeouts, &FunctionErrorLogs, &EdgeErrorLogs,
}

// Catalog returns every collabgw metric.
func Catalog() []Metric {
	out := make([]Metric, len(catalog))
	for i, m := range catalog {
		out[i] = *m
	}
	return out
}

// Lookup returns the metric named name.
func Lookup(name string) (Metric, bool) {
	for _, m := range catalog {
		if m.Name == name {
			return *m, true
		}
	}
	return Metric{}, false
}

// dimensions returns the union of the metric's dimension sets.
func (m *Metric) dimensions() []string {
	var out []string
	for _, set := range m.Sets {
		for _, d := range set {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}
