package cdktf

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/collabgw/collabgw/infra/providers/aws-schema/internal/tfschema"
)

// jsFile is what one type's generated JavaScript says about its schema.
type jsFile struct {
	// structs maps a struct's function prefix (dynamodbTableTtl, from
	// dynamodbTableTtlToHclTerraform) to its configurable arguments.
	structs map[string][]attrEntry
	classes map[string]*jsClass
	// tfType maps a resource class to its Terraform type name.
	tfType map[string]string
}

// attrEntry is one configurable argument as synthesizeHclAttributes or a
// struct's *ToHclTerraform function writes it.
type attrEntry struct {
	name, value, nesting, storage string
	isBlock                       bool
}

type jsClass struct {
	name, extends string
	synth         []attrEntry
	comments      map[string]flags  // Terraform name → generator comment
	getters       map[string]string // property → return expression
	inits         map[string]jsInit // property → constructor initialisation
}

type flags struct{ computed, optional, required bool }

type jsInit struct{ class, name string }

var (
	reSection = regexp.MustCompile(`(?m)^(?:function (\w+)ToHclTerraform\(struct\)|class (\w+) extends ([\w.]+)) \{`)
	reTFType  = regexp.MustCompile(`(?m)^(\w+)\.tfResourceType = "(\w+)";`)
	reEntry   = regexp.MustCompile(`(?s)\n\s*(\w+): \{\n\s*value: (.*?),\n\s*isBlock: (true|false),\n\s*type: "(\w+)",\n\s*storageClassType: "(\w+)",\n\s*\}`)
	reComment = regexp.MustCompile(`// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n`)
	reGetter  = regexp.MustCompile(`(?m)^    get (\w+)\(\) \{\n\s*return (.*);\n\s*\}`)
	reInit    = regexp.MustCompile(`this\._(\w+) = new ([\w.]+)\(this, "(\w+)"`)
	reProp    = regexp.MustCompile(`(?:this\._|struct\.)(\w+)`)
	reStruct  = regexp.MustCompile(`(?:^|[^.\w])([a-z]\w*)ToHclTerraform`)
	reGetAttr = regexp.MustCompile(`this\.get(\w+)Attribute\('(\w+)'\)`)
	reNew     = regexp.MustCompile(`new ([\w.]+)\(this, "(\w+)"`)
)

func parseJS(src string) *jsFile {
	f := &jsFile{structs: map[string][]attrEntry{}, classes: map[string]*jsClass{}, tfType: map[string]string{}}
	for _, m := range reTFType.FindAllStringSubmatch(src, -1) {
		f.tfType[m[1]] = m[2]
	}
	locs := reSection.FindAllStringSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := src[loc[1]:end]
		if loc[2] >= 0 {
			f.structs[src[loc[2]:loc[3]]] = entries(body)
			continue
		}
		c := &jsClass{
			name: src[loc[4]:loc[5]], extends: src[loc[6]:loc[7]],
			synth: entries(body), comments: map[string]flags{},
			getters: map[string]string{}, inits: map[string]jsInit{},
		}
		for _, m := range reComment.FindAllStringSubmatch(body, -1) {
			c.comments[m[1]] = flags{computed: m[2] == "true", optional: m[3] == "true", required: m[4] == "true"}
		}
		for _, m := range reGetter.FindAllStringSubmatch(body, -1) {
			c.getters[m[1]] = m[2]
		}
		for _, m := range reInit.FindAllStringSubmatch(body, -1) {
			c.inits[m[1]] = jsInit{class: m[2], name: m[3]}
		}
		f.classes[c.name] = c
	}
	return f
}

func entries(body string) []attrEntry {
	var out []attrEntry
	for _, m := range reEntry.FindAllStringSubmatch(body, -1) {
		out = append(out, attrEntry{name: m[1], value: m[2], isBlock: m[3] == "true", nesting: m[4], storage: m[5]})
	}
	return out
}

// builder turns one type's parsed JavaScript into a schema block.
type builder struct {
	pkg        *Package
	file       *jsFile
	namespace  string
	dataSource bool
}

const maxDepth = 12

// block builds the body described by entries; iface names the jsii
// interface that says which arguments are optional; cls (may be nil) is the
// class whose getters expose the computed-only attributes.
func (b *builder) block(entries []attrEntry, iface string, cls *jsClass, depth int) (*tfschema.Block, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s nests deeper than %d levels", iface, maxDepth)
	}
	out := &tfschema.Block{Attributes: map[string]*tfschema.Attribute{}, BlockTypes: map[string]*tfschema.NestedBlock{}}
	optional := b.optionalProps(iface)
	for _, e := range entries {
		if e.name == "alias" && cls != nil && cls.extends == baseClass[kindProvider] {
			continue // a meta-argument, not part of the provider's schema
		}
		prop := ""
		if m := reProp.FindStringSubmatch(e.value); m != nil {
			prop = m[1]
		}
		opt, known := optional[prop]
		required := known && !opt
		computed := !required && (b.dataSource || (depth == 0 && (e.name == "id" || e.name == "tags_all")))
		if cls != nil {
			if fl, ok := cls.comments[e.name]; ok && fl.computed {
				computed = true
			}
		}
		structFn := ""
		if m := reStruct.FindStringSubmatch(e.value); m != nil {
			structFn = m[1]
		}
		if structFn == "" {
			t, err := storageType(e.nesting, e.storage)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.name, err)
			}
			out.Attributes[e.name] = &tfschema.Attribute{Type: t, Required: required, Optional: !required, Computed: computed}
			continue
		}
		nestedIface := strings.ToUpper(structFn[:1]) + structFn[1:]
		nested, err := b.block(b.file.structs[structFn], nestedIface, b.file.classes[nestedIface+"OutputReference"], depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		mode := map[string]string{"list": tfschema.NestingList, "set": tfschema.NestingSet, "map": tfschema.NestingMap, "struct": tfschema.NestingSingle}[e.nesting]
		if mode == "" {
			return nil, fmt.Errorf("%s: unknown nesting %q", e.name, e.nesting)
		}
		if !e.isBlock {
			out.Attributes[e.name] = &tfschema.Attribute{
				NestedType: &tfschema.NestedType{Attributes: nested.Attributes, NestingMode: mode},
				Required:   required, Optional: !required, Computed: computed,
			}
			continue
		}
		nb := &tfschema.NestedBlock{NestingMode: mode, Block: nested}
		if mode == tfschema.NestingList && !strings.Contains(e.value, "listMapperHcl") {
			nb.MaxItems = 1 // the generator types a one-item list block as a single struct
		}
		if required && mode != tfschema.NestingSingle {
			nb.MinItems = 1
		}
		out.BlockTypes[e.name] = nb
	}
	if cls == nil {
		return out, nil
	}
	for name, fl := range cls.comments {
		if !fl.computed || fl.optional || fl.required {
			continue
		}
		if _, ok := out.Attributes[name]; ok {
			continue
		}
		t, err := b.getterType(cls, name, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out.Attributes[name] = &tfschema.Attribute{Type: t, Computed: true}
	}
	return out, nil
}

func (b *builder) optionalProps(iface string) map[string]bool {
	t := b.pkg.jsii[b.namespace][iface]
	if t == nil {
		return nil
	}
	out := make(map[string]bool, len(t.Properties))
	for _, p := range t.Properties {
		out[p.Name] = p.Optional
	}
	return out
}

// getterType finds the type of the computed attribute name from the getter
// that reads it.
func (b *builder) getterType(cls *jsClass, name string, depth int) (*tfschema.Type, error) {
	for prop, expr := range cls.getters {
		if m := reGetAttr.FindStringSubmatch(expr); m != nil && m[2] == name {
			return getAttrType(m[1], strings.Contains(expr, "Fn.tolist("))
		}
		if m := reNew.FindStringSubmatch(expr); m != nil && m[2] == name {
			return b.classType(m[1], depth)
		}
		if init, ok := cls.inits[prop]; ok && init.name == name && expr == "this._"+prop {
			return b.classType(init.class, depth)
		}
	}
	return nil, fmt.Errorf("no getter in %s reads it", cls.name)
}

func getAttrType(kind string, set bool) (*tfschema.Type, error) {
	p := tfschema.Primitive
	c := tfschema.Collection
	types := map[string]*tfschema.Type{
		"String": p(tfschema.KindString), "Number": p(tfschema.KindNumber), "Boolean": p(tfschema.KindBool),
		"List": c(tfschema.KindList, p(tfschema.KindString)), "NumberList": c(tfschema.KindList, p(tfschema.KindNumber)),
		"BooleanList": c(tfschema.KindList, p(tfschema.KindBool)),
		"StringMap":   c(tfschema.KindMap, p(tfschema.KindString)), "NumberMap": c(tfschema.KindMap, p(tfschema.KindNumber)),
		"BooleanMap": c(tfschema.KindMap, p(tfschema.KindBool)), "AnyMap": c(tfschema.KindMap, p(tfschema.KindDynamic)),
	}
	t, ok := types[kind]
	if !ok {
		return nil, fmt.Errorf("unknown getter get%sAttribute", kind)
	}
	if set && t.Kind == tfschema.KindList {
		return c(tfschema.KindSet, t.Elem), nil
	}
	return t, nil
}

// classType is the type of a computed attribute held by a generated class:
// a cdktf map class, or a list, map or single reference to an object whose
// getters are its fields.
func (b *builder) classType(class string, depth int) (*tfschema.Type, error) {
	p := tfschema.Primitive
	c := tfschema.Collection
	switch class {
	case "cdktf.StringMap":
		return c(tfschema.KindMap, p(tfschema.KindString)), nil
	case "cdktf.NumberMap":
		return c(tfschema.KindMap, p(tfschema.KindNumber)), nil
	case "cdktf.BooleanMap":
		return c(tfschema.KindMap, p(tfschema.KindBool)), nil
	case "cdktf.AnyMap":
		return c(tfschema.KindMap, p(tfschema.KindDynamic)), nil
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("%s nests deeper than %d levels", class, maxDepth)
	}
	wrap := func(t *tfschema.Type) *tfschema.Type { return t }
	base := strings.TrimSuffix(class, "OutputReference")
	switch {
	case strings.HasSuffix(class, "List"):
		base = strings.TrimSuffix(class, "List")
		wrap = func(t *tfschema.Type) *tfschema.Type { return c(tfschema.KindList, t) }
	case strings.HasSuffix(class, "Map"):
		base = strings.TrimSuffix(class, "Map")
		wrap = func(t *tfschema.Type) *tfschema.Type { return c(tfschema.KindMap, t) }
	}
	ref := b.file.classes[base+"OutputReference"]
	if ref == nil {
		return nil, fmt.Errorf("no class %sOutputReference", base)
	}
	obj := &tfschema.Type{Kind: tfschema.KindObject, Fields: map[string]*tfschema.Type{}}
	for prop, expr := range ref.getters {
		name := ""
		if m := reGetAttr.FindStringSubmatch(expr); m != nil {
			name = m[2]
		} else if m := reNew.FindStringSubmatch(expr); m != nil {
			name = m[2]
		} else if init, ok := ref.inits[prop]; ok {
			name = init.name
		}
		if name == "" || strings.HasSuffix(prop, "Input") {
			continue
		}
		t, err := b.getterType(ref, name, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", class, name, err)
		}
		obj.Fields[name] = t
	}
	return wrap(obj), nil
}

// storageType is the type of a primitive argument from its nesting (the
// outermost collection) and storage class (stringList, stringMapList, ...:
// a primitive followed by collections, innermost first).
func storageType(nesting, storage string) (*tfschema.Type, error) {
	bases := map[string]string{"string": tfschema.KindString, "number": tfschema.KindNumber, "boolean": tfschema.KindBool, "any": tfschema.KindDynamic}
	var t *tfschema.Type
	rest := ""
	for prefix, kind := range bases {
		if strings.HasPrefix(storage, prefix) {
			t, rest = tfschema.Primitive(kind), strings.TrimPrefix(storage, prefix)
		}
	}
	if t == nil {
		return nil, fmt.Errorf("unknown storage class %q", storage)
	}
	var layers []string
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "List"):
			layers, rest = append(layers, tfschema.KindList), rest[4:]
		case strings.HasPrefix(rest, "Map"):
			layers, rest = append(layers, tfschema.KindMap), rest[3:]
		default:
			return nil, fmt.Errorf("unknown storage class %q", storage)
		}
	}
	outer := map[string]string{"list": tfschema.KindList, "set": tfschema.KindSet, "map": tfschema.KindMap}[nesting]
	switch {
	case nesting == "simple" && len(layers) == 0:
	case outer != "" && len(layers) > 0:
		layers[len(layers)-1] = outer // the storage class cannot tell a set from a list
	default:
		return nil, fmt.Errorf("storage class %q does not fit nesting %q", storage, nesting)
	}
	for _, l := range layers {
		t = tfschema.Collection(l, t)
	}
	return t, nil
}
