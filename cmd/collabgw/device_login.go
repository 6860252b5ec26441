package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// clientVersion is what the CLI's logins tell the gateway's logs.
const clientVersion = "collabgw-cli/1"

// deviceFlags are the flags every device client command shares. The
// defaults point at `make run`'s stack and its demo seed.
type deviceFlags struct {
	edge       string
	key        string
	gatewayKey string
	user       string
	device     string
	password   passwordFlags
}

var (
	defaultDeviceKeyDir  = filepath.Join(localstack.DefaultDataDir, "keys", "devices")
	defaultGatewayPubKey = filepath.Join(localstack.DefaultDataDir, "keys", "gateway.pub")
)

func (f *deviceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.edge, "edge", localstack.DefaultEdgeAddr, "the edge's device port, host:port")
	fl.StringVar(&f.gatewayKey, "gateway-key", defaultGatewayPubKey, "the gateway's public key file (.pub) the device is provisioned with")
	fl.StringVar(&f.key, "key", "", "the device's private key file (default: the demo seed's key of --user)")
	fl.StringVar(&f.user, "user", "", "the GroupWise user id (required)")
	fl.StringVar(&f.device, "device", "", "the device id (default: the demo seed's device of --user, userNNNN → deviceNNNN)")
	f.password.register(cmd)
}

// client returns the device client and the device id to log in with.
func (f *deviceFlags) client() (*devconn.Client, string, error) {
	if f.user == "" {
		return nil, "", errors.New("--user is required")
	}
	device := f.device
	if device == "" {
		d, ok := demo.DeviceFor(f.user)
		if !ok {
			return nil, "", errors.New("--device is required for users outside the demo seed")
		}
		device = d
	}
	keyFile := f.key
	if keyFile == "" {
		keyFile = filepath.Join(defaultDeviceKeyDir, f.user+devproto.PrivateKeySuffix)
	}
	key, err := devproto.LoadPrivateKey(keyFile)
	if err != nil {
		return nil, "", err
	}
	gw, err := devproto.LoadPublicKey(f.gatewayKey)
	if err != nil {
		return nil, "", err
	}
	c, err := devconn.NewClient(key, gw)
	return c, device, err
}

// connect logs the device in. A refusal is returned as the status with a
// nil link.
func (f *deviceFlags) connect(ctx context.Context, stdin io.Reader, tty terminal) (*devconn.Link, *devproto.ServerStatus, error) {
	c, device, err := f.client()
	if err != nil {
		return nil, nil, err
	}
	pw, err := f.password.password(f.user, stdin, tty)
	if err != nil {
		return nil, nil, err
	}
	l, err := c.Connect(ctx, f.edge, devproto.Login{DeviceID: device, UserID: f.user, Password: pw, ClientVersion: clientVersion})
	var rej *devconn.RejectedError
	if errors.As(err, &rej) {
		return nil, rej.Status, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return l, l.Accepted(), nil
}

// statusJSON is the --json form of a SERVER_STATUS. It never holds the
// resume token.
type statusJSON struct {
	Status         string  `json:"status"`
	Code           int     `json:"code"`
	Message        string  `json:"message"`
	SessionID      string  `json:"sessionId,omitempty"`
	RetryAfterMs   int64   `json:"retryAfterMs,omitempty"`
	StatusInterval int64   `json:"statusIntervalMs,omitempty"`
	LatencyMs      float64 `json:"latencyMs"`
}

func printStatus(w io.Writer, st *devproto.ServerStatus, lat time.Duration, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(statusJSON{
			Status: st.Code.String(), Code: int(st.Code), Message: st.Message, SessionID: st.SessionID,
			RetryAfterMs: st.RetryAfter.Milliseconds(), StatusInterval: st.StatusInterval.Milliseconds(),
			LatencyMs: float64(lat.Microseconds()) / 1000,
		})
	}
	line := fmt.Sprintf("%s (%s)", st.Code, st.Message)
	if st.SessionID != "" {
		line += " session " + st.SessionID
	}
	if st.RetryAfter > 0 {
		line += " retry after " + st.RetryAfter.String()
	}
	_, err := fmt.Fprintf(w, "%s in %v\n", line, lat.Round(100*time.Microsecond))
	return err
}

const passwordHelp = `The password: a prompt without echo when standard input is a terminal; --password-file FILE
(the first line; - for standard input) for scripts; --password only where nothing else works (it
is visible in ps and kept in shell history).`

func newDeviceLoginCmd() *cobra.Command {
	var (
		f      deviceFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "login --user U",
		Short: "Log a device in once, print the status, log out (exit 0 only on ACCEPTED)",
		Long: `Log a device in to the edge (one round trip: the LOGIN rides in the Noise handshake),
print the status the edge answered, then log out so no slot stays held. The defaults point
at the local stack of ` + "`make run`" + `: its edge, its gateway key and the demo seed's device keys
(user0001 → .local/keys/devices/user0001.key, device0001; GroupWise password "demo").

` + passwordHelp + `

Exit status: 0 on ACCEPTED, 2 on any other status, 1 on an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tty := stdinTerminal()
			tty.warn = cmd.ErrOrStderr()
			t0 := time.Now()
			l, st, err := f.connect(ctx, cmd.InOrStdin(), tty)
			if err != nil {
				return err
			}
			lat := time.Since(t0)
			if l != nil {
				lctx, cancel := context.WithTimeout(ctx, devconn.DefaultLogoutTimeout)
				err := l.Logout(lctx)
				cancel()
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "logout:", err)
				}
			}
			if err := printStatus(cmd.OutOrStdout(), st, lat, asJSON); err != nil {
				return err
			}
			if st.Code != status.Accepted {
				return &exitError{code: 2, err: fmt.Errorf("login refused: %v", st.Code)}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
