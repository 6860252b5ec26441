package standin

import (
	"fmt"

	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

func providerAttrs(in map[string]*tfschema.Attribute) (map[string]pschema.Attribute, error) {
	out := map[string]pschema.Attribute{}
	for name, a := range in {
		if a.NestedType != nil {
			nested, err := providerAttrs(a.NestedType.Attributes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj := pschema.NestedAttributeObject{Attributes: nested}
			switch a.NestedType.NestingMode {
			case tfschema.NestingSingle:
				out[name] = pschema.SingleNestedAttribute{Attributes: nested, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
			case tfschema.NestingList:
				out[name] = pschema.ListNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
			case tfschema.NestingSet:
				out[name] = pschema.SetNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
			case tfschema.NestingMap:
				out[name] = pschema.MapNestedAttribute{NestedObject: obj, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
			default:
				return nil, fmt.Errorf("%s: unknown nesting %q", name, a.NestedType.NestingMode)
			}
			continue
		}
		t, ok := attrType(a.Type)
		if !ok {
			out[name] = pschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
			continue
		}
		switch t := t.(type) {
		case basetypes.StringType:
			out[name] = pschema.StringAttribute{Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.NumberType:
			out[name] = pschema.NumberAttribute{Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.BoolType:
			out[name] = pschema.BoolAttribute{Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.DynamicType:
			out[name] = pschema.DynamicAttribute{Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.ListType:
			out[name] = pschema.ListAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.SetType:
			out[name] = pschema.SetAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.MapType:
			out[name] = pschema.MapAttribute{ElementType: t.ElemType, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		case basetypes.ObjectType:
			out[name] = pschema.ObjectAttribute{AttributeTypes: t.AttrTypes, Required: a.Required, Optional: a.Optional, Sensitive: a.Sensitive}
		}
	}
	return out, nil
}

func providerBlocks(in map[string]*tfschema.NestedBlock) (map[string]pschema.Block, error) {
	out := map[string]pschema.Block{}
	for name, nb := range in {
		attrs, err := providerAttrs(nb.Block.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		blocks, err := providerBlocks(nb.Block.BlockTypes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		obj := pschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
		size := sizeOf(nb)
		switch nb.NestingMode {
		case tfschema.NestingSingle:
			out[name] = pschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}
		case tfschema.NestingList:
			b := pschema.ListNestedBlock{NestedObject: obj}
			if size != nil {
				b.Validators = []validator.List{size}
			}
			out[name] = b
		case tfschema.NestingSet:
			b := pschema.SetNestedBlock{NestedObject: obj}
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
