package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
)

// adminFlags select the table the admin commands work on.
type adminFlags struct {
	table    string
	endpoint string
	local    bool
}

func (f *adminFlags) store(cmd *cobra.Command) (*admission.Store, error) {
	if f.local {
		// DynamoDB Local accepts any credentials: no AWS configuration is
		// read. --endpoint names a stack started on another address.
		endpoint := f.endpoint
		if endpoint == "" {
			endpoint = "http://" + localstack.DefaultDynamoAddr
		}
		return admission.New(ddblocal.NewClient(endpoint), f.table)
	}
	cfg, err := config.LoadDefaultConfig(cmd.Context())
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if f.endpoint != "" {
			o.BaseEndpoint = aws.String(f.endpoint)
		}
	})
	return admission.New(client, f.table)
}

func newAdminCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage pools, users, devices and sessions in a collabgw table",
		Long: `Manage the configuration database. By default it uses the AWS SDK's usual
configuration (environment, profile, region) and --table; --local targets the
table of the local stack started by make run.`,
	}
	cmd.PersistentFlags().StringVar(&f.table, "table", localstack.DefaultTable, "DynamoDB table")
	cmd.PersistentFlags().StringVar(&f.endpoint, "endpoint", "", "DynamoDB endpoint URL override (with --local: the stack's DynamoDB Local, default http://"+localstack.DefaultDynamoAddr+")")
	cmd.PersistentFlags().BoolVar(&f.local, "local", false, "use the local stack's DynamoDB Local (make run) with its static credentials")
	cmd.AddCommand(newAdminPoolCmd(f), newAdminUserCmd(f), newAdminDeviceCmd(f), newAdminSessionsCmd(f))
	return cmd
}

func newAdminPoolCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "pool", Short: "Show or set a pool's session policy"}
	var c admission.PoolConfig
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Create or replace a pool's configuration (validated)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			c.Name = args[0]
			stored, err := store.PutPool(cmd.Context(), c)
			if err != nil {
				return err
			}
			return printJSON(cmd, stored)
		},
	}
	set.Flags().IntVar(&c.MaxSessions, "max-sessions", 0, "maximum sessions (0: none; the protocol limit applies)")
	set.Flags().DurationVar(&c.IdleTimeout, "idle-timeout", 0, "at the maximum, evict sessions idle this long (0: never)")
	set.Flags().DurationVar(&c.InactivityTimeout, "inactivity-timeout", 0, "log out sessions silent this long (0: never)")
	set.Flags().IntVar(&c.ProtocolLimit, "protocol-limit", admission.DefaultProtocolLimit, "sessions the GroupWise protocol supports")
	set.Flags().StringVar(&c.GroupWise.Host, "groupwise-host", "", "GroupWise Messenger server host (required)")
	set.Flags().IntVar(&c.GroupWise.Port, "groupwise-port", admission.DefaultGroupWisePort, "GroupWise Messenger server port")
	set.Flags().StringVar(&c.GroupWise.CARef, "groupwise-ca", "", "CA bundle reference the edge trusts")
	set.Flags().StringVar(&c.GroupWise.PinSHA256, "groupwise-pin", "", "SHA-256 of the server certificate (hex)")
	show := &cobra.Command{
		Use:   "show [NAME]",
		Short: "Show one pool, or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				p, err := store.GetPool(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printJSON(cmd, p)
			}
			pools, err := store.ListPools(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(cmd, pools)
		},
	}
	cmd.AddCommand(set, show)
	return cmd
}

func newAdminUserCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Add users and permit or forbid the collaboration client"}
	var pool string
	var forbidden bool
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Create or replace a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			return store.PutUser(cmd.Context(), admission.User{ID: args[0], Pool: pool, Permitted: !forbidden})
		},
	}
	add.Flags().StringVar(&pool, "pool", "", "the user's pool (required)")
	add.Flags().BoolVar(&forbidden, "forbidden", false, "create the user not permitted to use the client")
	_ = add.MarkFlagRequired("pool")
	permit := func(use, short string, permitted bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				store, err := f.store(cmd)
				if err != nil {
					return err
				}
				return store.SetPermitted(cmd.Context(), args[0], permitted)
			},
		}
	}
	cmd.AddCommand(add,
		permit("permit", "Permit a user to use the collaboration client", true),
		permit("forbid", "Forbid a user the collaboration client (live sessions go on; new logins are refused)", false))
	return cmd
}

func newAdminDeviceCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Register and revoke devices"}
	var user, pubFile string
	register := &cobra.Command{
		Use:   "register ID",
		Short: "Register a device's public key (from `collabgw device keygen`) and bind it to a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// An id the device protocol cannot carry would register a
			// device that can never log in.
			if err := devproto.CheckDeviceID(args[0]); err != nil {
				return err
			}
			pub, err := devproto.LoadPublicKey(pubFile)
			if err != nil {
				return err
			}
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			return store.RegisterDevice(cmd.Context(), admission.Device{ID: args[0], UserID: user, PublicKey: pub[:]})
		},
	}
	register.Flags().StringVar(&user, "user", "", "the user the device belongs to (required)")
	register.Flags().StringVar(&pubFile, "pub", "", "the device's public key file, PREFIX.pub (required)")
	_ = register.MarkFlagRequired("user")
	_ = register.MarkFlagRequired("pub")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a device and end its live session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			return store.RevokeDevice(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(register, revoke)
	return cmd
}

func newAdminSessionsCmd(f *adminFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sessions POOL",
		Short: "List a pool's live sessions and its counter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := f.store(cmd)
			if err != nil {
				return err
			}
			sessions, err := store.ListSessions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			live, err := store.Counter(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				if sessions == nil {
					sessions = []admission.Session{}
				}
				return printJSON(cmd, sessionsReport{Pool: args[0], Counter: live, Sessions: sessions})
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SESSION\tUSER\tDEVICE\tEDGE\tCOVERAGE\tLAST STATUS\tLEASE LEFT")
			now := time.Now()
			for _, s := range sessions {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s ago\t%s\n", s.ID, s.UserID, s.DeviceID, s.Owner, s.Coverage,
					now.Sub(s.LastStatus).Round(time.Second), s.LeaseExpires.Sub(now).Round(time.Second))
			}
			fmt.Fprintf(w, "%d sessions, counter %d\n", len(sessions), live)
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// sessionsReport is `sessions --json`: the pool's live sessions and its
// counter, which must agree.
type sessionsReport struct {
	Pool     string              `json:"pool"`
	Counter  int                 `json:"counter"`
	Sessions []admission.Session `json:"sessions"`
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
