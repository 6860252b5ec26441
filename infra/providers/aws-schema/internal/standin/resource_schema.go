package standin

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// resourceKind builds resource schemas.
type resourceKind struct{}

var _ schemaKind[rschema.Attribute, rschema.Block] = resourceKind{}

func (resourceKind) scalar(t attr.Type, f flags) rschema.Attribute {
	switch t.(type) {
	case basetypes.StringType:
		return rschema.StringAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.NumberType:
		return rschema.NumberAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.BoolType:
		return rschema.BoolAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	}
	return rschema.DynamicAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
}

func (resourceKind) collection(t attr.Type, f flags) rschema.Attribute {
	switch t := t.(type) {
	case basetypes.ListType:
		return rschema.ListAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.SetType:
		return rschema.SetAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.MapType:
		return rschema.MapAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	}
	return rschema.ObjectAttribute{AttributeTypes: t.(basetypes.ObjectType).AttrTypes, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
}

func (resourceKind) nested(mode string, attrs map[string]rschema.Attribute, f flags) (rschema.Attribute, error) {
	obj := rschema.NestedAttributeObject{Attributes: attrs}
	switch mode {
	case tfschema.NestingSingle:
		return rschema.SingleNestedAttribute{Attributes: attrs, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingList:
		return rschema.ListNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingSet:
		return rschema.SetNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingMap:
		return rschema.MapNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	}
	return nil, unknownNesting(mode)
}

func (resourceKind) block(mode string, attrs map[string]rschema.Attribute, blocks map[string]rschema.Block, size *blockSize) (rschema.Block, error) {
	obj := rschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
	switch mode {
	case tfschema.NestingSingle:
		return rschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}, nil
	case tfschema.NestingList:
		b := rschema.ListNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.List{size}
		}
		return b, nil
	case tfschema.NestingSet:
		b := rschema.SetNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.Set{size}
		}
		return b, nil
	}
	return nil, unknownNesting(mode)
}
