// Package demo owns the names of the demo population: users user0001,
// user0002…, the device of each (device0001…) and their GroupWise
// password. The local stack's seed, the GroupWise simulator, the device
// CLI's defaults, the load generator and the tests all take the names from
// here, so that a login the CLI builds always matches what the seed stored
// and what the simulator accepts.
package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// Password is the GroupWise password of every demo user. It is public on
// purpose: the demo population exists only in local stacks and tests.
const Password = "demo"

// MaxUsers bounds the size of a demo population (the seed writes one user,
// one device and one key pair for each).
const MaxUsers = 100_000

// The prefixes of the demo names; the number after them has at least
// four digits (user0001, user12345).
const (
	userPrefix   = "user"
	devicePrefix = "device"
)

// UserID is the id of the i-th demo user, counting from 1: user0001.
func UserID(i int) string { return fmt.Sprintf("%s%04d", userPrefix, i) }

// DeviceID is the id of the i-th demo user's device: device0001.
func DeviceID(i int) string { return fmt.Sprintf("%s%04d", devicePrefix, i) }

// Index returns i for a demo user id UserID(i), and false for any other id.
func Index(userID string) (int, bool) {
	digits, ok := strings.CutPrefix(userID, userPrefix)
	if !ok || len(digits) < 4 {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 1 || UserID(i) != userID {
		return 0, false
	}
	return i, true
}

// DeviceFor returns the device id the demo seed registered for userID, and
// false when userID is not a demo user.
func DeviceFor(userID string) (string, bool) {
	i, ok := Index(userID)
	if !ok {
		return "", false
	}
	return DeviceID(i), true
}
