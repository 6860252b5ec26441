// Command collabgw is the operator and developer tool of collabgw: the local
// stack, the GroupWise Messenger simulator, the device client and load
// generator, and the admin commands. Each subcommand lives in its own file
// and only wires flags to the internal packages that do the work.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "collabgw:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok { //nolint:errorlint // only the top-level error sets the code
		return e.code
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "collabgw",
		Short:         "collabgw: mobile devices into GroupWise Messenger under a session policy",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Subcommands, one file each.
	root.AddCommand(
		newLocalCmd(),
		newBuildCmd(),
		newImageCmd(),
		newInvokeCmd(),
		newAdminCmd(),
		newDeviceCmd(),
		newGWSimCmd(),
		newKeysCmd(),
	)
	return root
}
