// Package tfschema is the provider schema in the JSON shape that
// `tofu providers schema -json` prints, so the stand-in provider can serve a
// schema extracted from any source (today the cdktf package; a real schema
// dump would load unchanged).
package tfschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Document is the top level of a schema dump.
type Document struct {
	FormatVersion   string                     `json:"format_version"`
	ProviderSchemas map[string]*ProviderSchema `json:"provider_schemas"`
}

// ProviderSchema is one provider: its configuration, resources and data sources.
type ProviderSchema struct {
	// Version is the provider release the schema was taken from.
	Version           string             `json:"collabgw_provider_version,omitempty"`
	Provider          *Schema            `json:"provider"`
	ResourceSchemas   map[string]*Schema `json:"resource_schemas"`
	DataSourceSchemas map[string]*Schema `json:"data_source_schemas"`
}

// Schema is one resource, data source or provider configuration.
type Schema struct {
	Version int64  `json:"version"`
	Block   *Block `json:"block"`
}

// Block is a configuration body: attributes and nested blocks.
type Block struct {
	Attributes map[string]*Attribute   `json:"attributes,omitempty"`
	BlockTypes map[string]*NestedBlock `json:"block_types,omitempty"`
}

// Attribute is one argument or exported attribute. Exactly one of Type and
// NestedType is set.
type Attribute struct {
	Type       *Type       `json:"type,omitempty"`
	NestedType *NestedType `json:"nested_type,omitempty"`
	Required   bool        `json:"required,omitempty"`
	Optional   bool        `json:"optional,omitempty"`
	Computed   bool        `json:"computed,omitempty"`
	Sensitive  bool        `json:"sensitive,omitempty"`
}

// NestedType is an attribute whose value is an object or a collection of
// objects with their own attribute flags.
type NestedType struct {
	Attributes  map[string]*Attribute `json:"attributes"`
	NestingMode string                `json:"nesting_mode"`
}

// Nesting modes of blocks and nested attributes.
const (
	NestingSingle = "single"
	NestingList   = "list"
	NestingSet    = "set"
	NestingMap    = "map"
)

// NestedBlock is a block type inside a body.
type NestedBlock struct {
	NestingMode string `json:"nesting_mode"`
	Block       *Block `json:"block"`
	MinItems    int64  `json:"min_items,omitempty"`
	MaxItems    int64  `json:"max_items,omitempty"`
}

// Type kinds, as cty spells them in JSON.
const (
	KindString  = "string"
	KindNumber  = "number"
	KindBool    = "bool"
	KindDynamic = "dynamic"
	KindList    = "list"
	KindSet     = "set"
	KindMap     = "map"
	KindObject  = "object"
)

// Type is a cty type: a primitive, a collection of Elem, or an object.
type Type struct {
	Kind   string
	Elem   *Type
	Fields map[string]*Type
}

// Primitive returns the type of the given primitive kind.
func Primitive(kind string) *Type { return &Type{Kind: kind} }

// Collection returns a list, set or map of elem.
func Collection(kind string, elem *Type) *Type { return &Type{Kind: kind, Elem: elem} }

// MarshalJSON writes the cty JSON form: "string", ["list","string"], ["object",{...}].
func (t *Type) MarshalJSON() ([]byte, error) {
	switch t.Kind {
	case KindString, KindNumber, KindBool, KindDynamic:
		return json.Marshal(t.Kind)
	case KindList, KindSet, KindMap:
		return json.Marshal([]any{t.Kind, t.Elem})
	case KindObject:
		return json.Marshal([]any{t.Kind, t.Fields})
	}
	return nil, fmt.Errorf("tfschema: unknown type kind %q", t.Kind)
}

// UnmarshalJSON reads the cty JSON form.
func (t *Type) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case KindString, KindNumber, KindBool, KindDynamic:
			t.Kind = s
			return nil
		}
		return fmt.Errorf("tfschema: unknown primitive type %q", s)
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("tfschema: type %s: %w", b, err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("tfschema: type %s: want [kind, element]", b)
	}
	if err := json.Unmarshal(pair[0], &t.Kind); err != nil {
		return fmt.Errorf("tfschema: type kind %s: %w", pair[0], err)
	}
	switch t.Kind {
	case KindList, KindSet, KindMap:
		t.Elem = &Type{}
		return t.Elem.UnmarshalJSON(pair[1])
	case KindObject:
		return json.Unmarshal(pair[1], &t.Fields)
	}
	return fmt.Errorf("tfschema: unknown type kind %q", t.Kind)
}

// Load reads a schema dump and returns the named provider's schema.
func Load(path, provider string) (*ProviderSchema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tfschema: %w", err)
	}
	var doc Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("tfschema: %s: %w", path, err)
	}
	for addr, ps := range doc.ProviderSchemas {
		if addr == provider || len(doc.ProviderSchemas) == 1 {
			return ps, nil
		}
	}
	return nil, fmt.Errorf("tfschema: %s has no provider %q", path, provider)
}

// ErrUnknownType marks a resource or data source type the schema lacks.
var ErrUnknownType = errors.New("tfschema: unknown type")

// SortedKeys returns the keys of m in order, for deterministic output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
