package standin

import (
	"fmt"

	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

func dataSourceAttrs(in map[string]*tfschema.Attribute) (map[string]dschema.Attribute, error) {
	out := map[string]dschema.Attribute{}
	for name, a := range in {
		if a.NestedType != nil {
			nested, err := dataSourceAttrs(a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj := dschema.NestedAttributeObject{Attributes: nested}
			switch a.NestedType.NestingMode {
			case tfschema.NestingSingle:
				out[name] = dschema.SingleNestedAttribute{Attributes: nested, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingList:
				out[name] = dschema.ListNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingSet:
				out[name] = dschema.SetNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			case tfschema.NestingMap:
				out[name] = dschema.MapNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			default:
				return nil, fmt.Errorf("%s: unknown nesting %q", name, a.NestedType.NestingMode)
			}
			continue
		}
		t, ok := attrType(a.Type)
		if !ok {
			out[name] = dschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
			continue
		}
		switch t := t.(type) {
		case basetypes.StringType:
			out[name] = dschema.StringAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.NumberType:
			out[name] = dschema.NumberAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.BoolType:
			out[name] = dschema.BoolAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.DynamicType:
			out[name] = dschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.ListType:
			out[name] = dschema.ListAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.SetType:
			out[name] = dschema.SetAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.MapType:
			out[name] = dschema.MapAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		case basetypes.ObjectType:
			out[name] = dschema.ObjectAttribute{AttributeTypes: t.AttrTypes, Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive}
		}
	}
	return out, nil
}

func dataSourceBlocks(in map[string]*tfschema.NestedBlock) (map[string]dschema.Block, error) {
	out := map[string]dschema.Block{}
	for name, nb := range in {
		attrs, err := dataSourceAttrs(nb.Block.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		blocks, err := dataSourceBlocks(nb.Block.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		obj := dschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
		size := sizeOf(nb)
		switch nb.NestingMode {
		case tfschema.NestingSingle:
			out[name] = dschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}
		case tfschema.NestingList:
			b := dschema.ListNestedBlock{NestedObject: obj}
			if size != nil {
				b.Validators = []validator.List{size}
			}
			out[name] = b
		case tfschema.NestingSet:
			b := dschema.SetNestedBlock{NestedObject: obj}
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
