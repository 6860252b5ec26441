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

// TreeCPU reads the CPU time of a process and all its descendants, summed
// by command name (the 15-character comm of /proc/<pid>/stat): for a stack
// the bench started, "java" is DynamoDB Local, "bootstrap" the functions,
// "aws-lambda-rie" the emulators, "edge" the edges, and the root itself the
// bench process (devices, the GroupWise simulator, the Lambda endpoint).
// A process that exits between two reads takes its time with it, so the
// difference of two reads is meaningful only when the tree is stable, as it
// is during a phase.
type TreeCPU struct {
	Root int
	// Proc is where proc is mounted ("/proc" when empty).
	Proc string
}

// CPUByCommand sums utime and stime by command over the tree.
func (t TreeCPU) CPUByCommand() (map[string]time.Duration, error) {
	root := t.Proc
	if root == "" {
		root = "/proc"
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	type proc struct {
		ppid  int
		comm  string
		ticks int64
	}
	procs := map[int]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
		if err != nil {
			continue // exited since the listing
		}
		comm, ppid, ticks, err := statFields(b)
		if err != nil {
			continue
		}
		procs[pid] = proc{ppid: ppid, comm: comm, ticks: ticks}
	}
	if _, ok := procs[t.Root]; !ok {
		return nil, fmt.Errorf("%w: pid %d", ErrNoProcess, t.Root)
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := map[string]time.Duration{}
	for todo := []int{t.Root}; len(todo) > 0; {
		pid := todo[len(todo)-1]
		todo = append(todo[:len(todo)-1], children[pid]...)
		p := procs[pid]
		name := p.comm
		if pid == t.Root {
			name = RootCommand
		}
		out[name] += time.Duration(p.ticks) * clockTick
	}
	return out, nil
}

// RootCommand is the name CPUByCommand gives the tree's root, whatever
// its command.
const RootCommand = "(root)"

// Parts of a local stack by command, as the report names them.
var partNames = map[string]string{
	RootCommand:      "bench process",
	"edge":           "edge",
	"bootstrap":      "functions",
	"aws-lambda-rie": "emulators",
	"java":           "DynamoDB Local",
	"haproxy":        "HAProxy",
}

// partOrder is the report's column order: the path's order.
var partOrder = []string{"bench process", "edge", "emulators", "functions", "DynamoDB Local", "HAProxy"}

// StackCPU reads the CPU time of every part of a stack.
type StackCPU interface {
	CPUByCommand() (map[string]time.Duration, error)
}

var _ StackCPU = TreeCPU{}

// cpuDelta is the CPU each part used between two reads, in ms per op.
func cpuDelta(before, after map[string]time.Duration, ops int) map[string]float64 {
	if ops <= 0 {
		return nil
	}
	out := map[string]float64{}
	for comm, t := range after {
		// Every part is listed, idle ones at 0 (10 ms ticks: a short phase
		// may not see one); a part restarted since (an edge) counts from 0.
		d := max(t-before[comm], 0)
		name := partNames[comm]
		if name == "" {
			name = comm
		}
		out[name] += ms(d) / float64(ops)
	}
	for k, v := range out {
		out[k] = round(v, 3)
	}
	return out
}

// statFields returns the command name, the parent pid and utime + stime
// of a /proc/<pid>/stat line.
func statFields(stat []byte) (comm string, ppid int, ticks int64, err error) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, 0, errors.New("no command name")
	}
	f := bytes.Fields(stat[end+1:])
	if len(f) < 2 {
		return "", 0, 0, errors.New("no parent pid")
	}
	if ppid, err = strconv.Atoi(string(f[1])); err != nil {
		return "", 0, 0, fmt.Errorf("ppid: %w", err)
	}
	ticks, err = statTicks(stat)
	return string(stat[open+1 : end]), ppid, ticks, err
}
