package main

import (
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/lambdabuild"
)

func newBuildCmd() *cobra.Command {
	var arch, out string
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the Lambda functions as Lambda expects them: dist/<name>/bootstrap and dist/<name>.zip for arm64, dist/host/<name>/bootstrap for this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, dir := lambdabuild.Deploy, out
			switch arch {
			case "arm64":
			case "host":
				target, dir = lambdabuild.Target{GOOS: "linux", GOARCH: runtime.GOARCH}, filepath.Join(out, "host")
			default:
				return fmt.Errorf("--arch must be arm64 or host, not %q", arch)
			}
			root, err := lambdabuild.ModuleRoot(".")
			if err != nil {
				return err
			}
			bins, err := lambdabuild.BuildFunctions(cmd.Context(), root, target, dir)
			if err != nil {
				return err
			}
			for _, b := range bins {
				line := fmt.Sprintf("%-10s %s %.1f MB", b.Function, b.Path, float64(b.Size)/1e6)
				if target == lambdabuild.Deploy {
					zipPath := filepath.Join(out, b.Function+".zip")
					if err := lambdabuild.Zip(b.Path, zipPath); err != nil {
						return err
					}
					line += " -> " + zipPath
				}
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&arch, "arch", "arm64", "arm64 (what Lambda runs, zipped for deployment) or host (for local runs)")
	cmd.Flags().StringVar(&out, "out", "dist", "output folder")
	return cmd
}
