package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 for user space on every architecture Go
// supports (sysconf(_SC_CLK_TCK) answers it without cgo being needed).
const clockTick = 10 * time.Millisecond

// ErrNoProcess reports an edge process that is not (or no longer) there.
var ErrNoProcess = errors.New("bench: edge process not found")

// CPUReader reads the CPU time a set of processes used so far.
type CPUReader interface {
	CPUTime() (time.Duration, error)
}

// ProcCPU reads processes' user plus system time from /proc/<pid>/stat, in
// clock ticks of 10 ms: a phase's CPU has that resolution per process, so
// phases run long enough for hundreds of ticks. It counts every thread of
// the process, those that exited included; not its children.
type ProcCPU struct {
	// PIDs are the processes to sum, e.g. every edge of a fleet.
	PIDs []int
	// Root is where proc is mounted ("/proc" when empty); tests point it
	// at a directory of fixtures.
	Root string
}

var _ CPUReader = ProcCPU{}

// CPUTime sums utime and stime over the PIDs.
func (p ProcCPU) CPUTime() (time.Duration, error) {
	if len(p.PIDs) == 0 {
		return 0, fmt.Errorf("%w: no pid given", ErrNoProcess)
	}
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	var ticks int64
	for _, pid := range p.PIDs {
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
		if err != nil {
			return 0, fmt.Errorf("%w: pid %d: %w", ErrNoProcess, pid, err)
		}
		n, err := statTicks(b)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// statTicks returns utime + stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may itself hold
// spaces and parentheses, so fields are counted after its last ')'.
func statTicks(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ')': field 3 (state) is the first.
	f := bytes.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(f), stime)
	}
	u, err := strconv.ParseInt(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseInt(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return u + s, nil
}
