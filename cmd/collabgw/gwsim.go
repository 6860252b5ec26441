package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/manifest"
)

// defaultGWSimAddr listens where a pool's GroupWise port points by default.
var defaultGWSimAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(manifest.GroupWisePort))

func newGWSimCmd() *cobra.Command {
	var (
		addr, caOut, usersFile, stall string
		users, locked, disabled       []string
		contacts                      []string
		demoUsers, maxConns           int
		keepalive                     uint32
		kick, rejectTLS, verbose      bool
		loginDelay, dropAfter         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "gwsim",
		Short: "Run a GroupWise Messenger server simulator until Ctrl-C",
		Long: "Run a GroupWise Messenger server simulator: TLS with its own CA (written to --ca-out),\n" +
			"users from --user/--users-file/--demo-users (demo password: " + gwsim.DemoPassword + "),\n" +
			"IMs routed between logged-in users, and fault injection for tests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			opts := []gwsim.Option{
				gwsim.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))),
				gwsim.WithDemoUsers(demoUsers),
				gwsim.WithMaxConnections(maxConns),
				gwsim.WithKickDuplicate(kick),
				gwsim.WithKeepalive(keepalive),
				gwsim.WithLocked(locked...),
				gwsim.WithDisabled(disabled...),
				gwsim.WithLoginDelay(loginDelay),
				gwsim.WithDropAfter(dropAfter),
				gwsim.WithRejectTLS(rejectTLS),
			}
			if usersFile != "" {
				fromFile, err := readUsersFile(usersFile)
				if err != nil {
					return err
				}
				users = append(fromFile, users...)
			}
			for _, u := range users {
				name, pw, ok := strings.Cut(u, ":")
				if !ok {
					return errors.New("--user: want NAME:PASSWORD")
				}
				opts = append(opts, gwsim.WithUser(name, pw))
			}
			for _, c := range contacts {
				owner, contact, ok := strings.Cut(c, ":")
				if !ok {
					return fmt.Errorf("--contact %q: want OWNER:CONTACT", c)
				}
				opts = append(opts, gwsim.WithContacts(owner, contact))
			}
			if stall != "" {
				command, d, ok := strings.Cut(stall, ":")
				dur, err := time.ParseDuration(d)
				if !ok || err != nil {
					return fmt.Errorf("--stall %q: want COMMAND:DURATION, e.g. ping:3s", stall)
				}
				opts = append(opts, gwsim.WithStall(command, dur))
			}
			srv, err := gwsim.New(opts...)
			if err != nil {
				return err
			}
			if err := srv.Start(cmd.Context(), addr); err != nil {
				return err
			}
			defer srv.Close()
			if caOut != "" {
				if err := srv.WriteCA(caOut); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gwsim: listening on %s (CA certificate: %s)\n", srv.Addr(), orNone(caOut))
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", defaultGWSimAddr, "TLS listen address HOST:PORT")
	f.StringVar(&caOut, "ca-out", "", "write the simulator's CA certificate (PEM) to this path")
	f.StringArrayVar(&users, "user", nil, "a user NAME:PASSWORD (repeatable)")
	f.StringVar(&usersFile, "users-file", "", "file of NAME:PASSWORD lines (# comments)")
	f.IntVar(&demoUsers, "demo-users", 0, "add user0001…userNNNN with password "+gwsim.DemoPassword)
	f.IntVar(&maxConns, "max-connections", 0, "answer SERVER_BUSY (53539) beyond this many logged-in sessions (0: no limit)")
	f.BoolVar(&kick, "kick-duplicate", false, "a second login of a user ends the first with event 114")
	f.Uint32Var(&keepalive, "keepalive", 0, "NM_A_UD_KEEPALIVE minutes in login answers (0: omit)")
	f.StringArrayVar(&contacts, "contact", nil, "put CONTACT in OWNER's login contact list, OWNER:CONTACT (repeatable)")
	f.StringArrayVar(&locked, "locked", nil, "user whose login fails with ACCESS_DENIED 53510 (repeatable)")
	f.StringArrayVar(&disabled, "disabled", nil, "user whose login fails with USER_DISABLED 53520 (repeatable)")
	f.DurationVar(&loginDelay, "fault-login-delay", 0, "fault: delay every login answer")
	f.DurationVar(&dropAfter, "fault-drop-after", 0, "fault: close every connection this long after accept")
	f.BoolVar(&rejectTLS, "fault-reject-tls", false, "fault: fail every TLS handshake")
	f.StringVar(&stall, "fault-stall", "", "fault: COMMAND:DURATION, stall mid-answer to COMMAND")
	f.BoolVar(&verbose, "verbose", false, "debug logs")
	return cmd
}

// readUsersFile reads NAME:PASSWORD lines, skipping blanks and # comments.
func readUsersFile(path string) ([]string, error) {
	f, err := os.Open(path) //nolint:gosec // an operator-chosen file
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	var users []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, ":") {
			return nil, fmt.Errorf("users file %s line %d: want NAME:PASSWORD", path, n)
		}
		users = append(users, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return users, nil
}

func orNone(s string) string {
	if s == "" {
		return "not written; use --ca-out"
	}
	return s
}
