// Package standin is a Terraform provider that has the AWS provider's schema
// and nothing else: OpenTofu can init, validate, plan and test (with
// mock_provider) configurations against it, so every argument name, type,
// nesting and required/optional flag is checked as the real provider would,
// but it cannot create, read or change anything in AWS.
package standin

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// errSummary heads every diagnostic about an operation only the real
// provider can do.
const errSummary = "Schema stand-in provider"

// Provider serves a provider schema loaded from a schema dump.
type Provider struct {
	schema      pschema.Schema
	version     string
	resources   []func() resource.Resource
	dataSources []func() datasource.DataSource
}

var _ provider.Provider = (*Provider)(nil)

// New converts ps into framework schemas; a schema the framework cannot
// express is an error, so the stand-in never silently accepts less.
func New(ps *tfschema.ProviderSchema) (*Provider, error) {
	p := &Provider{version: ps.Version}
	pattrs, err := convertAttrs(providerKind{}, ps.Provider.Block.Attributes)
	if err != nil {
		return nil, fmt.Errorf("standin: provider: %w", err)
	}
	pblocks, err := convertBlocks(providerKind{}, ps.Provider.Block.BlockTypes)
	if err != nil {
		return nil, fmt.Errorf("standin: provider: %w", err)
	}
	p.schema = pschema.Schema{Attributes: pattrs, Blocks: pblocks}
	for _, name := range tfschema.SortedKeys(ps.ResourceSchemas) {
		b := ps.ResourceSchemas[name].Block
		attrs, err := convertAttrs(resourceKind{}, b.Attributes)
		if err != nil {
			return nil, fmt.Errorf("standin: %s: %w", name, err)
		}
		blocks, err := convertBlocks(resourceKind{}, b.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("standin: %s: %w", name, err)
		}
		r := &standinResource{typeName: name, schema: rschema.Schema{Attributes: attrs, Blocks: blocks, Version: ps.ResourceSchemas[name].Version}}
		p.resources = append(p.resources, func() resource.Resource { return r })
	}
	for _, name := range tfschema.SortedKeys(ps.DataSourceSchemas) {
		b := ps.DataSourceSchemas[name].Block
		attrs, err := convertAttrs(dataSourceKind{}, b.Attributes)
		if err != nil {
			return nil, fmt.Errorf("standin: data %s: %w", name, err)
		}
		blocks, err := convertBlocks(dataSourceKind{}, b.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("standin: data %s: %w", name, err)
		}
		d := &standinDataSource{typeName: name, schema: dschema.Schema{Attributes: attrs, Blocks: blocks}}
		p.dataSources = append(p.dataSources, func() datasource.DataSource { return d })
	}
	return p, nil
}

// Metadata names the provider "aws".
func (p *Provider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "aws"
	resp.Version = p.version
}

// Schema is the AWS provider's configuration schema.
func (p *Provider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = p.schema
}

// Configure accepts any valid configuration and contacts nothing.
func (p *Provider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

// Resources lists every resource type of the schema.
func (p *Provider) Resources(context.Context) []func() resource.Resource { return p.resources }

// DataSources lists every data source type of the schema.
func (p *Provider) DataSources(context.Context) []func() datasource.DataSource { return p.dataSources }

type standinResource struct {
	typeName string
	schema   rschema.Schema
}

func (r *standinResource) Metadata(_ context.Context, _ resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = r.typeName
}

func (r *standinResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = r.schema
}

func (r *standinResource) Create(_ context.Context, _ resource.CreateRequest, resp *resource.CreateResponse) {
	resp.Diagnostics.AddError(errSummary, "cannot create "+r.typeName+": this provider only has the AWS schema (use mock_provider in tofu test)")
}

// Read keeps the state as it is: nothing exists to compare it with.
func (r *standinResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (r *standinResource) Update(_ context.Context, _ resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.AddError(errSummary, "cannot update "+r.typeName+": this provider only has the AWS schema")
}

func (r *standinResource) Delete(_ context.Context, _ resource.DeleteRequest, resp *resource.DeleteResponse) {
	resp.Diagnostics.AddError(errSummary, "cannot delete "+r.typeName+": this provider only has the AWS schema")
}

type standinDataSource struct {
	typeName string
	schema   dschema.Schema
}

func (d *standinDataSource) Metadata(_ context.Context, _ datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = d.typeName
}

func (d *standinDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = d.schema
}

func (d *standinDataSource) Read(_ context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.Diagnostics.AddError(errSummary, "cannot read data."+d.typeName+": this provider only has the AWS schema (use mock_provider in tofu test)")
}
