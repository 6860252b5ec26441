package standin

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// providerKind builds provider schemas (a provider attribute is never computed).
type providerKind struct{}

var _ schemaKind[pschema.Attribute, pschema.Block] = providerKind{}

func (providerKind) scalar(t attr.Type, f flags) pschema.Attribute {
	switch t.(type) {
	case basetypes.StringType:
		return pschema.StringAttribute{Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	case basetypes.NumberType:
		return pschema.NumberAttribute{Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	case basetypes.BoolType:
		return pschema.BoolAttribute{Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	}
	return pschema.DynamicAttribute{Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
}

func (providerKind) collection(t attr.Type, f flags) pschema.Attribute {
	switch t := t.(type) {
	case basetypes.ListType:
		return pschema.ListAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	case basetypes.SetType:
		return pschema.SetAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	case basetypes.MapType:
		return pschema.MapAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
	}
	return pschema.ObjectAttribute{AttributeTypes: t.(basetypes.ObjectType).AttrTypes, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}
}

func (providerKind) nested(mode string, attrs map[string]pschema.Attribute, f flags) (pschema.Attribute, error) {
	obj := pschema.NestedAttributeObject{Attributes: attrs}
	switch mode {
	case tfschema.NestingSingle:
		return pschema.SingleNestedAttribute{Attributes: attrs, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}, nil
	case tfschema.NestingList:
		return pschema.ListNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}, nil
	case tfschema.NestingSet:
		return pschema.SetNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}, nil
	case tfschema.NestingMap:
		return pschema.MapNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Sensitive: f.sensitive}, nil
	}
	return nil, unknownNesting(mode)
}

func (providerKind) block(mode string, attrs map[string]pschema.Attribute, blocks map[string]pschema.Block, size *blockSize) (pschema.Block, error) {
	obj := pschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
	switch mode {
	case tfschema.NestingSingle:
		return pschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}, nil
	case tfschema.NestingList:
		b := pschema.ListNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.List{size}
		}
		return b, nil
	case tfschema.NestingSet:
		b := pschema.SetNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.Set{size}
		}
		return b, nil
	}
	return nil, unknownNesting(mode)
}
