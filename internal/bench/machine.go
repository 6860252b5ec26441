package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strings"
)

// Machine says where a run was measured, so its figures can be reproduced
// or at least put in context: the figures of a shared 2-core box under
// load are floors.
type Machine struct {
	CPU   string `json:"cpu"`   // /proc/cpuinfo model name
	Cores int    `json:"cores"` // logical CPUs
	Go    string `json:"go"`    // the bench binary's Go version, os/arch
	// LoadBefore and LoadAfter are /proc/loadavg's 1-minute figure when
	// the run began and ended: other work on the machine.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
}

func machine() Machine {
	return Machine{
		CPU: cpuModel(), Cores: runtime.NumCPU(),
		Go:         runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		LoadBefore: loadAverage(),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the 1-minute load average, or "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := bytes.Fields(b); len(f) > 0 {
		return string(f[0])
	}
	return ""
}
