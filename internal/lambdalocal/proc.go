package lambdalocal

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// killTree kills an emulator, its process group and its function process.
func killTree(pid int) { signalTree(pid, syscall.SIGKILL) }

// signalTree signals an emulator's process group and its children's: the
// emulator starts the function process in a process group of its own, so
// signalling the emulator's group alone would leave it running.
func signalTree(pid int, sig syscall.Signal) {
	for _, child := range children(pid) {
		_ = syscall.Kill(-child, sig)
		_ = syscall.Kill(child, sig)
	}
	_ = syscall.Kill(-pid, sig)
}

// children lists the processes whose parent is pid, from /proc (the kernel's
// per-task children lists are not always built in).
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	want := []byte(" " + strconv.Itoa(pid) + " ")
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses,
		// so the fields start after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || len(b) < i+4 {
			continue
		}
		rest := b[i+2:] // "S 1234 …"
		if j := bytes.IndexByte(rest, ' '); j >= 0 && bytes.HasPrefix(rest[j:], want) {
			if n, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
