// Package cdktf reads a provider schema out of a prebuilt CDK for Terraform
// provider package (npm @cdktf/provider-aws). The package ships no schema
// dump, but its generated code carries the whole schema:
//
//   - lib/<type>/index.js: each configurable argument with its exact
//     Terraform name, block or attribute, list/set/map/single nesting and
//     element type (synthesizeHclAttributes and the struct *ToHclTerraform
//     functions); each computed-only attribute as a getter whose call names
//     its type (getStringAttribute('arn'), Fn.tolist(getListAttribute(...)));
//     "// name - computed: c, optional: o, required: r" comments on complex
//     and computed attributes;
//   - .jsii (a JSON assembly): whether each argument is optional, which the
//     JavaScript does not say.
//
// What the package cannot tell, and how Extract decides it, is documented
// on Extract.
package cdktf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// Package is an unpacked cdktf provider package.
type Package struct {
	dir  string
	jsii map[string]map[string]*jsiiType // namespace → type name → type
}

type jsiiType struct {
	Name       string         `json:"name"`
	Namespace  string         `json:"namespace"`
	Kind       string         `json:"kind"`
	Properties []jsiiProperty `json:"properties"`
	Location   struct {
		Filename string `json:"filename"`
	} `json:"locationInModule"`
}

type jsiiProperty struct {
	Name     string `json:"name"`
	Optional bool   `json:"optional"`
}

// Open reads the package's jsii assembly. dir is the folder holding
// package.json, .jsii and lib/.
func Open(dir string) (*Package, error) {
	b, err := os.ReadFile(filepath.Join(dir, ".jsii"))
	if err != nil {
		return nil, fmt.Errorf("cdktf: %w", err)
	}
	var asm struct {
		Types map[string]*jsiiType `json:"types"`
	}
	if err := json.Unmarshal(b, &asm); err != nil {
		return nil, fmt.Errorf("cdktf: parse .jsii: %w", err)
	}
	p := &Package{dir: dir, jsii: map[string]map[string]*jsiiType{}}
	for _, t := range asm.Types {
		if p.jsii[t.Namespace] == nil {
			p.jsii[t.Namespace] = map[string]*jsiiType{}
		}
		p.jsii[t.Namespace][t.Name] = t
	}
	return p, nil
}

// ProviderVersion is the provider release the package was generated from.
func (p *Package) ProviderVersion() (string, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "lib", "provider", "index.js"))
	if err != nil {
		return "", fmt.Errorf("cdktf: %w", err)
	}
	m := regexp.MustCompile(`providerVersion: '([0-9][^']*)'`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("cdktf: lib/provider/index.js names no providerVersion")
	}
	return string(m[1]), nil
}

// Extract returns the schema of the provider configuration and of the named
// resources and data sources (full Terraform names, such as
// aws_dynamodb_table). A name the package does not have is an error
// wrapping tfschema.ErrUnknownType.
//
// The generated code does not say which optional arguments are also
// computed, nor which are sensitive. Extract marks as computed: `id` and
// `tags_all`, which are computed on every resource that has them; complex
// arguments whose generator comment says so; and every optional argument
// of a data source (data sources fill in what they were not given). This
// matters only to mock values in `tofu test`, never to what validate accepts.
func (p *Package) Extract(resources, dataSources []string) (*tfschema.ProviderSchema, error) {
	version, err := p.ProviderVersion()
	if err != nil {
		return nil, err
	}
	out := &tfschema.ProviderSchema{
		Version:           version,
		ResourceSchemas:   map[string]*tfschema.Schema{},
		DataSourceSchemas: map[string]*tfschema.Schema{},
	}
	if out.Provider, err = p.schema("provider", "", kindProvider); err != nil {
		return nil, err
	}
	for _, name := range resources {
		dir := strings.ReplaceAll(strings.TrimPrefix(name, "aws_"), "_", "-")
		if out.ResourceSchemas[name], err = p.schema(dir, name, kindResource); err != nil {
			return nil, err
		}
	}
	for _, name := range dataSources {
		dir := "data-" + strings.ReplaceAll(name, "_", "-")
		if out.DataSourceSchemas[name], err = p.schema(dir, name, kindDataSource); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type kind int

const (
	kindProvider kind = iota
	kindResource
	kindDataSource
)

var baseClass = map[kind]string{
	kindProvider:   "cdktf.TerraformProvider",
	kindResource:   "cdktf.TerraformResource",
	kindDataSource: "cdktf.TerraformDataSource",
}

func (p *Package) schema(dir, typeName string, k kind) (*tfschema.Schema, error) {
	src, err := readJS(filepath.Join(p.dir, "lib", dir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %s (no lib/%s in the package)", tfschema.ErrUnknownType, typeName, dir)
		}
		return nil, err
	}
	f := parseJS(src)
	var main *jsClass
	for _, c := range f.classes {
		if c.extends == baseClass[k] {
			main = c
		}
	}
	if main == nil {
		return nil, fmt.Errorf("cdktf: lib/%s has no class extending %s", dir, baseClass[k])
	}
	if k != kindProvider && f.tfType[main.name] != typeName {
		return nil, fmt.Errorf("%w: %s (lib/%s is %q)", tfschema.ErrUnknownType, typeName, dir, f.tfType[main.name])
	}
	b := &builder{pkg: p, file: f, namespace: p.namespaceOf(dir, main.name), dataSource: k == kindDataSource}
	block, err := b.block(main.synth, main.name+"Config", main, 0)
	if err != nil {
		return nil, fmt.Errorf("cdktf: %s: %w", typeName, err)
	}
	return &tfschema.Schema{Block: block}, nil
}

func (p *Package) namespaceOf(dir, class string) string {
	want := "src/" + dir + "/index.ts"
	for ns, types := range p.jsii {
		if t := types[class]; t != nil && t.Location.Filename == want {
			return ns
		}
	}
	return ""
}

// readJS returns every JavaScript file of a type's folder, concatenated
// (large types split their structs over several files).
func readJS(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("cdktf: %w", err)
	}
	var sb strings.Builder
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			sub, err := readJS(path)
			if err != nil {
				return "", err
			}
			sb.WriteString(sub)
			continue
		}
		if strings.HasSuffix(e.Name(), ".js") {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("cdktf: %w", err)
			}
			sb.Write(b)
			sb.WriteString("\n")
		}
	}
	return sb.String(), nil
}
