// Command terraform-provider-aws is a schema stand-in for the AWS provider:
// it serves the real provider's schema (extracted by aws-schema-extract from
// npm @cdktf/provider-aws) and refuses every operation that would need AWS.
// The schema file is $COLLABGW_AWS_SCHEMA, else schema.json beside the
// executable.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/standin"
	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// address is where OpenTofu finds the provider named hashicorp/aws.
const address = "registry.opentofu.org/hashicorp/aws"

func main() {
	p, err := load()
	if err != nil {
		log.Fatal(err)
	}
	if err := providerserver.Serve(context.Background(), func() provider.Provider { return p }, providerserver.ServeOpts{Address: address}); err != nil {
		log.Fatal(err)
	}
}

func load() (*standin.Provider, error) {
	path := os.Getenv("COLLABGW_AWS_SCHEMA")
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find schema: %w", err)
		}
		path = filepath.Join(filepath.Dir(exe), "schema.json")
	}
	ps, err := tfschema.Load(path, address)
	if err != nil {
		return nil, err
	}
	return standin.New(ps)
}
