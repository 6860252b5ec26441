package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/manifest"
)

// gatewaySecretName is the Secrets Manager name the printed instructions
// suggest for the gateway's private key.
const gatewaySecretName = "collabgw/gateway-private-key" //nolint:gosec // a secret's name, not a credential

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Make the keys a deployment needs",
	}
	cmd.AddCommand(newKeysGatewayCmd())
	return cmd
}

func newKeysGatewayCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "gateway --out PREFIX",
		Short: "Write the gateway's Noise key pair: PREFIX.key (private, 0600) and PREFIX.pub",
		Long: `Write a new gateway key pair for the device protocol (X25519, Noise IK).

PREFIX.key holds the private key (mode 0600); PREFIX.pub holds the public key
that every device is provisioned with. Each is one line of standard base64,
the format the edge (` + manifest.EnvGatewayKey + `) and the devices read.
Neither file is ever overwritten.

Store the private key in Secrets Manager straight from the file, so that it
never passes through the shell's history or the process list:

  aws secretsmanager create-secret --name ` + gatewaySecretName + ` \
      --secret-string file://PREFIX.key

then give the secret's ARN to Terraform (gateway_private_key_secret_arn),
provision devices with PREFIX.pub, and delete PREFIX.key.

To rotate the key without re-provisioning every device at once, make a second
pair and give it to the edge as ` + manifest.EnvGatewayKeyNext + ` during the
rotation window (edge/README.md, "Rotating the gateway key").`,
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
			keyFile, pubFile := out+devproto.PrivateKeySuffix, out+devproto.PublicKeySuffix
			// Only the public key is printed; the private key stays in its file.
			fmt.Fprintf(cmd.OutOrStdout(), `wrote %s (private, mode 0600) and %s
public key: %s

Store the private key in Secrets Manager (the value never passes through the shell):
  aws secretsmanager create-secret --name %s --secret-string file://%s
Provision devices with %s, then delete %s.
`, keyFile, pubFile, pub, gatewaySecretName, keyFile, pubFile, keyFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the key files (PREFIX.key and PREFIX.pub)")
	return cmd
}
