package devconn

import (
	"math"
	"time"
)

// bucket is the token bucket of the messages a peer may send on one link:
// burst tokens, refilled at a fixed rate, one token per frame. It lives in
// the Session (no allocation, a few words) and only the reader touches it,
// under the Session's read lock. A zero bucket allows everything.
type bucket struct {
	now     func() time.Time
	perNano float64 // tokens per nanosecond; 0: no limit
	burst   float64
	tokens  float64
	last    int64 // Unix nanoseconds of the previous refill; 0 before the first
}

func newBucket(perSecond float64, burst int, now func() time.Time) bucket {
	if perSecond <= 0 {
		return bucket{}
	}
	return bucket{now: now, perNano: perSecond / float64(time.Second), burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token if there is one.
func (b *bucket) allow() bool {
	if b.perNano == 0 {
		return true
	}
	now := b.now().UnixNano()
	if b.last != 0 && now > b.last {
		b.tokens = math.Min(b.burst, b.tokens+float64(now-b.last)*b.perNano)
	}
	// A clock that steps back refills nothing, and the next refill counts
	// from the later time.
	if now > b.last {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
