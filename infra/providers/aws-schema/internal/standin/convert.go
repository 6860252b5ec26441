package standin

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// attrType converts a cty type. The framework refuses dynamic values inside
// collections, so ok is false for those and the caller falls back to a
// dynamic attribute (less strict, never stricter than the real provider).
func attrType(t *tfschema.Type) (typ attr.Type, ok bool) {
	switch t.Kind {
	case tfschema.KindString:
		return types.StringType, true
	case tfschema.KindNumber:
		return types.NumberType, true
	case tfschema.KindBool:
		return types.BoolType, true
	case tfschema.KindDynamic:
		return types.DynamicType, true
	case tfschema.KindList, tfschema.KindSet, tfschema.KindMap:
		elem, ok := attrType(t.Elem)
		if !ok || elem == types.DynamicType {
			return nil, false
		}
		switch t.Kind {
		case tfschema.KindList:
			return types.ListType{ElemType: elem}, true
		case tfschema.KindSet:
			return types.SetType{ElemType: elem}, true
		}
		return types.MapType{ElemType: elem}, true
	case tfschema.KindObject:
		fields := map[string]attr.Type{}
		for name, ft := range t.Fields {
			f, ok := attrType(ft)
			if !ok {
				return nil, false
			}
			fields[name] = f
		}
		return types.ObjectType{AttrTypes: fields}, true
	}
	return nil, false
}

// blockSize enforces a block's min_items and max_items, as the real
// provider's SDK does.
type blockSize struct{ min, max int64 }

func (v blockSize) Description(context.Context) string {
	return fmt.Sprintf("between %d and %d blocks", v.min, v.max)
}

func (v blockSize) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v blockSize) check(n int, diags interface{ AddError(string, string) }) {
	if int64(n) < v.min {
		diags.AddError("Insufficient blocks", fmt.Sprintf("At least %d block(s) required, %d given.", v.min, n))
	}
	if v.max > 0 && int64(n) > v.max {
		diags.AddError("Too many blocks", fmt.Sprintf("No more than %d block(s) allowed, %d given.", v.max, n))
	}
}

func (v blockSize) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsUnknown() {
		return
	}
	v.check(len(req.ConfigValue.Elements()), &resp.Diagnostics)
}

func (v blockSize) ValidateSet(_ context.Context, req validator.SetRequest, resp *validator.SetResponse) {
	if req.ConfigValue.IsUnknown() {
		return
	}
	v.check(len(req.ConfigValue.Elements()), &resp.Diagnostics)
}

// sizeOf returns the validator of a block's item count, or nil when the
// block has no limits.
func sizeOf(nb *tfschema.NestedBlock) *blockSize {
	if nb.MinItems == 0 && nb.MaxItems == 0 {
		return nil
	}
	return &blockSize{nb.MinItems, nb.MaxItems}
}
