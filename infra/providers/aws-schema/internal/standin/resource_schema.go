package standin

import (
	"fmt"

	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

func resourceAttrs(in map[string]*tfschema.Attribute) (map[string]rschema.Attribute, error) {
	out := map[string]rschema.Attribute{}
	for name, a := range in {
		if a.NestedType != nil {
			nested, err := resourceAttrs(a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj := rschema.NestedAttributeObject{Attributes: nested}
			switch a.NestedType.NestingMode {
			case tfschema.NestingSingle:
				out[name] = rschema.SingleNestedAttribute{Attributes: nested, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingList:
				out[name] = rschema.ListNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingSet:
				out[name] = rschema.SetNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingMap:
				out[name] = rschema.MapNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			default:
				return nil, fmt.Errorf("%s: unknown nesting %q", name, a.NestedType.NestingMode)
			}
			continue
		}
		t, ok := attrType(a.Type)
		if !ok {
			out[name] = rschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			continue
		}
		switch t := t.(type) {
		case basetypes.StringType:
			out[name] = rschema.StringAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.NumberType:
			out[name] = rschema.NumberAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.BoolType:
			out[name] = rschema.BoolAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.DynamicType:
			out[name] = rschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.ListType:
			out[name] = rschema.ListAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.SetType:
			out[name] = rschema.SetAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.MapType:
			out[name] = rschema.MapAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.ObjectType:
			out[name] = rschema.ObjectAttribute{AttributeTypes: t.AttrTypes, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		}
	}
	return out, nil
}

func resourceBlocks(in map[string]*tfschema.NestedBlock) (map[string]rschema.Block, error) {
	out := map[string]rschema.Block{}
	for name, nb := range in {
		attrs, err := resourceAttrs(nb.Block.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		blocks, err := resourceBlocks(nb.Block.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		obj := rschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
		size := sizeOf(nb)
		switch nb.NestingMode {
		case tfschema.NestingSingle:
			out[name] = rschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}
		case tfschema.NestingList:
			b := rschema.ListNestedBlock{NestedObject: obj}
			if size != nil {
				b.Validators = []validator.List{size}
			}
			out[name] = b
		case tfschema.NestingSet:
			b := rschema.SetNestedBlock{NestedObject: obj}
			if size != nil {
				b.Validators = []validator.Set{size}
			}
			out[name] = b
		default:
			return nil, fmt.Errorf("%s: nesting %q has no framework block", name, nb.NestingMode)
		}
	}
	return out, nil
}
