// Package clocktest gives tests clocks that start from the real time, never
// from a date written in the test.
//
// A fake clock that starts on a fixed date works on the day it is written
// and fails later: DynamoDB Local's TTL process deletes items whose ttl is
// in its real past, certificates expire, replay windows close. Every test
// clock here starts at the real time, moved forward by the offset in
// COLLABGW_TEST_CLOCK_OFFSET (a Go duration such as 720h). The offset is the
// guard against this class of bug: `make clock-guard` runs the date-sensitive
// packages a month and a year ahead, and dynamotest starts DynamoDB Local
// under libfaketime with the same offset, so its TTL process lives in the
// same future as the test clocks. A test that pins a date still passes a
// normal run, and fails under the guard.
package clocktest

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// OffsetEnv names the variable that pushes every test clock forward.
const OffsetEnv = "COLLABGW_TEST_CLOCK_OFFSET"

// Offset is the duration in COLLABGW_TEST_CLOCK_OFFSET, zero when unset. A
// value that does not parse panics: a guard run that silently ran at offset
// zero would prove nothing.
func Offset() time.Duration {
	v := os.Getenv(OffsetEnv)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		panic(fmt.Sprintf("clocktest: %s=%q: %v", OffsetEnv, v, err))
	}
	return d
}

// Now is the real time moved forward by Offset.
func Now() time.Time { return time.Now().Add(Offset()) }

// Clock is a settable clock. It starts at Now() when created by New, or on
// first use when it is the zero value.
type Clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// New returns a clock that reads Now() until it is advanced.
func New() *Clock { return &Clock{now: Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
	c.now = c.now.Add(d)
}

func (c *Clock) startLocked() {
	if c.now.IsZero() {
		c.now = Now()
	}
}
