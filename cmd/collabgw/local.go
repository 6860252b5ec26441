package main

import (
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/dynamotest"
	"github.com/collabgw/collabgw/internal/localstack"
)

func newLocalCmd() *cobra.Command {
	cfg := localstack.Config{}
	var (
		groupwise string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the local stack (DynamoDB Local, table, demo seed) until Ctrl-C",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, port, err := net.SplitHostPort(groupwise)
			if err != nil {
				return err
			}
			cfg.Pool.GroupWise.Host = host
			if cfg.Pool.GroupWise.Port, err = strconv.Atoi(port); err != nil {
				return err
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.Ready = cmd.OutOrStdout()
			if cfg.CacheDir, err = dynamotest.CacheDir(); err != nil {
				return err
			}
			return localstack.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", localstack.DefaultDataDir, "folder for the stack's data")
	f.BoolVar(&cfg.InMemory, "in-memory", false, "keep nothing: a throwaway stack")
	f.StringVar(&cfg.DynamoAddr, "dynamodb-addr", localstack.DefaultDynamoAddr, "DynamoDB Local listen address")
	f.StringVar(&cfg.Table, "table", localstack.DefaultTable, "DynamoDB table name")
	f.StringVar(&cfg.Pool.Name, "pool", localstack.DefaultPool, "name of the demo pool")
	f.IntVar(&cfg.DemoUsers, "demo-users", localstack.DefaultDemoUsers, "number of demo users (user0001…)")
	f.IntVar(&cfg.Pool.MaxSessions, "max-sessions", 0, "pool maximum sessions (0: none; the protocol limit applies)")
	f.DurationVar(&cfg.Pool.IdleTimeout, "idle-timeout", 0, "evict sessions idle this long when the maximum is reached (0: never)")
	f.DurationVar(&cfg.Pool.InactivityTimeout, "inactivity-timeout", 0, "log out sessions silent this long (0: never)")
	f.IntVar(&cfg.Pool.ProtocolLimit, "protocol-limit", admission.DefaultProtocolLimit, "sessions the GroupWise protocol supports (FAILED_300 beyond)")
	f.StringVar(&groupwise, "groupwise", localstack.DefaultGroupWise, "GroupWise Messenger server host:port of the pool")
	f.BoolVar(&verbose, "verbose", false, "debug logs, including DynamoDB Local's output")
	return cmd
}
