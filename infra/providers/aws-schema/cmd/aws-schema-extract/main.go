// Command aws-schema-extract writes the schema of the AWS provider's
// configuration and of the named resources and data sources, read from an
// unpacked npm @cdktf/provider-aws package, as a `tofu providers schema
// -json` document that the stand-in provider serves.
//
//	aws-schema-extract -package DIR -resources aws_a,aws_b -data-sources aws_c -o schema.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/cdktf"
	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "aws-schema-extract:", err)
		os.Exit(1)
	}
}

func run() error {
	pkgDir := flag.String("package", "", "unpacked @cdktf/provider-aws package (the folder with .jsii)")
	resources := flag.String("resources", "", "comma-separated resource types")
	dataSources := flag.String("data-sources", "", "comma-separated data source types")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if *pkgDir == "" || *out == "" {
		return fmt.Errorf("-package and -o are required")
	}
	pkg, err := cdktf.Open(*pkgDir)
	if err != nil {
		return err
	}
	ps, err := pkg.Extract(split(*resources), split(*dataSources))
	if err != nil {
		return err
	}
	doc := tfschema.Document{
		FormatVersion:   "1.0",
		ProviderSchemas: map[string]*tfschema.ProviderSchema{"registry.opentofu.org/hashicorp/aws": ps},
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return fmt.Errorf("encode schema: %w", err)
	}
	if err := os.WriteFile(*out, b, 0o600); err != nil {
		return fmt.Errorf("write schema: %w", err)
	}
	return nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
