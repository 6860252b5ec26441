package admission

import "github.com/collabgw/collabgw/internal/manifest"

// The attribute names of the table's items, in one place: the item structs'
// dynamodbav tags and every expression the store builds use these (a test
// holds the tags to them), and those the deployment names — the keys, the
// indexes' keys and projections, and what the edge's IAM policy lets it
// write — come from the manifest, which Terraform is checked against.
const (
	// Keys and index keys.
	attrPK       = manifest.AttrPartitionKey
	attrSK       = manifest.AttrSortKey
	attrPool     = manifest.AttrPool     // config, user and session items; the indexes' pool key
	attrOwner    = manifest.AttrOwner    // session: the task holding it; the owner index's key
	attrActivity = manifest.AttrActivity // session: the activity index's sort key (sparse)

	// Sessions (sessionItem). The edge writes only the manifest's.
	attrSessionID     = manifest.AttrSessionID
	attrDevice        = manifest.AttrDevice // also the device item's id
	attrUser          = "user"              // also the user item's and the device item's user
	attrRequest       = "req"
	attrVersion       = manifest.AttrVersion // also the counter's version
	attrCreated       = "created"
	attrLastStatus    = manifest.AttrLastStatus
	attrCoverage      = manifest.AttrCoverage
	attrCoverageSince = manifest.AttrCoverageSince
	attrActivitySeq   = manifest.AttrActivitySeq
	attrResumeHash    = "resumeHash"
	attrConnectivity  = manifest.AttrConnectivity

	// Edge tasks' lease items (taskItem): all the edge's.
	attrTask     = manifest.AttrTask
	attrTaskAddr = manifest.AttrTaskAddr
	attrLease    = manifest.AttrLease
	attrStarted  = manifest.AttrStarted
	attrTTL      = manifest.AttrTTL

	// Pool counters (counterItem).
	attrLive = "live"

	// Users (userItem).
	attrPermitted = "permitted"

	// Devices (deviceItem).
	attrPublicKey    = "publicKey"
	attrActive       = "active"
	attrLastLogin    = "lastLogin"
	attrSessionPool  = "sessionPool"
	attrSessionRef   = "sessionId"
	attrSessionReq   = "sessionReq"
	attrSessionOwner = "sessionOwner"

	// Pool configurations (configItem). infra/modules/pool writes the same
	// item; a test there compares it with this one.
	attrMaxSessions       = "maxSessions"
	attrIdleTimeoutMs     = "idleTimeoutMs"
	attrInactivityMs      = "inactivityTimeoutMs"
	attrProtocolLimit     = "protocolLimit"
	attrGroupWiseHost     = "gwHost"
	attrGroupWisePort     = "gwPort"
	attrGroupWiseCARef    = "gwCaRef"
	attrGroupWisePinSHA   = "gwPinSha256"
	attrUpdatedUnixMillis = "updated"
)
