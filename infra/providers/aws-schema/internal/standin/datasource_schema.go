package standin

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// dataSourceKind builds data source schemas.
type dataSourceKind struct{}

var _ schemaKind[dschema.Attribute, dschema.Block] = dataSourceKind{}

func (dataSourceKind) scalar(t attr.Type, f flags) dschema.Attribute {
	switch t.(type) {
	case basetypes.StringType:
		return dschema.StringAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.NumberType:
		return dschema.NumberAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.BoolType:
		return dschema.BoolAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	}
	return dschema.DynamicAttribute{Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
}

func (dataSourceKind) collection(t attr.Type, f flags) dschema.Attribute {
	switch t := t.(type) {
	case basetypes.ListType:
		return dschema.ListAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.SetType:
		return dschema.SetAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	case basetypes.MapType:
		return dschema.MapAttribute{ElementType: t.ElemType, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
	}
	return dschema.ObjectAttribute{AttributeTypes: t.(basetypes.ObjectType).AttrTypes, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}
}

func (dataSourceKind) nested(mode string, attrs map[string]dschema.Attribute, f flags) (dschema.Attribute, error) {
	obj := dschema.NestedAttributeObject{Attributes: attrs}
	switch mode {
	case tfschema.NestingSingle:
		return dschema.SingleNestedAttribute{Attributes: attrs, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingList:
		return dschema.ListNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingSet:
		return dschema.SetNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	case tfschema.NestingMap:
		return dschema.MapNestedAttribute{NestedObject: obj, Required: f.required, Optional: f.optional, Computed: f.computed, Sensitive: f.sensitive}, nil
	}
	return nil, unknownNesting(mode)
}

func (dataSourceKind) block(mode string, attrs map[string]dschema.Attribute, blocks map[string]dschema.Block, size *blockSize) (dschema.Block, error) {
	obj := dschema.NestedBlockObject{Attributes: attrs, Blocks: blocks}
	switch mode {
	case tfschema.NestingSingle:
		return dschema.SingleNestedBlock{Attributes: attrs, Blocks: blocks}, nil
	case tfschema.NestingList:
		b := dschema.ListNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.List{size}
		}
		return b, nil
	case tfschema.NestingSet:
		b := dschema.SetNestedBlock{NestedObject: obj}
		if size != nil {
			b.Validators = []validator.Set{size}
		}
		return b, nil
	}
	return nil, unknownNesting(mode)
}
