package standin

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// flags are what every attribute declares, whatever its type.
type flags struct{ required, optional, computed, sensitive bool }

func flagsOf(a *tfschema.Attribute) flags {
	return flags{a.Required, a.Optional, a.Computed, a.Sensitive}
}

// schemaKind builds one framework's schema values. The resource, data
// source and provider schema packages declare the same shapes as distinct
// types (A: attribute, B: block), so the conversion below is written once
// against this interface and each package gets a small implementation.
type schemaKind[A, B any] interface {
	scalar(t attr.Type, f flags) A // string, number, bool or dynamic (t nil: dynamic)
	collection(t attr.Type, f flags) A
	nested(mode string, attrs map[string]A, f flags) (A, error)
	block(mode string, attrs map[string]A, blocks map[string]B, size *blockSize) (B, error)
}

// convertAttrs converts a block's attributes.
func convertAttrs[A, B any](k schemaKind[A, B], in map[string]*tfschema.Attribute) (map[string]A, error) {
	out := map[string]A{}
	for name, a := range in {
		if a.NestedType != nil {
			attrs, err := convertAttrs(k, a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if out[name], err = k.nested(a.NestedType.NestingMode, attrs, flagsOf(a)); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		t, _ := attrType(a.Type) // a type the framework cannot express is nil: dynamic
		switch t.(type) {
		case basetypes.ListType, basetypes.SetType, basetypes.MapType, basetypes.ObjectType:
			out[name] = k.collection(t, flagsOf(a))
		default:
			out[name] = k.scalar(t, flagsOf(a))
		}
	}
	return out, nil
}

// convertBlocks converts a block's nested blocks.
func convertBlocks[A, B any](k schemaKind[A, B], in map[string]*tfschema.NestedBlock) (map[string]B, error) {
	out := map[string]B{}
	for name, nb := range in {
		attrs, err := convertAttrs(k, nb.Block.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		blocks, err := convertBlocks(k, nb.Block.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if out[name], err = k.block(nb.NestingMode, attrs, blocks, sizeOf(nb)); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}

func unknownNesting(mode string) error {
	return fmt.Errorf("nesting %q has no framework equivalent", mode)
}
