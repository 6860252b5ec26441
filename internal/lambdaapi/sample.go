package lambdaapi

import (
	"regexp"
	"time"
)

// deviceTimeField matches an authorize event's deviceTime member.
var deviceTimeField = regexp.MustCompile(`("deviceTime"\s*:\s*)"[^"]*"`)

// StampDeviceTime returns a copy of an authorize event with its deviceTime
// set to now. The sample events in events/ carry a fixed time, which
// authorize's clock window refuses once it is a few minutes old; `collabgw
// invoke` sends them through this. An event without deviceTime (release,
// sweep, a malformed one) comes back unchanged, with its layout kept.
func StampDeviceTime(event []byte, now time.Time) []byte {
	stamp := []byte(`${1}"` + now.UTC().Format(time.RFC3339Nano) + `"`)
	return deviceTimeField.ReplaceAll(event, stamp)
}
