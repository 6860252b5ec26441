// Command sleeper is a Lambda function for lambdalocal's tests: it sleeps,
// fails, or exits mid-invoke as its event says, and answers with its
// process id so a test can tell the emulators apart.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	SleepMs int    `json:"sleepMs"`
	Fail    string `json:"fail"`
	Exit    bool   `json:"exit"`
	Pad     string `json:"pad"`
}

type answer struct {
	Pid     int `json:"pid"`
	SleptMs int `json:"sleptMs"`
	PadLen  int `json:"padLen"`
}

func handle(_ context.Context, e event) (answer, error) {
	time.Sleep(time.Duration(e.SleepMs) * time.Millisecond)
	if e.Exit {
		os.Exit(3)
	}
	if e.Fail != "" {
		return answer{}, errors.New(e.Fail)
	}
	return answer{Pid: os.Getpid(), SleptMs: e.SleepMs, PadLen: len(e.Pad)}, nil
}

func main() { lambda.Start(handle) }
