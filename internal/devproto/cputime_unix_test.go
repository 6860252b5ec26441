//go:build unix

package devproto_test

import "golang.org/x/sys/unix"

// threadCPU is the CPU time the calling OS thread has used, in
// nanoseconds. On a machine shared with other work, wall-clock figures
// measure the queue for the CPU as much as the code; this does not.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
