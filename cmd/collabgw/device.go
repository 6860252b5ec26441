package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/devproto"
)

// newDeviceCmd groups the device-side tools: key generation here, and the
// device client commands (login, chat, load) as further subcommands.
func newDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Device protocol tools: keys, and the device client",
	}
	cmd.AddCommand(newDeviceKeygenCmd(), newDeviceLoginCmd(), newDeviceChatCmd(), newDeviceLoadCmd())
	return cmd
}

func newDeviceKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out PREFIX",
		Short: "Write a Noise (X25519) key pair: PREFIX.key (private, 0600) and PREFIX.pub",
		Long: `Write a new X25519 key pair for the device protocol.

PREFIX.key holds the private key and is created with mode 0600 (an existing
file is never overwritten); PREFIX.pub holds the public key. Each file is one
line: the 32-byte key in standard base64, as WireGuard writes keys. A device
key's .pub is registered with the device record; the gateway's key is made
the same way and its .pub is provisioned on every device.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out PREFIX is required")
			}
			key, err := devproto.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := devproto.WriteKeyFiles(out, key); err != nil {
				return err
			}
			pub, err := key.Public()
			if err != nil {
				return err
			}
			// Only the public key is printed; the private key stays in its file.
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s%s and %s%s\npublic key: %s\n",
				out, devproto.PrivateKeySuffix, out, devproto.PublicKeySuffix, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the key files (required)")
	return cmd
}
