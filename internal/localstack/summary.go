package localstack

import (
	"context"
	"time"

	"github.com/collabgw/collabgw/internal/lambdalocal"
)

// summaryEvery is how often the stack logs what its local functions shed
// or lost; the edges log their own drops on the same period.
const summaryEvery = time.Minute

// startSummary logs, once a minute at info level, the local Lambda
// endpoint's refusals and failures when any moved: throttled invokes
// (every emulator busy, the queue full), abandoned ones, emulator failures
// and replacements.
func (s *Stack) startSummary() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSummary, s.summaryDone = cancel, make(chan struct{})
	go func() {
		defer close(s.summaryDone)
		t := time.NewTicker(summaryEvery)
		defer t.Stop()
		prev := map[string]lambdalocal.FunctionStats{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				prev = s.logFunctionSummary(prev)
			}
		}
	}()
}

func (s *Stack) logFunctionSummary(prev map[string]lambdalocal.FunctionStats) map[string]lambdalocal.FunctionStats {
	next, lines := functionSummary(prev, s.Functions.Stats())
	for _, attrs := range lines {
		s.Config.Log.Info("local function refusals and failures in the last minute", attrs...)
	}
	return next
}

// functionSummary compares the functions' counters with the previous
// minute's and returns, for each function whose refusals or failures
// moved, the attributes of its summary line.
func functionSummary(prev map[string]lambdalocal.FunctionStats, stats []lambdalocal.FunctionStats) (map[string]lambdalocal.FunctionStats, [][]any) {
	cur := map[string]lambdalocal.FunctionStats{}
	var lines [][]any
	for _, st := range stats {
		cur[st.Name] = st
		p := prev[st.Name]
		var moved []any
		for _, c := range []struct {
			name     string
			now, was int64
		}{
			{"throttled", st.Throttled, p.Throttled},
			{"abandoned", st.Abandoned, p.Abandoned},
			{"emulator_errors", st.EmulatorErrors, p.EmulatorErrors},
			{"replaced", st.Replaced, p.Replaced},
			{"start_failures", st.StartFailures, p.StartFailures},
		} {
			if n := c.now - c.was; n > 0 {
				moved = append(moved, c.name, n)
			}
		}
		if len(moved) > 0 {
			lines = append(lines, append([]any{"function", st.Name, "invokes", st.Invokes - p.Invokes, "instances", st.Instances}, moved...))
		}
	}
	return cur, lines
}
